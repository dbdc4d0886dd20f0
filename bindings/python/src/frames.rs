//! numpy arrays as the core's frames. An array whose pixels are packed is read in place: any row
//! stride (a slice of a bigger frame, padded rows), rows or pixels running backwards (a negative
//! stride: `frame[::-1]`, `frame[:, ::-1]`, handed to the core as a mirrored frame), channels
//! reversed (read as the other channel order). Only a column step (`frame[:, ::2]`), a 4-channel
//! reversal and a backwards YUV plane are gathered into a packed copy. Either way the array is
//! read only during the call.

use std::borrow::Cow;
use std::marker::PhantomData;

use lmbatch::image::{Mirror, MAX_FRAME_SIDE};
use numpy::{
    PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

/// The bytes of one plane: borrowed as they are, or a strided layout to gather into a packed
/// copy (done with the GIL released, like the crop).
pub enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Strided {
        base: ArrayPtr,
        geometry: Geometry,
        reversed: bool,
        _array: PhantomData<&'a [u8]>,
    },
}

/// The data pointer of a numpy array that outlives the `Bytes` holding it.
#[derive(Clone, Copy)]
pub struct ArrayPtr(*const u8);

// SAFETY: the pointer is only read, during the call that borrowed the array (the `'a` of
// `Bytes`), as the C ABI reads a caller's frame from the worker-free calling thread.
unsafe impl Send for ArrayPtr {}
// SAFETY: as above; reads only.
unsafe impl Sync for ArrayPtr {}

impl Bytes<'_> {
    /// The bytes the core reads: the array itself, or its packed copy.
    pub fn read(&self) -> Cow<'_, [u8]> {
        match self {
            Bytes::Borrowed(b) => Cow::Borrowed(b),
            Bytes::Strided {
                base,
                geometry,
                reversed,
                ..
            } => Cow::Owned(gather(*base, geometry, *reversed)),
        }
    }
}

/// Packs a strided array: rows in order, pixels in order, channels in memory order (reversed
/// channels stay reversed and are read as the swapped format, like a direct reversed view).
fn gather(base: ArrayPtr, g: &Geometry, reversed: bool) -> Vec<u8> {
    let row_bytes = g.cols * g.channels;
    let mut packed = Vec::with_capacity(g.rows * row_bytes);
    let [rs, cs, chs] = g.strides;
    let pixels_packed = cs == g.channels as isize && chs == 1;
    for r in 0..g.rows as isize {
        if pixels_packed {
            // SAFETY: row r's bytes are elements of the array (numpy keeps every element of
            // its shape inside valid memory), `row_bytes` of them from its first.
            let row = unsafe { std::slice::from_raw_parts(base.0.offset(r * rs), row_bytes) };
            packed.extend_from_slice(row);
            continue;
        }
        for c in 0..g.cols as isize {
            for k in 0..g.channels as isize {
                let k = if reversed {
                    g.channels as isize - 1 - k
                } else {
                    k
                };
                // SAFETY: (r, c, k) is inside the array's shape, so the element at
                // base + r·rs + c·cs + k·chs is valid memory.
                packed.push(unsafe { *base.0.offset(r * rs + c * cs + k * chs) });
            }
        }
    }
    packed
}

/// One plane: its bytes, row stride (of the bytes the core reads), whether its channel order is
/// reversed (a `[..., ::-1]` view, read as the swapped format), and how its memory mirrors it.
pub struct Plane<'a> {
    pub bytes: Bytes<'a>,
    pub stride: usize,
    pub rows: usize,
    pub cols: usize,
    pub channels: usize,
    pub reversed: bool,
    pub mirror: Mirror,
}

/// The shape and byte strides of an array of bytes, `(rows, cols, channels)` (channels 1 and
/// stride 1 for a 2-D array).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub rows: usize,
    pub cols: usize,
    pub channels: usize,
    pub strides: [isize; 3],
}

/// How the core can read an array: straight from its memory, from the array's lowest address
/// (`offset` bytes from its data pointer) with `stride` bytes per row, mirrored by `mirror`
/// where rows or pixels run backwards; or only from a packed copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Direct {
        offset: isize,
        stride: usize,
        len: usize,
        reversed: bool,
        mirror: Mirror,
    },
    Gather {
        reversed: bool,
    },
}

/// Pure: whether the layout is one the core reads directly. Channels must be adjacent bytes
/// (stride 1, or -1: reversed); anything else in that axis is an error naming it.
pub fn access(g: &Geometry) -> Result<Access, String> {
    let [row, col, chan] = g.strides;
    let reversed = g.channels > 1 && chan == -1;
    if g.channels > 1 && chan != 1 && !reversed {
        return Err(format!(
            "the channel axis is not contiguous (stride {chan} bytes; expected 1): pass np.ascontiguousarray(frame)"
        ));
    }
    let pixel = g.channels as isize;
    let row_bytes = g.cols * g.channels;
    // Reversed channels with 4 per pixel would be ARGB/ABGR, which the core does not read.
    let direct_channels = !reversed || g.channels == 3;
    let packed_pixels = g.cols == 1 || col.abs() == pixel;
    let rows_apart = g.rows == 1 || row.unsigned_abs() >= row_bytes;
    if direct_channels && packed_pixels && rows_apart {
        let stride = if g.rows == 1 {
            row_bytes
        } else {
            row.unsigned_abs()
        };
        // Each axis that runs backwards starts the memory at its far end.
        let lowest = |n: usize, step: isize| (n as isize - 1) * step.min(0);
        return Ok(Access::Direct {
            offset: lowest(g.rows, row) + lowest(g.cols, col) + lowest(g.channels, chan),
            stride,
            len: stride * (g.rows - 1) + row_bytes,
            reversed,
            mirror: Mirror {
                rows: g.rows > 1 && row < 0,
                columns: g.cols > 1 && col < 0,
            },
        });
    }
    Ok(Access::Gather { reversed })
}

/// The array's geometry after checking its dtype (uint8) and dimensions. `what` names the
/// argument in messages; `channels` lists the channel counts a 3-D array may have (empty: 2-D
/// only).
pub fn geometry(
    array: &Bound<'_, PyAny>,
    what: &str,
    channels: &[usize],
) -> Result<Geometry, String> {
    let Ok(untyped) = array.cast::<PyUntypedArray>() else {
        let type_name = array
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".into());
        return Err(format!("{what} must be a numpy.ndarray, got {type_name}"));
    };
    let dtype = untyped.dtype();
    if !dtype.is_equiv_to(&numpy::dtype::<u8>(array.py())) {
        return Err(format!("{what} has dtype {dtype}, expected uint8"));
    }
    let shape = untyped.shape();
    let strides = untyped.strides();
    let geometry = match (shape, strides) {
        ([rows, cols], [r, c]) => Geometry {
            rows: *rows,
            cols: *cols,
            channels: 1,
            strides: [*r, *c, 1],
        },
        ([rows, cols, ch], [r, c, s]) if channels.contains(ch) => Geometry {
            rows: *rows,
            cols: *cols,
            channels: *ch,
            strides: [*r, *c, *s],
        },
        _ => {
            let expected = if channels.is_empty() {
                "(H, W)".to_string()
            } else {
                let list: Vec<String> = channels.iter().map(|c| c.to_string()).collect();
                format!("(H, W) or (H, W, {})", list.join("|"))
            };
            return Err(format!("{what} has shape {shape:?}, expected {expected}"));
        }
    };
    if geometry.rows == 0 || geometry.cols == 0 {
        return Err(format!("{what} is empty (shape {shape:?})"));
    }
    // Before any copy: a broadcast view can claim a huge shape over a few bytes.
    if geometry.rows > MAX_FRAME_SIDE as usize || geometry.cols > MAX_FRAME_SIDE as usize {
        return Err(format!(
            "{what} has shape {shape:?}, more than {MAX_FRAME_SIDE} pixels a side"
        ));
    }
    Ok(geometry)
}

/// The plane of a checked array: borrowed when the core can read it in place, else packed.
/// `mirrored_ok`: whether the caller reads a mirrored plane (packed frames); a YUV plane that
/// runs backwards is packed instead.
///
/// The returned bytes borrow the array's memory; `array` must stay alive (and unmodified by the
/// caller's other threads, as for the C ABI's frames) while they are used.
pub fn plane<'a>(
    array: &'a Bound<'_, PyAny>,
    g: &Geometry,
    mirrored_ok: bool,
) -> Result<Plane<'a>, String> {
    let access = match access(g)? {
        Access::Direct {
            mirror, reversed, ..
        } if !mirrored_ok && !mirror.is_none() => Access::Gather { reversed },
        a => a,
    };
    let typed = array
        .cast::<PyArrayDyn<u8>>()
        .map_err(|_| "not a uint8 array".to_string())?;
    let base = typed.data() as *const u8;
    let (bytes, stride, reversed, mirror) = match access {
        Access::Direct {
            offset,
            stride,
            len,
            reversed,
            mirror,
        } => {
            // SAFETY: numpy guarantees that every element of the array addresses valid memory
            // that lives as long as the array object; `offset .. offset + len` covers exactly
            // the bytes from the element at the lowest address (the far end of each axis that
            // runs backwards) to the one at the highest, all of which are the array's.
            let slice = unsafe { std::slice::from_raw_parts(base.offset(offset), len) };
            (Bytes::Borrowed(slice), stride, reversed, mirror)
        }
        Access::Gather { reversed } => (
            Bytes::Strided {
                base: ArrayPtr(base),
                geometry: *g,
                reversed,
                _array: PhantomData,
            },
            g.cols * g.channels,
            reversed,
            Mirror::NONE,
        ),
    };
    Ok(Plane {
        bytes,
        stride,
        rows: g.rows,
        cols: g.cols,
        channels: g.channels,
        reversed,
        mirror,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(rows: usize, cols: usize, channels: usize, strides: [isize; 3]) -> Geometry {
        Geometry {
            rows,
            cols,
            channels,
            strides,
        }
    }

    fn direct(offset: isize, stride: usize, len: usize, reversed: bool, mirror: Mirror) -> Access {
        Access::Direct {
            offset,
            stride,
            len,
            reversed,
            mirror,
        }
    }

    const ROWS: Mirror = Mirror {
        rows: true,
        columns: false,
    };
    const COLUMNS: Mirror = Mirror {
        rows: false,
        columns: true,
    };

    #[test]
    fn packed_rows_are_read_in_place() {
        assert_eq!(
            access(&g(4, 5, 3, [15, 3, 1])),
            Ok(direct(0, 15, 60, false, Mirror::NONE))
        );
        // A slice of a wider frame: the row stride is the parent's.
        assert_eq!(
            access(&g(4, 5, 3, [300, 3, 1])),
            Ok(direct(0, 300, 915, false, Mirror::NONE))
        );
        // BGR read as RGB: the view starts at the pixel's last byte.
        assert_eq!(
            access(&g(2, 2, 3, [6, 3, -1])),
            Ok(direct(-2, 6, 12, true, Mirror::NONE))
        );
    }

    #[test]
    fn backward_rows_and_pixels_are_read_in_place_as_a_mirrored_frame() {
        // frame[::-1]: the memory starts at the view's last row.
        assert_eq!(
            access(&g(4, 5, 3, [-15, 3, 1])),
            Ok(direct(-45, 15, 60, false, ROWS))
        );
        // frame[:, ::-1]: each row's memory starts at the view's last pixel.
        assert_eq!(
            access(&g(4, 5, 3, [15, -3, 1])),
            Ok(direct(-12, 15, 60, false, COLUMNS))
        );
        // frame[::-1, ::-1, ::-1] of a slice of a wider frame: both mirrors, channels swapped.
        assert_eq!(
            access(&g(4, 5, 3, [-300, -3, -1])),
            Ok(direct(
                -900 - 12 - 2,
                300,
                915,
                true,
                Mirror {
                    rows: true,
                    columns: true
                }
            ))
        );
        // One row or one column runs nowhere: no mirror.
        assert_eq!(
            access(&g(1, 5, 3, [-15, 3, 1])),
            Ok(direct(0, 15, 15, false, Mirror::NONE))
        );
    }

    #[test]
    fn other_layouts_are_gathered_or_refused() {
        assert_eq!(
            access(&g(4, 5, 1, [10, 2, 1])),
            Ok(Access::Gather { reversed: false })
        );
        assert_eq!(
            access(&g(4, 5, 4, [20, 4, -1])),
            Ok(Access::Gather { reversed: true })
        );
        // Rows that overlap are not a frame the core reads.
        assert_eq!(
            access(&g(4, 5, 3, [-10, 3, 1])),
            Ok(Access::Gather { reversed: false })
        );
        assert!(access(&g(4, 5, 3, [30, 6, 2]))
            .unwrap_err()
            .contains("channel axis"));
    }
}

//! Reading a fuzz input as fields, shared by the targets.

/// The next `N` bytes of `data` (zeros past its end), consumed.
pub fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = N.min(data.len());
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

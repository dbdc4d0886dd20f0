//! The horizontal pass of the separable (upright) crops: one source row sampled at the output
//! columns' taps. Both the packed and the 8-bit YUV paths spend most of a large box's time here
//! (two fresh source rows per output row once the crop is a few times the output), so the taps
//! are laid out once per crop as flat tables and the blend runs four lanes at a time.

/// The taps of one output row, one element per output value: the byte offsets of its two source
/// samples in the row and their weights. Built once per crop and reused for every row.
#[derive(Debug, Default)]
pub(crate) struct RowTaps {
    lo: Vec<usize>,
    hi: Vec<usize>,
    /// The two weights as an i16 pair, low one first (one `pmaddwd` operand).
    weights: Vec<u32>,
    /// One past the largest offset: every row handed to [`RowTaps::interpolate`] is this long.
    span: usize,
}

impl RowTaps {
    pub(crate) fn clear(&mut self) {
        self.lo.clear();
        self.hi.clear();
        self.weights.clear();
        self.span = 0;
    }

    /// Appends an element: `row[lo]·w_lo + row[hi]·w_hi`. The weights must fit an i16.
    pub(crate) fn push(&mut self, lo: usize, hi: usize, w_lo: u16, w_hi: u16) {
        debug_assert!(w_lo <= i16::MAX as u16 && w_hi <= i16::MAX as u16);
        self.lo.push(lo);
        self.hi.push(hi);
        self.weights.push(u32::from(w_lo) | u32::from(w_hi) << 16);
        self.span = self.span.max(lo + 1).max(hi + 1);
    }

    pub(crate) fn len(&self) -> usize {
        self.weights.len()
    }

    /// `out[e] = (row[lo_e]·w_lo + row[hi_e]·w_hi + 2^(SHIFT−1)) >> SHIFT` for every element
    /// (`out` holds [`len`](Self::len) values; the sums are exact in 32 bits and the results
    /// must fit an i16, as they do for 8-bit samples with weights summing to at most 2^SHIFT).
    pub(crate) fn interpolate<const SHIFT: u32>(&self, row: &[u8], out: &mut [u16]) {
        let n = self.len().min(out.len());
        #[cfg(target_arch = "x86_64")]
        let done = if self.span <= row.len() {
            // SAFETY: every offset is below `span`, which is at most `row.len()`.
            unsafe { self.interpolate_sse2::<SHIFT>(row, &mut out[..n]) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        self.interpolate_scalar::<SHIFT>(row, done..n, out);
    }

    /// The definition, one element at a time (bounds-checked).
    fn interpolate_scalar<const SHIFT: u32>(
        &self,
        row: &[u8],
        range: std::ops::Range<usize>,
        out: &mut [u16],
    ) {
        for e in range {
            let (w_lo, w_hi) = (self.weights[e] & 0xFFFF, self.weights[e] >> 16);
            let sum = u32::from(row[self.lo[e]]) * w_lo + u32::from(row[self.hi[e]]) * w_hi;
            out[e] = ((sum + (1 << (SHIFT - 1))) >> SHIFT) as u16;
        }
    }

    /// Eight elements at a time: their sample pairs gathered through general registers (no stack
    /// round trip), blended with `pmaddwd`, rounded, shifted and packed into eight u16. Returns
    /// how many elements it did (a multiple of 8).
    ///
    /// # Safety
    /// `self.span <= row.len()`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn interpolate_sse2<const SHIFT: u32>(&self, row: &[u8], out: &mut [u16]) -> usize {
        use std::arch::x86_64::*;
        let n = out.len().min(self.len()) / 8 * 8;
        let (lo, hi, weights) = (&self.lo[..n], &self.hi[..n], &self.weights[..n]);
        let base = row.as_ptr();
        // SAFETY: SSE2 is part of x86-64. Every offset is below `span` <= row.len() (the
        // caller's promise), so each byte read is inside `row`; the tables and `out` hold at
        // least n elements, and each vector load and store covers 4 or 8 of them at k < n.
        unsafe {
            let round = _mm_set1_epi32(1 << (SHIFT - 1));
            let shift = _mm_cvtsi32_si128(SHIFT as i32);
            let chunks = lo
                .as_chunks::<8>()
                .0
                .iter()
                .zip(hi.as_chunks::<8>().0)
                .zip(weights.as_chunks::<8>().0)
                .zip(out.as_chunks_mut::<8>().0);
            for (((lo, hi), weights), out) in chunks {
                let blend = |samples: __m128i, w: *const u32| {
                    let sums = _mm_madd_epi16(samples, _mm_loadu_si128(w.cast()));
                    _mm_sra_epi32(_mm_add_epi32(sums, round), shift)
                };
                let first = blend(sample_pairs::<0>(base, lo, hi), weights.as_ptr());
                let second = blend(sample_pairs::<4>(base, lo, hi), weights.as_ptr().add(4));
                _mm_storeu_si128(out.as_mut_ptr().cast(), _mm_packs_epi32(first, second));
            }
        }
        n
    }
}

/// The (low, high) sample pairs of elements `AT..AT + 4` of a chunk as eight i16 lanes, gathered
/// in general registers (two elements per 64-bit half) rather than through the stack.
///
/// # Safety
/// Every offset in `lo` and `hi` is inside the row that starts at `base`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sample_pairs<const AT: usize>(
    base: *const u8,
    lo: &[usize; 8],
    hi: &[usize; 8],
) -> std::arch::x86_64::__m128i {
    // SAFETY: the caller's promise: each offset is inside the row.
    let sample = |o: usize| i64::from(unsafe { *base.add(o) });
    let two = |e: usize| {
        sample(lo[e]) | sample(hi[e]) << 16 | sample(lo[e + 1]) << 32 | sample(hi[e + 1]) << 48
    };
    // SAFETY: SSE2 is part of x86-64.
    unsafe { std::arch::x86_64::_mm_set_epi64x(two(AT + 2), two(AT)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::test_util::XorShift;

    /// Both forms over the same row and taps, with guard values past the end.
    fn both<const SHIFT: u32>(taps: &RowTaps, row: &[u8]) -> (Vec<u16>, Vec<u16>) {
        let len = taps.len();
        let (mut fast, mut slow) = (vec![0xEEEEu16; len + 3], vec![0xEEEEu16; len + 3]);
        taps.interpolate::<SHIFT>(row, &mut fast[..len]);
        taps.interpolate_scalar::<SHIFT>(row, 0..len, &mut slow[..len]);
        (fast, slow)
    }

    #[test]
    fn the_vector_pass_equals_the_definition() {
        let mut rng = XorShift(0x0123_4567_89ab_cdefu64);
        let mut next = |m: u64| rng.below(m);
        let row: Vec<u8> = (0..997).map(|_| next(256) as u8).collect();
        // The packed path's 7-bit weights, the YUV path's 12-bit weights into 8.7 (shift 5) and
        // into whole levels (shift 12).
        for (one, shift) in [(128u16, 7u32), (4096, 5), (4096, 12)] {
            for len in [0usize, 1, 7, 8, 9, 64, 203, 576] {
                let mut taps = RowTaps::default();
                for _ in 0..len {
                    let lo = next(row.len() as u64) as usize;
                    let hi = (lo + 1).min(row.len() - 1);
                    let w = next(u64::from(one) + 1) as u16;
                    taps.push(lo, hi, one - w, w);
                }
                // The extremes: full weight on either tap.
                if len >= 2 {
                    taps.weights[0] = u32::from(one);
                    taps.weights[1] = u32::from(one) << 16;
                }
                let (fast, slow) = match shift {
                    7 => both::<7>(&taps, &row),
                    5 => both::<5>(&taps, &row),
                    _ => both::<12>(&taps, &row),
                };
                assert_eq!(
                    fast, slow,
                    "weights of {one}, shift {shift}, {len} elements"
                );
                assert!(fast[len..].iter().all(|&v| v == 0xEEEE), "past the end");
                if len >= 2 {
                    let level = |o: usize| (u32::from(row[o]) * u32::from(one)) >> shift;
                    assert_eq!(u32::from(fast[0]), level(taps.lo[0]), "all on the low tap");
                    assert_eq!(u32::from(fast[1]), level(taps.hi[1]), "all on the high tap");
                }
            }
        }
    }

    #[test]
    fn a_row_shorter_than_the_taps_takes_the_checked_path() {
        let mut taps = RowTaps::default();
        for e in 0..16 {
            taps.push(e, e + 1, 64, 64);
        }
        let row: Vec<u8> = (0..17).map(|v| v * 10).collect();
        let mut out = vec![0u16; 16];
        taps.interpolate::<7>(&row, &mut out);
        let want: Vec<u16> = (0..16).map(|e| e * 10 + 5).collect();
        assert_eq!(out, want);
        let short = &row[..16];
        let result = std::panic::catch_unwind(|| {
            let mut out = vec![0u16; 16];
            taps.interpolate::<7>(short, &mut out);
        });
        assert!(
            result.is_err(),
            "an offset past the row is caught by the bounds check"
        );
    }
}

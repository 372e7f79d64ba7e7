//! Seeds and random streams.
//!
//! Every random draw in qnet-exp comes from a stream whose seed is a pure function of
//! the sweep's master seed and named parameters, never of scheduling order or thread
//! count. Rounding noise uses a counter-based generator: draw `i` of stream `key` is
//! `mix64(key + (i + 1) * GOLDEN)` (SplitMix64 evaluated at position `i`), so any element
//! can be drawn independently, in any order, on any thread, with the same result.

use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// SplitMix64 increment (2^64 / golden ratio).
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finalizer: a bijective 64-bit mixer with full avalanche.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Draw number `i` of the counter-based stream `key`.
#[inline(always)]
pub fn draw(key: u64, i: u64) -> u64 {
    mix64(key.wrapping_add(i.wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// A stable 64-bit hash of a string (FNV-1a, then mixed). Stable across platforms and
/// versions of Rust, unlike `std::hash`.
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix64(h)
}

/// Derive a child seed from a parent seed and a label.
pub fn derive(parent: u64, label: &str) -> u64 {
    mix64(parent ^ hash_str(label))
}

/// A fast seeded sequential generator for data generation, initialisation and
/// minibatch order.
pub fn seeded(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// Uniform integer in `0..n` from a 64-bit word (Lemire's multiply-shift; the bias is
/// below n / 2^64, far below anything a sweep can detect).
#[inline]
pub fn below(bits: u64, n: usize) -> usize {
    ((bits as u128 * n as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_reproducible_and_distinct() {
        assert_eq!(draw(7, 3), draw(7, 3));
        assert_ne!(draw(7, 3), draw(7, 4));
        assert_ne!(draw(7, 3), draw(8, 3));
        assert_ne!(derive(1, "data"), derive(1, "init"));
        assert_eq!(hash_str("abc"), hash_str("abc"));
    }

    #[test]
    fn counter_stream_is_uniform() {
        // Chi-square over 16 bins of 160k draws; 99.9% quantile of chi2(15) is 37.7.
        let n = 160_000u64;
        let mut bins = [0u64; 16];
        for i in 0..n {
            bins[(draw(12345, i) >> 60) as usize] += 1;
        }
        let e = n as f64 / 16.0;
        let chi2: f64 = bins.iter().map(|&c| (c as f64 - e).powi(2) / e).sum();
        assert!(chi2 < 37.7, "chi2 = {chi2}");
    }

    #[test]
    fn below_stays_in_range() {
        for i in 0..1000 {
            assert!(below(draw(1, i), 7) < 7);
        }
        assert_eq!(below(u64::MAX, 10), 9);
        assert_eq!(below(0, 10), 0);
    }
}

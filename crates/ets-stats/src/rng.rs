//! A small seeded PRNG for the bootstrap: xoshiro256** (Blackman & Vigna, 2018) seeded by
//! SplitMix64, so a seed gives the same resamples on every platform and every build, with no
//! dependency whose stream might change between versions.

/// xoshiro256** generator.
#[derive(Debug, Clone)]
pub struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// Seeds the state with four SplitMix64 outputs of `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Self {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform index in 0..n (n > 0), without modulo bias (Lemire's multiply-and-reject).
    pub fn below(&mut self, n: u64) -> u64 {
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            #[allow(clippy::cast_possible_truncation)] // the low 64 bits by design
            let low = m as u64;
            if low >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut r = Xoshiro256::new(7);
        let mut seen = [0_u32; 5];
        for _ in 0..5000 {
            let i = r.below(5);
            seen[usize::try_from(i).unwrap()] += 1;
        }
        // Each bucket expects 1000; 5 sd ≈ 140.
        assert!(seen.iter().all(|&c| (860..1140).contains(&c)), "{seen:?}");
        assert_ne!(Xoshiro256::new(1).next_u64(), Xoshiro256::new(2).next_u64());
    }
}

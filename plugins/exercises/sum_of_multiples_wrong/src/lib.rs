//! Deliberately wrong solution for the `sum-of-multiples` exercise.
//!
//! Bug: sums the multiples of each factor separately, so a number that is a
//! multiple of two factors is counted twice. Fails the cases where factors
//! share a multiple below the limit:
//! - f47e8209 [3, 5] < 100, 28c4b267 [3, 5] < 1000, 2d0d5faa [4, 6] < 15,
//!   ece8f2e8 [5, 6, 8] < 150, 624fdade [5, 25] < 51,
//!   949ee7eb [43, 47] < 10000, 17053ba9 [2, 3, 5, 7, 11] < 10000
//!
//! The other nine cases pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/sum-of-multiples/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn sum(factors: Vec<u32>, limit: u32) -> u64 {
        let mut total = 0u64;
        for f in factors {
            if f == 0 {
                continue;
            }
            let mut m = f;
            while m < limit {
                total += u64::from(m);
                m += f;
            }
        }
        total
    }
}

export!(Solution);

//! Reference solution for the `sum-of-multiples` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/sum-of-multiples/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn sum(factors: Vec<u32>, limit: u32) -> u64 {
        (1..limit)
            .filter(|n| factors.iter().any(|&f| f != 0 && n % f == 0))
            .map(u64::from)
            .sum()
    }
}

export!(Solution);

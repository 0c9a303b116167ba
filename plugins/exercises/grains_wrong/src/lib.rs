//! Deliberately wrong solution for the `grains` exercise.
//!
//! Bug: the range check is off by one at the bottom (`0..=64` instead of
//! `1..=64`), so square 0 is accepted and answered with 0 grains instead
//! of the error. Fails exactly one case:
//! - 1d47d832 "square 0 is invalid"
//!
//! The other ten cases (squares 1..64, -1, 65 and total) pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/grains/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn square(square: i32) -> Result<u64, String> {
        if !(0..=64).contains(&square) {
            return Err("square must be between 1 and 64".to_string());
        }
        Ok(1u64.checked_shl((square - 1) as u32).unwrap_or(0))
    }

    fn total() -> u64 {
        (1..=64).map(|s| Self::square(s).unwrap_or(0)).sum()
    }
}

export!(Solution);

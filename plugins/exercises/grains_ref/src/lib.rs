//! Reference solution for the `grains` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/grains/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn square(square: i32) -> Result<u64, String> {
        if !(1..=64).contains(&square) {
            return Err("square must be between 1 and 64".to_string());
        }
        Ok(1u64 << (square - 1))
    }

    fn total() -> u64 {
        u64::MAX
    }
}

export!(Solution);

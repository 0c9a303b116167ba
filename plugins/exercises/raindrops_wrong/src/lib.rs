//! Deliberately wrong solution for the `raindrops` exercise.
//!
//! Bug: an `else if` chain, so only the first matching sound is produced.
//! Fails the four cases with more than one factor:
//! - 31f92999 (15), ff9bb95d (21), bdf061de (35), e46677ed (105)
//!
//! The other fourteen cases pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/raindrops/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn convert(number: u32) -> String {
        if number.is_multiple_of(3) {
            "Pling".to_string()
        } else if number.is_multiple_of(5) {
            "Plang".to_string()
        } else if number.is_multiple_of(7) {
            "Plong".to_string()
        } else {
            number.to_string()
        }
    }
}

export!(Solution);

//! Deliberately wrong solution for the `isogram` exercise.
//!
//! Bug: compares letters case-sensitively, so 'A' and 'a' count as different
//! letters. Fails the two mixed-case duplicate cases:
//! - f1a7f6c7 "Alphabet"
//! - 14a4f3c1 "alphAbet"
//!
//! The other twelve cases pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/isogram/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn is_isogram(phrase: String) -> bool {
        let mut seen = Vec::new();
        for c in phrase.chars().filter(|c| c.is_alphabetic()) {
            if seen.contains(&c) {
                return false;
            }
            seen.push(c);
        }
        true
    }
}

export!(Solution);

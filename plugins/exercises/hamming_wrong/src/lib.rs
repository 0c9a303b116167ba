//! Deliberately wrong solution for the `hamming` exercise.
//!
//! Bug: never checks the lengths; `zip` silently stops at the shorter strand,
//! so unequal strands get a distance instead of the error. Fails the four
//! error cases in force:
//! - b9228bb1 (AATG / AAA), dab38838 (ATA / AGTG),
//!   b764d47c ("" / G), 9ab9262f (G / "")
//!
//! The five equal-length cases pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/hamming/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn distance(strand1: String, strand2: String) -> Result<u32, String> {
        Ok(strand1
            .chars()
            .zip(strand2.chars())
            .filter(|(a, b)| a != b)
            .count() as u32)
    }
}

export!(Solution);

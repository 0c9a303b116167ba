//! Reference solution for the `hamming` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/hamming/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn distance(strand1: String, strand2: String) -> Result<u32, String> {
        if strand1.chars().count() != strand2.chars().count() {
            return Err("strands must be of equal length".to_string());
        }
        Ok(strand1
            .chars()
            .zip(strand2.chars())
            .filter(|(a, b)| a != b)
            .count() as u32)
    }
}

export!(Solution);

//! Reference solution for the `pangram` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/pangram/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn is_pangram(sentence: String) -> bool {
        let lower = sentence.to_ascii_lowercase();
        ('a'..='z').all(|c| lower.contains(c))
    }
}

export!(Solution);

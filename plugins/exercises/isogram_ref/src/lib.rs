//! Reference solution for the `isogram` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/isogram/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn is_isogram(phrase: String) -> bool {
        let mut seen = Vec::new();
        for c in phrase
            .chars()
            .filter(|c| c.is_alphabetic())
            .flat_map(char::to_lowercase)
        {
            if seen.contains(&c) {
                return false;
            }
            seen.push(c);
        }
        true
    }
}

export!(Solution);

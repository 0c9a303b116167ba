//! Reference solution for the `acronym` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/acronym/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn abbreviate(phrase: String) -> String {
        phrase
            .split(|c: char| c.is_whitespace() || c == '-')
            .filter_map(|word| word.chars().find(|c| c.is_alphabetic()))
            .flat_map(char::to_uppercase)
            .collect()
    }
}

export!(Solution);

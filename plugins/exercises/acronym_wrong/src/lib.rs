//! Deliberately wrong solution for the `acronym` exercise.
//!
//! Bug: splits words on whitespace only, forgetting that a hyphen also
//! separates words. Fails exactly one case:
//! - ae2ac9fa "Complementary metal-oxide semiconductor" -> "CMS" instead of "CMOS".
//!
//! The other hyphen case ("Something - I made up ...") still passes, because
//! there the hyphen stands alone between spaces and holds no letter.
wit_bindgen::generate!({
    path: "../../../examples/exercises/acronym/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn abbreviate(phrase: String) -> String {
        phrase
            .split_whitespace()
            .filter_map(|word| word.chars().find(|c| c.is_alphabetic()))
            .flat_map(char::to_uppercase)
            .collect()
    }
}

export!(Solution);

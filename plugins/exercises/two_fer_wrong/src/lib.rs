//! Deliberately wrong solution for the `two-fer` exercise.
//!
//! Bug: uses an empty name when none is given instead of "you". Fails:
//! - 1cf3e15a "no name given" -> "One for , one for me."
//!
//! The two cases with a name pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/two-fer/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn two_fer(name: Option<String>) -> String {
        format!("One for {}, one for me.", name.unwrap_or_default())
    }
}

export!(Solution);

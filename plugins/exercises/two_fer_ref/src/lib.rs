//! Reference solution for the `two-fer` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/two-fer/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn two_fer(name: Option<String>) -> String {
        format!("One for {}, one for me.", name.as_deref().unwrap_or("you"))
    }
}

export!(Solution);

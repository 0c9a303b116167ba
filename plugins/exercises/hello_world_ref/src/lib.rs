//! Reference solution for the `hello-world` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/hello-world/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn hello() -> String {
        "Hello, World!".to_string()
    }
}

export!(Solution);

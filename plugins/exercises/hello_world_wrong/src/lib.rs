//! Deliberately wrong solution for the `hello-world` exercise.
//!
//! Bug: forgets the comma ("Hello World!"). The exercise has a single case,
//! so this fails all of it:
//! - af9ffe10 "Say Hi!"
wit_bindgen::generate!({
    path: "../../../examples/exercises/hello-world/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn hello() -> String {
        "Hello World!".to_string()
    }
}

export!(Solution);

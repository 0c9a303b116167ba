//! Reference solution for the `raindrops` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/raindrops/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn convert(number: u32) -> String {
        let mut out = String::new();
        for (factor, sound) in [(3, "Pling"), (5, "Plang"), (7, "Plong")] {
            if number.is_multiple_of(factor) {
                out.push_str(sound);
            }
        }
        if out.is_empty() {
            out = number.to_string();
        }
        out
    }
}

export!(Solution);

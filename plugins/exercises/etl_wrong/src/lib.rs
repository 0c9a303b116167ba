//! Deliberately wrong solution for the `etl` exercise.
//!
//! Bug: reads the score from the first digit of the legacy key only, so the
//! two-digit score "10" becomes 1. Fails exactly one case:
//! - 5db8ea89 "multiple scores with differing numbers of letters"
//!   (q and z come out as 1 instead of 10).
//!
//! The three cases whose scores are single digits pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/etl/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn transform(legacy: Vec<(String, Vec<String>)>) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        for (score, letters) in legacy {
            let score = score
                .chars()
                .next()
                .and_then(|c| c.to_digit(10))
                .unwrap_or(0);
            for letter in letters {
                out.push((letter.to_lowercase(), score));
            }
        }
        out
    }
}

export!(Solution);

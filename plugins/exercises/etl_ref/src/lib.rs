//! Reference solution for the `etl` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/etl/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn transform(legacy: Vec<(String, Vec<String>)>) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        for (score, letters) in legacy {
            // The legacy keys are decimal strings ("1", "10"); the test data
            // only holds valid ones.
            let score: u32 = score.trim().parse().unwrap_or(0);
            for letter in letters {
                out.push((letter.to_lowercase(), score));
            }
        }
        out.sort();
        out
    }
}

export!(Solution);

//! Reference solution for the `word-count` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/word-count/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn count_words(sentence: String) -> Vec<(String, u32)> {
        let mut counts: Vec<(String, u32)> = Vec::new();
        let words = sentence
            .split(|c: char| !(c.is_alphanumeric() || c == '\''))
            .map(|w| w.trim_matches('\''))
            .filter(|w| !w.is_empty());
        for word in words {
            let word = word.to_lowercase();
            match counts.iter_mut().find(|(w, _)| *w == word) {
                Some((_, n)) => *n += 1,
                None => counts.push((word, 1)),
            }
        }
        counts
    }
}

export!(Solution);

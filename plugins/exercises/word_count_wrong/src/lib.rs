//! Deliberately wrong solution for the `word-count` exercise.
//!
//! Bug: treats the apostrophe as a separator like any other punctuation, so
//! contractions fall apart ("don't" -> "don" + "t"). Fails the four cases with
//! contractions:
//! - 4ff6c7d7 "'First: don't laugh. Then: don't cry. You're getting it.'"
//! - be72af2b "Joe can't tell between 'large' and large."
//! - 8d6815fe "Joe can't tell between app, apple and a."
//! - 6d00f1db "can, can't, 'can't'"
//!
//! The other ten cases in force pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/word-count/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn count_words(sentence: String) -> Vec<(String, u32)> {
        let mut counts: Vec<(String, u32)> = Vec::new();
        for word in sentence
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
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

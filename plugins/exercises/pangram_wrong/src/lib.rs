//! Deliberately wrong solution for the `pangram` exercise.
//!
//! Bug: only counts lower-case letters, so a letter that appears only in
//! upper case is missed. Fails exactly one case:
//! - 938bd5d8 "\"Five quacking Zephyrs jolt my wax bed.\"" (F and Z only
//!   appear in upper case).
//!
//! The other nine cases in force pass (including 7138e389 "abcdefghijklm
//! ABCDEFGHIJKLM", which is not a pangram either way).
wit_bindgen::generate!({
    path: "../../../examples/exercises/pangram/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn is_pangram(sentence: String) -> bool {
        ('a'..='z').all(|c| sentence.contains(c))
    }
}

export!(Solution);

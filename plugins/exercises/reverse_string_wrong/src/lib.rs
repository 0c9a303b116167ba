//! Deliberately wrong solution for the `reverse-string` exercise.
//!
//! Bug: reverses Unicode scalar values (`chars()`) rather than grapheme
//! clusters, so combining marks end up on the wrong base character. Fails:
//! - 93d7e1b8 "Würstchenstand" (the ü is u + U+0308 COMBINING DIAERESIS)
//! - 1028b2c1 "ผู้เขียนโปรแกรม" (Thai vowel and tone marks)
//!
//! The other seven cases, including the CJK one (子猫), pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/reverse-string/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn reverse(value: String) -> String {
        value.chars().rev().collect()
    }
}

export!(Solution);

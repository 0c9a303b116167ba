//! Deliberately wrong solution for the `leap` exercise.
//!
//! Bug: forgets the "divisible by 400" exception to the century rule. Fails:
//! - 42ee56ad year 2000
//! - 57902c77 year 2400
//!
//! The other seven cases pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/leap/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn leap_year(year: u32) -> bool {
        year.is_multiple_of(4) && !year.is_multiple_of(100)
    }
}

export!(Solution);

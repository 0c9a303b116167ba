//! Bad submission for the `leap` exercise: panics.
//!
//! Every case should end with an error verdict (a trap); the panic message
//! goes to stderr, which the grader may show to the student.
wit_bindgen::generate!({
    path: "../../../examples/exercises/leap/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn leap_year(year: u32) -> bool {
        panic!("leap_trap: deliberately refusing to decide whether {year} is a leap year");
    }
}

export!(Solution);

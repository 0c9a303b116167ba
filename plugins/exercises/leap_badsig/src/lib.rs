//! Bad submission for the `leap` exercise: wrong signature.
//!
//! Compiled against its own `wit/exercise.wit`, which declares
//! `leap-year: func(year: string) -> bool` instead of `func(year: u32) -> bool`.
//! The export exists under the right name, so every case should end with an
//! error verdict (type mismatch: the JSON number 2015 cannot become a string).
wit_bindgen::generate!({
    path: "wit/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn leap_year(year: String) -> bool {
        let year: u32 = year.trim().parse().unwrap_or(0);
        year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
    }
}

export!(Solution);

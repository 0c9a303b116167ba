//! Deliberately wrong solution for the `difference-of-squares` exercise.
//!
//! Bug: off-by-one in `sum-of-squares`, which iterates `1..number` instead of
//! `1..=number`. Fails the six cases that depend on it:
//! - sumOfSquares: 01d84507 (1), c93900cd (5), 94807386 (100)
//! - differenceOfSquares: 44f72ae6 (1), 005cb2bf (5), b1bf19de (100)
//!
//! The three squareOfSum cases pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/difference-of-squares/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn square_of_sum(number: u32) -> u64 {
        let sum: u64 = (1..=u64::from(number)).sum();
        sum * sum
    }

    fn sum_of_squares(number: u32) -> u64 {
        (1..u64::from(number)).map(|i| i * i).sum()
    }

    fn difference_of_squares(number: u32) -> u64 {
        Self::square_of_sum(number) - Self::sum_of_squares(number)
    }
}

export!(Solution);

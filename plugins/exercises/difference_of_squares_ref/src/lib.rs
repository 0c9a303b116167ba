//! Reference solution for the `difference-of-squares` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/difference-of-squares/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn square_of_sum(number: u32) -> u64 {
        let n = u64::from(number);
        let sum = n * (n + 1) / 2;
        sum * sum
    }

    fn sum_of_squares(number: u32) -> u64 {
        let n = u64::from(number);
        n * (n + 1) * (2 * n + 1) / 6
    }

    fn difference_of_squares(number: u32) -> u64 {
        Self::square_of_sum(number) - Self::sum_of_squares(number)
    }
}

export!(Solution);

//! Deliberately wrong solution for the `collatz-conjecture` exercise.
//!
//! Bug: uses the old error message "Only positive numbers are allowed", which
//! the canonical data has since replaced (`reimplements`) by "Only positive
//! integers are allowed". Fails the two error cases that remain in force:
//! - 2187673d (number 0)
//! - ec11f479 (number -15)
//!
//! The four step-counting cases pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/collatz-conjecture/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn steps(number: i64) -> Result<u64, String> {
        if number < 1 {
            return Err("Only positive numbers are allowed".to_string());
        }
        let mut n = number as u64;
        let mut steps = 0;
        while n != 1 {
            n = if n.is_multiple_of(2) {
                n / 2
            } else {
                3 * n + 1
            };
            steps += 1;
        }
        Ok(steps)
    }
}

export!(Solution);

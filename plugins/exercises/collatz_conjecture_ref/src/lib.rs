//! Reference solution for the `collatz-conjecture` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/collatz-conjecture/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn steps(number: i64) -> Result<u64, String> {
        if number < 1 {
            return Err("Only positive integers are allowed".to_string());
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

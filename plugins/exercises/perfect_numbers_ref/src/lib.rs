//! Reference solution for the `perfect-numbers` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/perfect-numbers/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn classify(number: i64) -> Result<Classification, String> {
        if number < 1 {
            return Err("Classification is only possible for positive integers.".to_string());
        }
        let n = number as u64;
        // Sum of the proper divisors (all divisors except n itself).
        let mut sum = 0u64;
        let mut i = 1u64;
        while i * i <= n {
            if n.is_multiple_of(i) {
                sum += i;
                let j = n / i;
                if j != i {
                    sum += j;
                }
            }
            i += 1;
        }
        sum -= n;
        Ok(match sum.cmp(&n) {
            std::cmp::Ordering::Equal => Classification::Perfect,
            std::cmp::Ordering::Greater => Classification::Abundant,
            std::cmp::Ordering::Less => Classification::Deficient,
        })
    }
}

export!(Solution);

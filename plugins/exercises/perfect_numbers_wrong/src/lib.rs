//! Deliberately wrong solution for the `perfect-numbers` exercise.
//!
//! Bug: starts the aliquot sum at 1 ("1 divides everything") without
//! excluding the number itself when it *is* 1, so 1 comes out perfect.
//! Fails exactly one case:
//! - a696dec8 "Edge case (no factors other than itself) is classified correctly" (1)
//!
//! The other thirteen cases pass.
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
        let mut sum = 1u64;
        let mut i = 2u64;
        while i * i <= n {
            if n.is_multiple_of(i) {
                sum += i;
                if n / i != i {
                    sum += n / i;
                }
            }
            i += 1;
        }
        Ok(match sum.cmp(&n) {
            std::cmp::Ordering::Equal => Classification::Perfect,
            std::cmp::Ordering::Greater => Classification::Abundant,
            std::cmp::Ordering::Less => Classification::Deficient,
        })
    }
}

export!(Solution);

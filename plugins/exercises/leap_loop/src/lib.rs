//! Bad submission for the `leap` exercise: never returns.
//!
//! Every case should end with a fuel-exhausted (or timeout) verdict; none
//! should pass. The loop keeps a live counter behind `black_box` so the
//! optimiser cannot turn it into anything cheaper.
wit_bindgen::generate!({
    path: "../../../examples/exercises/leap/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn leap_year(year: u32) -> bool {
        let mut n = u64::from(year);
        loop {
            n = std::hint::black_box(n.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

export!(Solution);

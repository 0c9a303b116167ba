//! Deliberately wrong solution for the `space-age` exercise.
//!
//! Bug: takes an Earth year to be 365 days (31 536 000 s) instead of 365.25
//! days (31 557 600 s), so every age is 0.068% too large. With the exercise's
//! tolerance of 0.01 this matters only for the larger ages. Fails:
//! - 84f609af Earth (31.71 vs 31.69), ca20c4e9 Mercury (281.07 vs 280.88),
//!   9ceadf5e Mars (35.91 vs 35.88)
//!
//! Passes Venus, Jupiter, Saturn, Uranus, Neptune (ages under 10, error
//! below 0.01) and the Sun error case.
wit_bindgen::generate!({
    path: "../../../examples/exercises/space-age/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn age(planet: Planet, seconds: u64) -> Result<f64, String> {
        let period = match planet {
            Planet::Mercury => 0.2408467,
            Planet::Venus => 0.61519726,
            Planet::Earth => 1.0,
            Planet::Mars => 1.8808158,
            Planet::Jupiter => 11.862615,
            Planet::Saturn => 29.447498,
            Planet::Uranus => 84.016846,
            Planet::Neptune => 164.79132,
            Planet::Sun => return Err("not a planet".to_string()),
        };
        Ok(seconds as f64 / (365.0 * 24.0 * 3600.0) / period)
    }
}

export!(Solution);

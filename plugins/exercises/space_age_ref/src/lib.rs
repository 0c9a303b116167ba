//! Reference solution for the `space-age` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/space-age/exercise.wit",
    world: "solution",
});

struct Solution;

const EARTH_YEAR_SECONDS: f64 = 31_557_600.0;

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
        Ok(seconds as f64 / EARTH_YEAR_SECONDS / period)
    }
}

export!(Solution);

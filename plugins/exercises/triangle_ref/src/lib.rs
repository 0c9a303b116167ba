//! Reference solution for the `triangle` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/triangle/exercise.wit",
    world: "solution",
});

struct Solution;

/// The three sides, if they form a valid (possibly degenerate) triangle.
fn valid(sides: &[f64]) -> Option<[f64; 3]> {
    let [a, b, c] = <[f64; 3]>::try_from(sides).ok()?;
    let ok = a > 0.0 && b > 0.0 && c > 0.0 && a + b >= c && b + c >= a && a + c >= b;
    ok.then_some([a, b, c])
}

impl Guest for Solution {
    fn equilateral(sides: Vec<f64>) -> bool {
        valid(&sides).is_some_and(|[a, b, c]| a == b && b == c)
    }

    fn isosceles(sides: Vec<f64>) -> bool {
        valid(&sides).is_some_and(|[a, b, c]| a == b || b == c || a == c)
    }

    fn scalene(sides: Vec<f64>) -> bool {
        valid(&sides).is_some_and(|[a, b, c]| a != b && b != c && a != c)
    }
}

export!(Solution);

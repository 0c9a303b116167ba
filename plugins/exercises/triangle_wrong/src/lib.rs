//! Deliberately wrong solution for the `triangle` exercise.
//!
//! Bug: checks only that the sides are positive and forgets the triangle
//! inequality, so impossible triangles get properties. Fails:
//! - isosceles: 2eba0cfb [1, 1, 3], 278469cb [1, 3, 1], 90efb0c7 [3, 1, 1]
//! - scalene: 70ad5154 [7, 3, 2]
//!
//! The other seventeen cases pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/triangle/exercise.wit",
    world: "solution",
});

struct Solution;

fn positive(sides: &[f64]) -> Option<[f64; 3]> {
    let [a, b, c] = <[f64; 3]>::try_from(sides).ok()?;
    (a > 0.0 && b > 0.0 && c > 0.0).then_some([a, b, c])
}

impl Guest for Solution {
    fn equilateral(sides: Vec<f64>) -> bool {
        positive(&sides).is_some_and(|[a, b, c]| a == b && b == c)
    }

    fn isosceles(sides: Vec<f64>) -> bool {
        positive(&sides).is_some_and(|[a, b, c]| a == b || b == c || a == c)
    }

    fn scalene(sides: Vec<f64>) -> bool {
        positive(&sides).is_some_and(|[a, b, c]| a != b && b != c && a != c)
    }
}

export!(Solution);

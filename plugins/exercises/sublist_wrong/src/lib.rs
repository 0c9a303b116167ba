//! Deliberately wrong solution for the `sublist` exercise.
//!
//! Bug: treats the lists as sets ("every element of one occurs somewhere in
//! the other") instead of looking for a contiguous run. Fails:
//! - 0a6db763 [1, 3] vs [1, 2, 3] -> sublist instead of unequal
//! - 83ffe6d8 [1, 2, 3] vs [1, 3] -> superlist instead of unequal
//! - 0d7ee7c1 [1, 2, 3] vs [3, 2, 1] -> sublist instead of unequal
//!
//! The other fifteen cases pass.
wit_bindgen::generate!({
    path: "../../../examples/exercises/sublist/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn sublist(list_one: Vec<i32>, list_two: Vec<i32>) -> Comparison {
        if list_one == list_two {
            Comparison::Equal
        } else if list_one.iter().all(|x| list_two.contains(x)) {
            Comparison::Sublist
        } else if list_two.iter().all(|x| list_one.contains(x)) {
            Comparison::Superlist
        } else {
            Comparison::Unequal
        }
    }
}

export!(Solution);

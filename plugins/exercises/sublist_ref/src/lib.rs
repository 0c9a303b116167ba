//! Reference solution for the `sublist` exercise.
wit_bindgen::generate!({
    path: "../../../examples/exercises/sublist/exercise.wit",
    world: "solution",
});

struct Solution;

fn contains(haystack: &[i32], needle: &[i32]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

impl Guest for Solution {
    fn sublist(list_one: Vec<i32>, list_two: Vec<i32>) -> Comparison {
        if list_one == list_two {
            Comparison::Equal
        } else if contains(&list_two, &list_one) {
            Comparison::Sublist
        } else if contains(&list_one, &list_two) {
            Comparison::Superlist
        } else {
            Comparison::Unequal
        }
    }
}

export!(Solution);

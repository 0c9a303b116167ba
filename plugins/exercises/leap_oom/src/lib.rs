//! Bad submission for the `leap` exercise: allocates until memory runs out.
//!
//! Keeps allocating (and touching) 1 MiB blocks. Under a memory limit,
//! `memory.grow` fails, the allocator reports the failure and the guest
//! aborts, so every case should end with a memory-limit verdict (or, without
//! a limit, when linear memory reaches 4 GiB).
wit_bindgen::generate!({
    path: "../../../examples/exercises/leap/exercise.wit",
    world: "solution",
});

struct Solution;

impl Guest for Solution {
    fn leap_year(year: u32) -> bool {
        let mut hog: Vec<Vec<u8>> = Vec::new();
        loop {
            hog.push(std::hint::black_box(vec![year as u8 | 1; 1 << 20]));
            std::hint::black_box(&hog);
        }
    }
}

export!(Solution);

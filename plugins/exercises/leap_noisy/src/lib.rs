//! Bad submission for the `leap` exercise: floods stdout, then answers
//! correctly.
//!
//! Writes 4 MiB to stdout on every call before returning the right answer.
//! Write errors are ignored, so if the host cuts the output off (an output
//! limit) the answer is still returned: with output truncated or discarded
//! every case passes; a grader that treats exceeding `output_limit_bytes` as a
//! failure fails them all.
wit_bindgen::generate!({
    path: "../../../examples/exercises/leap/exercise.wit",
    world: "solution",
});

use std::io::Write;

struct Solution;

const NOISE_BYTES: usize = 4 << 20;

impl Guest for Solution {
    fn leap_year(year: u32) -> bool {
        let line = format!("thinking very hard about the year {year}...\n");
        let chunk = line.repeat(64 * 1024 / line.len() + 1);
        let mut out = std::io::stdout().lock();
        let mut written = 0;
        while written < NOISE_BYTES {
            if out.write_all(chunk.as_bytes()).is_err() {
                break;
            }
            written += chunk.len();
        }
        let _ = out.flush();
        year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
    }
}

export!(Solution);

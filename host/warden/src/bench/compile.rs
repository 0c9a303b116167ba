//! A cold compile, in-process and in a compile child: what bounding the
//! compile of untrusted bytes costs.
//!
//! Each round compiles `counter_v2` (117 KB) with one more custom section,
//! so no cache ever has it: `compile_own` in this process
//! ([`Trust::Own`]), `compile_child` in a compile child under the default
//! limits ([`Trust::Untrusted`]: spawn, build the engine there, compile,
//! serialize, map the artifact back). Rounds alternate between the two so
//! a busy machine slows both alike. `compile_empty_*` do the same with an
//! empty component: nearly nothing to compile, so `compile_empty_child`
//! is the fixed cost of a compile child.

use std::time::{Duration, Instant};

use super::{BenchEnv, BenchError, Figure, Samples};
use crate::component::{Metering, Runtime, RuntimeConfig, Trust, with_custom_section};

const ROUNDS: usize = 12;

pub fn compile(env: &BenchEnv) -> Result<Vec<Figure>, BenchError> {
    let mut figures = measure(&env.read_plugin("counter_v2")?, "compile")?;
    figures.extend(measure(b"\0asm\x0d\0\x01\0", "compile_empty")?);
    Ok(figures)
}

fn measure(base: &[u8], bench: &str) -> Result<Vec<Figure>, BenchError> {
    let runtime = Runtime::new(RuntimeConfig::default())?;
    let mut own = Samples::with_capacity(ROUNDS);
    let mut child = Samples::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        for (trust, samples) in [(Trust::Own, &mut own), (Trust::Untrusted, &mut child)] {
            let bytes = with_custom_section(
                base,
                "warden-bench",
                format!("{trust:?} {round}").as_bytes(),
            );
            let started = Instant::now();
            runtime.compile_as(&bytes, Metering::Off, trust)?;
            samples.push(started.elapsed());
        }
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut figures = Vec::new();
    for (how, samples) in [("own", &mut own), ("child", &mut child)] {
        let name = format!("{bench}_{how}");
        figures.push(Figure::new(&name, "p50", ms(samples.quantile(0.5)), "ms"));
        figures.push(Figure::new(&name, "mean", ms(samples.mean()), "ms"));
    }
    Ok(figures)
}

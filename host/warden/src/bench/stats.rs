//! Percentiles over measured durations.

use std::time::Duration;

use super::Figure;

/// Durations collected by a benchmark.
#[derive(Debug, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// The `q` quantile (0.0–1.0), nearest-rank.
    pub fn quantile(&mut self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0.sort_unstable();
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1]
    }

    pub fn mean(&self) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0.iter().sum::<Duration>() / self.0.len() as u32
    }

    /// p50, p99 and mean in microseconds.
    pub fn figures_us(&mut self, bench: &str) -> Vec<Figure> {
        let us = |d: Duration| d.as_nanos() as f64 / 1000.0;
        vec![
            Figure::new(bench, "p50", us(self.quantile(0.50)), "us"),
            Figure::new(bench, "p99", us(self.quantile(0.99)), "us"),
            Figure::new(bench, "mean", us(self.mean()), "us"),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let mut s = Samples::default();
        for i in 1..=100 {
            s.push(Duration::from_micros(i));
        }
        assert_eq!(s.quantile(0.5), Duration::from_micros(50));
        assert_eq!(s.quantile(0.99), Duration::from_micros(99));
        assert_eq!(s.quantile(1.0), Duration::from_micros(100));
        assert_eq!(s.mean(), Duration::from_nanos(50_500));
    }
}

//! Tests of the supervision core, ported from OTP's `supervisor_SUITE` scenarios
//! and extended to Warden's additions. Every test runs against the in-memory
//! [`lab::TestChild`] on tokio's paused clock, so timings are exact and fast.

mod admin;
mod beyond;
mod in_place;
mod lab;
mod restart;
mod start;
mod stop;
mod strategies;
mod tree;

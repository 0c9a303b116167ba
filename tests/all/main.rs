//! Warden's end-to-end tests: one test binary gathering every module, so
//! the plugins are built once and the binary links once.
//!
//! Tests use real components built from `plugins/` (see [`support`]), the
//! real `warden` binary, real processes and real files.

mod support;

mod api_conformance;
mod api_cross_site;
mod api_http;
mod api_roles;
mod bench_otp;
mod cache_cli;
mod call_cli;
mod chaos;
mod compile_limits;
mod component_runtime;
mod component_store;
mod config_reload;
mod ctl_cli;
mod ctl_control;
mod dashboard;
mod dev_cli;
mod fleet;
mod fleet_ops;
mod grade_check;
mod grade_cli;
mod grade_exercises;
mod grade_files;
mod grade_languages;
mod grade_output;
mod grade_readme;
mod grade_reports;
mod groups;
mod health_monitor;
mod hibernate;
mod inspect_cli;
mod limits;
mod log_cli;
mod logs;
mod manual_cli;
mod metrics_history;
mod new_cli;
mod ops_builtin;
mod ops_registry;
mod persist;
mod pipe_cli;
mod process_workers;
mod reload;
mod repl;
mod run_cli;
mod sandboxes;
mod snapshots;
mod stopping_guests;
mod trace;
mod tree_components;

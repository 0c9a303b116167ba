//! `scripts/bench-restart-vs-otp.sh`: Warden's restart figure beside
//! Erlang/OTP's, measured the same way in one run. The comparison needs
//! `erl`, which no test run installs (`scripts/setup.sh otp` does): without
//! it the comparison test says so and skips, even under
//! `WARDEN_REQUIRE_TOOLS=1`; its usage check runs everywhere.

use std::process::Command;

use crate::support::{plugins_dir, repo_root, stderr, stdout};

fn script(args: &[&str]) -> Command {
    let mut cmd = Command::new(repo_root().join("scripts/bench-restart-vs-otp.sh"));
    cmd.args(args)
        .env("WARDEN_BIN", env!("CARGO_BIN_EXE_warden"))
        .env("WARDEN_PLUGINS", plugins_dir());
    cmd
}

fn erlang_present() -> bool {
    ["erl", "erlc"].iter().all(|tool| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn the_otp_comparison_prints_both_figures_and_their_ratio() {
    if !erlang_present() {
        eprintln!(
            "SKIPPED the_otp_comparison_prints_both_figures_and_their_ratio: needs erl and erlc \
             (scripts/setup.sh otp installs Debian's erlang-base)"
        );
        return;
    }
    let out = script(&["1"]).output().expect("run the script");
    assert!(out.status.success(), "{}", stderr(&out));
    let figures: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let value = |bench: &str, metric: &str| {
        figures
            .iter()
            .find(|f| f["bench"] == bench && f["metric"] == metric)
            .and_then(|f| f["value"].as_f64())
            .unwrap_or_else(|| panic!("no {bench} {metric}: {figures:?}"))
    };
    let warden = value("restart", "p50");
    let otp = value("restart_otp", "p50");
    assert!(warden > 0.0 && otp > 0.0, "{figures:?}");
    assert!(value("restart_otp", "p99") >= otp, "{figures:?}");
    // One run each: the medians are the runs' own p50s.
    assert_eq!(value("restart_vs_otp", "warden_p50"), warden);
    assert_eq!(value("restart_vs_otp", "otp_p50"), otp);
    let ratio = value("restart_vs_otp", "warden_p50_of_otp");
    assert!(
        (ratio - 100.0 * warden / otp).abs() < 0.01,
        "{ratio} vs {warden}/{otp}"
    );
}

#[test]
fn the_otp_comparison_refuses_a_round_count_that_is_not_a_positive_number() {
    for bad in ["0", "three", "-1"] {
        let out = script(&[bad]).output().expect("run the script");
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("got: {bad}")),
            "{bad}: {}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "nothing measured for {bad}");
    }
}

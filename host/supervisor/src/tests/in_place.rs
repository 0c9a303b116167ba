//! Beyond OTP: restarts in place ([`crate::in_place`]). A child may restart
//! itself only where its supervisor would have restarted it and nothing
//! else, at once; the supervisor books it as its own restart.

use std::time::Duration;

use super::lab::{Lab, Life, OnShutdown, drain_json, exact_backoff, root_on, settle, wait, worker};
use crate::testing::EventRecorder;
use crate::{
    ChildStatus, Restart, ShutdownCause, StormAction, StormConfig, Strategy, SupervisorFlags,
    SupervisorSpec,
};

fn flags(strategy: Strategy, intensity: u32) -> SupervisorFlags {
    SupervisorFlags::new(strategy).with_intensity(intensity, Duration::from_secs(3600))
}

fn names(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{} {}", e["event"].as_str().unwrap_or("?"), e["generation"]))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_restart_in_place_is_booked_as_the_supervisors_own_in_otps_order() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne, 10)).child(worker("a", lab.child()));
    let sup = root_on(spec, events.clone()).await;
    let first = lab.generation("a").unwrap();
    drain_json(&events);
    assert!(lab.crash_in_place("a"));
    settle().await;
    let second = lab.generation("a").unwrap();
    assert_ne!(first, second);
    let seen = drain_json(&events);
    assert_eq!(
        names(&seen),
        vec![
            format!("child_exited {first}"),
            format!("child_restarted {second}")
        ]
    );
    assert_eq!(seen[1]["restarts"], 1);
    let info = &sup.which_children().await.unwrap()[0];
    assert_eq!(info.status, ChildStatus::Running);
    assert_eq!(info.generation, Some(second));
    assert_eq!(info.restarts, 1);
    // No new start: the child restarted itself. A plain crash still goes
    // through the supervisor, and the next one may be in place again.
    assert_eq!(lab.take(), vec!["start a", "restart-in-place a"]);
    lab.crash("a");
    settle().await;
    assert_eq!(lab.take(), vec!["start a"]);
    assert!(lab.crash_in_place("a"));
    settle().await;
    assert_eq!(sup.which_children().await.unwrap()[0].restarts, 3);
}

#[tokio::test(start_paused = true)]
async fn the_intensity_bounds_restarts_in_place_and_the_last_crash_gives_up_as_otp_does() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne, 2)).child(worker("a", lab.child()));
    let sup = root_on(spec, EventRecorder::new()).await;
    assert!(lab.crash_in_place("a"));
    settle().await;
    assert!(lab.crash_in_place("a"));
    settle().await;
    // A third restart would exceed the intensity: not allowed in place;
    // the exit reaches the supervisor, which gives up.
    assert!(!lab.crash_in_place("a"));
    let exit = wait(&sup).await;
    assert_eq!(exit.cause, ShutdownCause::IntensityReached);
}

#[tokio::test(start_paused = true)]
async fn no_restart_in_place_where_the_supervisor_would_do_more_or_wait() {
    let lab = Lab::new();
    // Siblings restart with it.
    let spec = SupervisorSpec::new(flags(Strategy::OneForAll, 10))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()));
    let _all = root_on(spec, EventRecorder::new()).await;
    assert!(lab.claim_in_place("a").is_none());
    // A backoff delays the restart; a temporary child is not restarted.
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne, 10))
        .child(worker("c", lab.child()).with_backoff(exact_backoff()))
        .child(worker("d", lab.child()).with_restart(Restart::Temporary))
        .child(worker("e", lab.child()).with_restart(Restart::Transient));
    let _one = root_on(spec, EventRecorder::new()).await;
    assert!(lab.claim_in_place("c").is_none());
    assert!(lab.claim_in_place("d").is_none());
    assert!(
        lab.claim_in_place("e").is_some(),
        "a transient child restarts after a crash"
    );
}

#[tokio::test(start_paused = true)]
async fn restarts_in_place_stop_short_of_a_storm_so_the_storm_is_still_detected() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let storm = StormConfig {
        per_minute: Some(3),
        per_hour: None,
        action: StormAction::Log,
    };
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne, 100))
        .child(worker("a", lab.child()).with_storm(storm));
    let _sup = root_on(spec, events.clone()).await;
    for _ in 0..3 {
        assert!(lab.crash_in_place("a"));
        settle().await;
    }
    // The fourth would trip the minute's window: the supervisor restarts
    // it and reports the storm.
    assert!(!lab.crash_in_place("a"));
    settle().await;
    let storms = drain_json(&events)
        .into_iter()
        .filter(|e| e["event"] == "storm_detected")
        .count();
    assert_eq!(storms, 1);
    // A minute later the window is empty again; the allowance is computed
    // at each restart, so the next crash still goes through the supervisor
    // and the one after may be in place again.
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert!(!lab.crash_in_place("a"));
    settle().await;
    assert!(lab.crash_in_place("a"));
}

#[tokio::test(start_paused = true)]
async fn a_stop_that_meets_a_restart_in_place_in_flight_waits_for_the_new_incarnation() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let life = Life {
        on_shutdown: OnShutdown::Hang,
        ..Life::default()
    };
    let spec =
        SupervisorSpec::new(flags(Strategy::OneForOne, 10)).child(worker("a", lab.living(life)));
    let sup = root_on(spec, events.clone()).await;
    let first = lab.generation("a").unwrap();
    // The child claims, then the supervisor is asked to stop it before it
    // hears of the restart.
    let claim = lab.claim_in_place("a").expect("allowed");
    let stopping = {
        let sup = sup.clone();
        tokio::spawn(async move { sup.terminate_child("a").await })
    };
    settle().await;
    assert!(
        lab.claim_in_place("a").is_none(),
        "the stop revoked the allowance"
    );
    lab.report_in_place("a", claim);
    settle().await;
    assert!(!stopping.is_finished(), "the new incarnation still runs");
    let second = lab.generation("a").unwrap();
    lab.exit("a", crate::ExitReason::Shutdown);
    stopping.await.unwrap().unwrap();
    let seen: Vec<String> = names(&drain_json(&events))
        .into_iter()
        .filter(|n| n.starts_with("child_exited") || n.starts_with("child_restarted"))
        .collect();
    assert_eq!(
        seen,
        vec![
            format!("child_exited {first}"),
            format!("child_restarted {second}"),
            format!("child_exited {second}"),
        ]
    );
    let info = &sup.which_children().await.unwrap()[0];
    assert_eq!(info.status, ChildStatus::Stopped);
}

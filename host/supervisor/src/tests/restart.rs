//! The restart decision table, intensity, retries of failed restarts.

use std::time::Duration;

use super::lab::{Lab, Step, drain, root, root_on, s, settle, settle_ms, stop, wait, worker};
use crate::testing::EventRecorder;
use crate::{
    ChildStatus, ExitReason, FailureKind, Restart, RestartDecision, ShutdownCause, Strategy,
    SupervisorFlags, SupervisorSpec, restart_decision,
};

fn crash() -> ExitReason {
    ExitReason::abnormal(FailureKind::Crash, "boom")
}

#[test]
fn the_decision_table_is_otps() {
    use RestartDecision::{Keep, Remove};
    let again = RestartDecision::Restart;
    let table = [
        (Restart::Permanent, ExitReason::Normal, again),
        (Restart::Permanent, ExitReason::Shutdown, again),
        (Restart::Permanent, crash(), again),
        (Restart::Transient, ExitReason::Normal, Keep),
        (Restart::Transient, ExitReason::Shutdown, Keep),
        (Restart::Transient, crash(), again),
        (Restart::Temporary, ExitReason::Normal, Remove),
        (Restart::Temporary, ExitReason::Shutdown, Remove),
        (Restart::Temporary, crash(), Remove),
    ];
    for (restart, reason, expected) in table {
        assert_eq!(
            restart_decision(restart, &reason),
            expected,
            "{restart} × {reason}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_matrix_against_a_live_supervisor() {
    // (restart type, exit reason) -> (present afterwards, running afterwards)
    let cases = [
        (Restart::Permanent, ExitReason::Normal, true, true),
        (Restart::Permanent, ExitReason::Shutdown, true, true),
        (Restart::Permanent, crash(), true, true),
        (Restart::Transient, ExitReason::Normal, true, false),
        (Restart::Transient, ExitReason::Shutdown, true, false),
        (Restart::Transient, crash(), true, true),
        (Restart::Temporary, ExitReason::Normal, false, false),
        (Restart::Temporary, ExitReason::Shutdown, false, false),
        (Restart::Temporary, crash(), false, false),
    ];
    for (restart, reason, present, running) in cases {
        let lab = Lab::new();
        let flags =
            SupervisorFlags::new(Strategy::OneForOne).with_intensity(10, Duration::from_secs(5));
        let spec = SupervisorSpec::new(flags)
            .child(worker("c", lab.child()).with_restart(restart))
            .child(worker("other", lab.child()));
        let sup = root(spec).await;
        let first = lab.generation("c").unwrap();
        lab.exit("c", reason.clone());
        let children = sup.which_children().await.unwrap();
        let c = children.iter().find(|c| c.id.as_str() == "c");
        let label = format!("{restart} × {reason}");
        assert_eq!(c.is_some(), present, "{label}: present");
        if let Some(c) = c {
            assert_eq!(
                c.status == ChildStatus::Running,
                running,
                "{label}: running"
            );
            assert_eq!(c.restarts, u64::from(running), "{label}: restarts");
            assert_eq!(c.last_exit.as_ref(), Some(&reason), "{label}: last exit");
            if running {
                assert!(c.generation.unwrap() > first, "{label}: new generation");
            }
        }
        let expected = if running {
            s(&["start c", "start other", "start c"])
        } else {
            s(&["start c", "start other"])
        };
        assert_eq!(lab.take(), expected, "{label}: journal");
        stop(&sup).await;
    }
}

#[tokio::test(start_paused = true)]
async fn temporary_bystander() {
    // OTP supervisor_SUITE:temporary_bystander — a temporary sibling terminated by a
    // one_for_all restart is not restarted, whatever the reason of the first exit.
    for reason in [ExitReason::Normal, crash()] {
        let lab = Lab::new();
        let flags =
            SupervisorFlags::new(Strategy::OneForAll).with_intensity(2, Duration::from_secs(300));
        let spec = SupervisorSpec::new(flags)
            .child(worker("child1", lab.child()))
            .child(worker("child2", lab.child()).with_restart(Restart::Temporary));
        let sup = root(spec).await;
        lab.exit("child1", reason);
        let ids: Vec<String> = sup
            .which_children()
            .await
            .unwrap()
            .iter()
            .map(|c| c.id.to_string())
            .collect();
        assert_eq!(ids, s(&["child1"]));
        assert_eq!(
            lab.take(),
            s(&[
                "start child1",
                "start child2",
                "shutdown child2",
                "start child1"
            ])
        );
        stop(&sup).await;
    }
}

#[tokio::test(start_paused = true)]
async fn intensity_reached_stops_all_in_reverse_and_exits_with_shutdown() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let flags = SupervisorFlags::new(Strategy::OneForOne).with_intensity(1, Duration::from_secs(5));
    let spec = SupervisorSpec::new(flags)
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()))
        .child(worker("c", lab.child()));
    let sup = root_on(spec, events.clone()).await;
    lab.crash("b");
    settle().await;
    lab.crash("b");
    let exit = wait(&sup).await;
    assert_eq!(exit.cause, ShutdownCause::IntensityReached);
    assert_eq!(exit.reason, ExitReason::Shutdown);
    assert_eq!(
        lab.take(),
        s(&[
            "start a",
            "start b",
            "start c",
            "start b",
            "shutdown c",
            "shutdown a"
        ])
    );
    let names: Vec<String> = drain(&events)
        .into_iter()
        .filter(|(p, _)| p == "root")
        .map(|(_, e)| e)
        .collect();
    assert_eq!(
        names,
        s(&[
            "supervisor_started",
            "intensity_reached",
            "shutdown_started",
            "shutdown_completed",
            "supervisor_escalated"
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn restarts_spaced_just_outside_the_period_never_trip_the_limit() {
    let lab = Lab::new();
    let flags = SupervisorFlags::new(Strategy::OneForOne).with_intensity(1, Duration::from_secs(5));
    let spec = SupervisorSpec::new(flags).child(worker("a", lab.child()));
    let sup = root(spec).await;
    for round in 1..=10u64 {
        lab.crash("a");
        let a = &sup.which_children().await.unwrap()[0];
        assert_eq!(a.status, ChildStatus::Running, "round {round}");
        assert_eq!(a.restarts, round);
        settle_ms(5001).await;
    }
    assert!(sup.exit().is_none());
    stop(&sup).await;
}

#[tokio::test(start_paused = true)]
async fn restarts_exactly_one_period_apart_do_trip_the_limit() {
    // OTP keeps a restart exactly `period` old inside the window.
    let lab = Lab::new();
    let flags = SupervisorFlags::new(Strategy::OneForOne).with_intensity(1, Duration::from_secs(5));
    let spec = SupervisorSpec::new(flags).child(worker("a", lab.child()));
    let sup = root(spec).await;
    lab.crash("a");
    sup.count_children().await.unwrap();
    tokio::time::sleep(Duration::from_millis(5000)).await;
    lab.crash("a");
    assert_eq!(wait(&sup).await.cause, ShutdownCause::IntensityReached);
}

#[tokio::test(start_paused = true)]
async fn intensity_zero_gives_up_on_the_first_restart() {
    let lab = Lab::new();
    let flags = SupervisorFlags::new(Strategy::OneForOne).with_intensity(0, Duration::from_secs(5));
    let spec = SupervisorSpec::new(flags)
        .child(worker("a", lab.child()))
        .child(worker("t", lab.child()).with_restart(Restart::Temporary));
    let sup = root(spec).await;
    // A temporary child's exit is no restart: nothing is counted.
    lab.crash("t");
    assert_eq!(sup.count_children().await.unwrap().specs, 1);
    lab.crash("a");
    assert_eq!(wait(&sup).await.cause, ShutdownCause::IntensityReached);
}

#[tokio::test(start_paused = true)]
async fn a_failing_restart_is_retried_and_each_retry_counts() {
    let lab = Lab::new();
    let flags =
        SupervisorFlags::new(Strategy::OneForOne).with_intensity(3, Duration::from_secs(60));
    let child = lab.scripted([Step::run(), Step::Fail("still broken")]);
    let spec = SupervisorSpec::new(flags)
        .child(worker("a", child))
        .child(worker("b", lab.child()));
    let sup = root(spec).await;
    lab.crash("a");
    let exit = wait(&sup).await;
    assert_eq!(exit.cause, ShutdownCause::IntensityReached);
    // Restart 1, 2 and 3 fail to start; restart 4 is one too many.
    assert_eq!(
        lab.take(),
        s(&[
            "start a",
            "start b",
            "start-failed a",
            "start-failed a",
            "start-failed a",
            "shutdown b"
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_succeeds_brings_the_child_back() {
    let lab = Lab::new();
    let flags =
        SupervisorFlags::new(Strategy::OneForOne).with_intensity(5, Duration::from_secs(60));
    let child = lab.scripted([
        Step::run(),
        Step::Fail("not yet"),
        Step::Fail("not yet"),
        Step::run(),
    ]);
    let spec = SupervisorSpec::new(flags).child(worker("a", child));
    let sup = root(spec).await;
    lab.crash("a");
    settle().await;
    let a = &sup.which_children().await.unwrap()[0];
    assert_eq!(a.status, ChildStatus::Running);
    assert_eq!(a.restarts, 3);
    assert_eq!(
        lab.take(),
        s(&["start a", "start-failed a", "start-failed a", "start a"])
    );
}

#[tokio::test(start_paused = true)]
async fn a_child_that_keeps_failing_to_start_does_not_hang_the_supervisor() {
    let lab = Lab::new();
    let flags = SupervisorFlags::new(Strategy::OneForOne)
        .with_intensity(u32::MAX, Duration::from_secs(3600));
    let child = lab.scripted([Step::run(), Step::Fail("never")]);
    let spec = SupervisorSpec::new(flags)
        .child(worker("a", child))
        .child(worker("b", lab.child()));
    let sup = root(spec).await;
    lab.crash("a");
    // The supervisor keeps retrying, yet answers and stops.
    let counts = sup.count_children().await.unwrap();
    assert_eq!((counts.specs, counts.active), (2, 1));
    let a = sup.which_children().await.unwrap()[0].clone();
    assert_eq!(a.status, ChildStatus::Restarting);
    let exit = stop(&sup).await;
    assert_eq!(exit.cause, ShutdownCause::Requested);
    let journal = lab.take();
    assert_eq!(journal.last().map(String::as_str), Some("shutdown b"));
    assert!(journal.iter().filter(|e| *e == "start-failed a").count() >= 2);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_exit_sender_counts_as_a_crash() {
    let lab = Lab::new();
    let flags = SupervisorFlags::new(Strategy::OneForOne).with_intensity(5, Duration::from_secs(5));
    let child = lab.scripted([Step::DropSender, Step::run()]);
    let sup = root(SupervisorSpec::new(flags).child(worker("a", child))).await;
    settle().await;
    let a = &sup.which_children().await.unwrap()[0];
    assert_eq!(a.restarts, 1);
    assert_eq!(a.status, ChildStatus::Running);
    assert_eq!(
        a.last_exit.as_ref().and_then(ExitReason::failure_kind),
        Some(FailureKind::Crash)
    );
}

#[tokio::test(start_paused = true)]
async fn intensity_changed_at_run_time_judges_the_next_restart() {
    let lab = Lab::new();
    let flags = SupervisorFlags::new(Strategy::OneForOne).with_intensity(5, Duration::from_secs(5));
    let spec = SupervisorSpec::new(flags).child(worker("a", lab.child()));
    let sup = root(spec).await;
    lab.crash("a");
    settle().await;
    sup.set_intensity(1, Duration::from_secs(60)).await.unwrap();
    let report = sup.health_report().await.unwrap();
    assert_eq!((report.intensity, report.period_ms), (1, 60_000));
    assert_eq!(
        report.restarts_in_period, 1,
        "the restart already counted stays"
    );
    // Under the old limit of 5 this restart would be allowed.
    lab.crash("a");
    assert_eq!(wait(&sup).await.cause, ShutdownCause::IntensityReached);
}

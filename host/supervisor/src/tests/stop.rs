//! Stopping children: infinity, timeout, brutal_kill, kill grace, late exits,
//! concurrent shutdown of dynamic children, dropped handles.

use std::time::Duration;

use tokio::time::Instant;

use super::lab::{
    Lab, Life, OnKill, OnShutdown, Step, drain, drain_json, root, root_on, s, settle, stop, worker,
};
use crate::testing::EventRecorder;
use crate::{
    ChildStatus, ExitReason, FailureKind, Restart, Shutdown, ShutdownCause, Strategy,
    SupervisorFlags, SupervisorSpec,
};

fn one_for_one() -> SupervisorFlags {
    SupervisorFlags::new(Strategy::OneForOne).with_intensity(10, Duration::from_secs(5))
}

#[tokio::test(start_paused = true)]
async fn infinity_waits_as_long_as_the_child_needs() {
    let lab = Lab::new();
    let slow = Life {
        on_shutdown: OnShutdown::ExitAfter(Duration::from_secs(60)),
        ..Life::default()
    };
    let spec = SupervisorSpec::new(one_for_one())
        .child(worker("a", lab.living(slow)).with_shutdown(Shutdown::Infinity));
    let sup = root(spec).await;
    let t0 = Instant::now();
    let exit = stop(&sup).await;
    assert_eq!(t0.elapsed(), Duration::from_secs(60));
    assert_eq!(exit.reason, ExitReason::Shutdown);
    assert_eq!(lab.take(), s(&["start a", "shutdown a"]));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_ends_with_a_hung_child_killed() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let hung = Life {
        on_shutdown: OnShutdown::Hang,
        ..Life::default()
    };
    let spec = SupervisorSpec::new(one_for_one())
        .child(worker("a", lab.child()))
        .child(worker("b", lab.living(hung)).with_shutdown(Shutdown::millis(500)));
    let sup = root_on(spec, events.clone()).await;
    let t0 = Instant::now();
    stop(&sup).await;
    assert_eq!(t0.elapsed(), Duration::from_millis(500));
    assert_eq!(
        lab.take(),
        s(&["start a", "start b", "shutdown b", "kill b", "shutdown a"])
    );
    let json = drain_json(&events);
    let timeouts: Vec<_> = json
        .iter()
        .filter(|e| e["event"] == "child_shutdown_timeout")
        .collect();
    assert_eq!(timeouts.len(), 1);
    assert_eq!(timeouts[0]["path"], "root/b");
    assert_eq!(timeouts[0]["timeout_ms"], 500);
    let b_exit = json
        .iter()
        .find(|e| e["event"] == "child_exited" && e["path"] == "root/b")
        .expect("b exited");
    assert_eq!(b_exit["reason"], "abnormal");
    assert_eq!(b_exit["kind"], "killed");
}

#[tokio::test(start_paused = true)]
async fn brutal_kill_kills_without_asking() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(one_for_one())
        .child(worker("a", lab.child()).with_shutdown(Shutdown::BrutalKill));
    let sup = root(spec).await;
    let t0 = Instant::now();
    stop(&sup).await;
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(lab.take(), s(&["start a", "kill a"]));
}

#[tokio::test(start_paused = true)]
async fn a_child_that_never_reports_its_kill_is_considered_dead_after_the_grace() {
    let lab = Lab::new();
    let zombie = Life {
        on_shutdown: OnShutdown::Hang,
        on_kill: OnKill::Ignore,
        ..Life::default()
    };
    let flags = one_for_one().with_kill_grace(Duration::from_secs(2));
    let spec = SupervisorSpec::new(flags)
        .child(worker("z", lab.living(zombie)).with_shutdown(Shutdown::millis(100)));
    let sup = root(spec).await;
    let t0 = Instant::now();
    let exit = stop(&sup).await;
    assert_eq!(t0.elapsed(), Duration::from_millis(2100));
    assert_eq!(exit.cause, ShutdownCause::Requested);
    assert_eq!(lab.take(), s(&["start z", "shutdown z", "kill z"]));
}

#[tokio::test(start_paused = true)]
async fn a_late_exit_of_an_old_incarnation_is_ignored() {
    let lab = Lab::new();
    let zombie = Life {
        on_kill: OnKill::Ignore,
        ..Life::default()
    };
    let child = lab.scripted([Step::Run(zombie), Step::run()]);
    let flags = one_for_one().with_kill_grace(Duration::from_millis(50));
    let spec =
        SupervisorSpec::new(flags).child(worker("a", child).with_shutdown(Shutdown::BrutalKill));
    let sup = root(spec).await;
    let first = lab.generation("a").unwrap();
    // The first incarnation ignores its kill: after the grace it is considered dead.
    sup.terminate_child("a").await.unwrap();
    let started = sup.restart_child("a").await.unwrap();
    let second = started.generation().unwrap();
    assert!(second > first);
    // Now the old incarnation reports, late. Nothing must happen.
    assert!(lab.exit_generation("a", first, ExitReason::abnormal(FailureKind::Crash, "late")));
    settle().await;
    let a = &sup.which_children().await.unwrap()[0];
    assert_eq!(a.status, ChildStatus::Running);
    assert_eq!(a.generation, Some(second));
    assert_eq!(a.restarts, 0);
    assert_eq!(lab.take(), s(&["start a", "kill a", "start a"]));
}

#[tokio::test(start_paused = true)]
async fn dynamic_children_stop_concurrently() {
    let lab = Lab::new();
    let slow = Life {
        on_shutdown: OnShutdown::ExitAfter(Duration::from_secs(1)),
        ..Life::default()
    };
    let spec = SupervisorSpec::new(SupervisorFlags::new(Strategy::SimpleOneForOne))
        .child(worker("job", lab.living(slow)).with_restart(Restart::Temporary));
    let sup = root(spec).await;
    for _ in 0..3 {
        sup.start_dynamic_child(None).await.unwrap();
    }
    let t0 = Instant::now();
    stop(&sup).await;
    // One second for all three, not three seconds.
    assert_eq!(t0.elapsed(), Duration::from_secs(1));
    let mut stops: Vec<String> = lab
        .take()
        .into_iter()
        .filter(|e| e.starts_with("shutdown"))
        .collect();
    stops.sort();
    assert_eq!(
        stops,
        s(&["shutdown job-1", "shutdown job-2", "shutdown job-3"])
    );
}

#[tokio::test(start_paused = true)]
async fn hung_dynamic_children_are_killed_at_the_shared_deadline() {
    let lab = Lab::new();
    let hung = Life {
        on_shutdown: OnShutdown::Hang,
        ..Life::default()
    };
    let spec = SupervisorSpec::new(SupervisorFlags::new(Strategy::SimpleOneForOne))
        .child(worker("job", lab.living(hung)).with_shutdown(Shutdown::millis(300)));
    let sup = root(spec).await;
    sup.start_dynamic_child(None).await.unwrap();
    sup.start_dynamic_child(None).await.unwrap();
    let t0 = Instant::now();
    stop(&sup).await;
    assert_eq!(t0.elapsed(), Duration::from_millis(300));
    let kills = lab
        .take()
        .into_iter()
        .filter(|e| e.starts_with("kill"))
        .count();
    assert_eq!(kills, 2);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_stops_the_tree() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let spec = SupervisorSpec::new(one_for_one())
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()));
    let sup = root_on(spec, events.clone()).await;
    let clone = sup.clone();
    drop(sup);
    settle().await;
    assert_eq!(
        lab.journal(),
        s(&["start a", "start b"]),
        "a clone is still alive"
    );
    drop(clone);
    settle().await;
    assert_eq!(
        lab.take(),
        s(&["start a", "start b", "shutdown b", "shutdown a"])
    );
    let last = drain(&events).pop().unwrap();
    assert_eq!(last, ("root".to_owned(), "shutdown_completed".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn an_unexpected_exit_while_stopping_is_reported_not_acted_upon() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let crashy = Life {
        on_shutdown: OnShutdown::ExitWith(ExitReason::abnormal(
            FailureKind::Crash,
            "crashed in cleanup",
        )),
        ..Life::default()
    };
    let spec = SupervisorSpec::new(one_for_one()).child(worker("a", lab.living(crashy)));
    let sup = root_on(spec, events.clone()).await;
    sup.terminate_child("a").await.unwrap();
    let a = &sup.which_children().await.unwrap()[0];
    assert_eq!(a.status, ChildStatus::Stopped);
    assert_eq!(a.restarts, 0);
    assert_eq!(
        a.last_exit.as_ref().and_then(ExitReason::failure_kind),
        Some(FailureKind::Crash)
    );
    let exits = drain(&events)
        .into_iter()
        .filter(|(_, e)| e == "child_exited")
        .count();
    assert_eq!(exits, 1);
}

//! Each strategy: base case, intensity reached, escalation, another child failing
//! during the restart.

use std::time::Duration;

use serde_json::json;

use super::lab::{Lab, Life, OnShutdown, Step, root, s, settle, stop, wait, worker};
use crate::{
    ChildSpec, ChildStatus, ExitReason, FailureKind, Restart, ShutdownCause, StartedChild,
    Strategy, SupervisorFlags, SupervisorHandle, SupervisorSpec,
};

fn flags(strategy: Strategy, intensity: u32) -> SupervisorFlags {
    SupervisorFlags::new(strategy).with_intensity(intensity, Duration::from_secs(60))
}

async fn abc(lab: &Lab, strategy: Strategy, intensity: u32) -> SupervisorHandle {
    let spec = SupervisorSpec::new(flags(strategy, intensity))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()))
        .child(worker("c", lab.child()));
    let sup = root(spec).await;
    assert_eq!(lab.take(), s(&["start a", "start b", "start c"]));
    sup
}

async fn generations(sup: &SupervisorHandle) -> Vec<Option<u64>> {
    sup.which_children()
        .await
        .unwrap()
        .iter()
        .map(|c| c.generation)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn one_for_one_restarts_only_the_failed_child() {
    let lab = Lab::new();
    let sup = abc(&lab, Strategy::OneForOne, 5).await;
    let before = generations(&sup).await;
    lab.crash("b");
    let after = generations(&sup).await;
    assert_eq!(lab.take(), s(&["start b"]));
    assert_eq!(after[0], before[0]);
    assert!(after[1] > before[1]);
    assert_eq!(after[2], before[2]);
}

#[tokio::test(start_paused = true)]
async fn one_for_all_restarts_everyone_in_order() {
    let lab = Lab::new();
    let sup = abc(&lab, Strategy::OneForAll, 5).await;
    let before = generations(&sup).await;
    lab.crash("b");
    let after = generations(&sup).await;
    assert_eq!(
        lab.take(),
        s(&["shutdown c", "shutdown a", "start a", "start b", "start c"])
    );
    assert!(before.iter().zip(&after).all(|(b, a)| a > b));
    let restarts: Vec<u64> = sup
        .which_children()
        .await
        .unwrap()
        .iter()
        .map(|c| c.restarts)
        .collect();
    assert_eq!(
        restarts,
        vec![0, 1, 0],
        "only the failed child's restart is counted"
    );
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_failed_child_and_those_after_it() {
    let lab = Lab::new();
    let sup = abc(&lab, Strategy::RestForOne, 5).await;
    let before = generations(&sup).await;
    lab.crash("b");
    let after = generations(&sup).await;
    assert_eq!(lab.take(), s(&["shutdown c", "start b", "start c"]));
    assert_eq!(after[0], before[0]);
    assert!(after[1] > before[1] && after[2] > before[2]);
    // The last child's failure touches nobody else.
    lab.crash("c");
    sup.count_children().await.unwrap();
    assert_eq!(lab.take(), s(&["start c"]));
}

#[tokio::test(start_paused = true)]
async fn simple_one_for_one_restarts_the_dynamic_child_with_its_arguments() {
    let lab = Lab::new();
    let spec =
        SupervisorSpec::new(flags(Strategy::SimpleOneForOne, 5)).child(worker("pool", lab.child()));
    let sup = root(spec).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let started = sup.start_dynamic_child(Some(json!(n))).await.unwrap();
        ids.push(started.id().to_string());
    }
    assert_eq!(ids, s(&["pool-1", "pool-2", "pool-3"]));
    assert_eq!(
        lab.take(),
        s(&["start pool-1 1", "start pool-2 2", "start pool-3 3"])
    );
    lab.crash("pool-2");
    let children = sup.which_children().await.unwrap();
    assert_eq!(lab.take(), s(&["start pool-2 2"]));
    let restarts: Vec<(String, u64)> = children
        .iter()
        .map(|c| (c.id.to_string(), c.restarts))
        .collect();
    assert_eq!(
        restarts,
        vec![
            ("pool-1".into(), 0),
            ("pool-2".into(), 1),
            ("pool-3".into(), 0)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn temporary_dynamic_children_are_forgotten_when_they_exit() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(flags(Strategy::SimpleOneForOne, 5))
        .child(worker("job", lab.child()).with_restart(Restart::Temporary));
    let sup = root(spec).await;
    sup.start_dynamic_child(Some(json!("x"))).await.unwrap();
    sup.start_dynamic_child(None).await.unwrap();
    lab.crash("job-1");
    lab.exit("job-2", ExitReason::Normal);
    let counts = sup.count_children().await.unwrap();
    assert_eq!((counts.specs, counts.active, counts.workers), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn every_strategy_gives_up_when_intensity_is_reached() {
    for strategy in [
        Strategy::OneForOne,
        Strategy::OneForAll,
        Strategy::RestForOne,
    ] {
        let lab = Lab::new();
        let sup = abc(&lab, strategy, 1).await;
        lab.crash("a");
        settle().await;
        lab.crash("a");
        let exit = wait(&sup).await;
        assert_eq!(exit.cause, ShutdownCause::IntensityReached, "{strategy}");
        let journal = lab.take();
        let tail: Vec<&str> = journal.iter().rev().take(2).map(String::as_str).collect();
        assert_eq!(
            tail,
            vec!["shutdown b", "shutdown c"],
            "{strategy}: reverse order"
        );
    }
    let lab = Lab::new();
    let spec =
        SupervisorSpec::new(flags(Strategy::SimpleOneForOne, 1)).child(worker("pool", lab.child()));
    let sup = root(spec).await;
    for _ in 0..3 {
        sup.start_dynamic_child(None).await.unwrap();
    }
    lab.crash("pool-1");
    settle().await;
    lab.crash("pool-3");
    assert_eq!(wait(&sup).await.cause, ShutdownCause::IntensityReached);
    let stops: Vec<String> = lab
        .take()
        .into_iter()
        .filter(|e| e.starts_with("shutdown"))
        .collect();
    assert_eq!(stops.len(), 2, "the two live children were stopped");
}

/// A tree `root(one_for_one) → mid(strategy, intensity 1) → a, b`.
async fn escalation_tree(lab: &Lab, strategy: Strategy, restart: Restart) -> SupervisorHandle {
    let mid = SupervisorSpec::new(flags(strategy, 1))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()));
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne, 1))
        .child(worker("first", lab.child()))
        .child(ChildSpec::supervisor("mid", mid).with_restart(restart));
    let sup = root(spec).await;
    lab.take();
    sup
}

#[tokio::test(start_paused = true)]
async fn every_strategy_escalates_to_a_permanent_parent_which_restarts_the_subtree() {
    for strategy in [
        Strategy::OneForOne,
        Strategy::OneForAll,
        Strategy::RestForOne,
    ] {
        let lab = Lab::new();
        let sup = escalation_tree(&lab, strategy, Restart::Permanent).await;
        let mid_before = sup.which_children().await.unwrap()[1].generation;
        lab.crash("b");
        settle().await;
        lab.crash("b");
        settle().await;
        let children = sup.which_children().await.unwrap();
        assert_eq!(children[1].status, ChildStatus::Running, "{strategy}");
        assert_eq!(children[1].restarts, 1, "{strategy}");
        assert!(children[1].generation > mid_before, "{strategy}");
        assert_eq!(
            children[1].last_exit,
            Some(ExitReason::Shutdown),
            "{strategy}: a supervisor that gives up exits with shutdown"
        );
        let journal = lab.take();
        assert_eq!(
            journal[journal.len() - 3..].to_vec(),
            s(&["shutdown a", "start a", "start b"]),
            "{strategy}"
        );
        // A second escalation within the root's period is one restart too many for it.
        lab.crash("b");
        settle().await;
        lab.crash("b");
        assert_eq!(
            wait(&sup).await.cause,
            ShutdownCause::IntensityReached,
            "{strategy}"
        );
        assert_eq!(
            lab.take().last().map(String::as_str),
            Some("shutdown first")
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_transient_supervisor_that_gives_up_is_not_restarted() {
    // Its exit reason is `shutdown`, which is not abnormal (OTP).
    let lab = Lab::new();
    let sup = escalation_tree(&lab, Strategy::OneForOne, Restart::Transient).await;
    lab.crash("a");
    settle().await;
    lab.crash("a");
    settle().await;
    let children = sup.which_children().await.unwrap();
    assert_eq!(children[1].status, ChildStatus::Stopped);
    assert_eq!(children[1].restarts, 0);
    assert!(sup.exit().is_none(), "the root goes on");
}

#[tokio::test(start_paused = true)]
async fn one_for_all_another_child_fails_to_start_during_the_restart() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(flags(Strategy::OneForAll, 5))
        .child(worker("a", lab.child()))
        .child(worker(
            "b",
            lab.scripted([Step::run(), Step::Fail("dependency down"), Step::run()]),
        ))
        .child(worker("c", lab.child()));
    let sup = root(spec).await;
    lab.take();
    lab.crash("a");
    settle().await;
    assert_eq!(
        lab.take(),
        s(&[
            "shutdown c",
            "shutdown b",
            "start a",
            "start-failed b",
            // try_again for b: the group is restarted again
            "shutdown a",
            "start a",
            "start b",
            "start c",
        ])
    );
    let children = sup.which_children().await.unwrap();
    assert!(children.iter().all(|c| c.status == ChildStatus::Running));
    let health = sup.health_report().await.unwrap();
    assert_eq!(health.restarts_total, 2);
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_another_child_fails_to_start_during_the_restart() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(flags(Strategy::RestForOne, 5))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()))
        .child(worker(
            "c",
            lab.scripted([Step::run(), Step::Fail("not yet"), Step::run()]),
        ));
    let sup = root(spec).await;
    lab.take();
    lab.crash("b");
    settle().await;
    // The retry restarts from the child that failed to start, not from b.
    assert_eq!(
        lab.take(),
        s(&["shutdown c", "start b", "start-failed c", "start c"])
    );
    assert!(
        sup.which_children()
            .await
            .unwrap()
            .iter()
            .all(|c| c.status == ChildStatus::Running)
    );
}

#[tokio::test(start_paused = true)]
async fn a_sibling_dying_while_the_group_is_stopped_is_absorbed_by_the_restart() {
    // Like OTP's unlink_flush: an exit of a child being terminated is its
    // termination, not a second restart.
    let lab = Lab::new();
    let sup = abc(&lab, Strategy::OneForAll, 5).await;
    lab.crash("a");
    lab.crash("c");
    settle().await;
    let children = sup.which_children().await.unwrap();
    assert!(children.iter().all(|c| c.status == ChildStatus::Running));
    let restarts: Vec<u64> = children.iter().map(|c| c.restarts).collect();
    assert_eq!(restarts, vec![1, 0, 0]);
    // c was already dead: it is asked to stop (a no-op), then everyone starts.
    assert_eq!(
        lab.take(),
        s(&["shutdown c", "shutdown b", "start a", "start b", "start c"])
    );
}

#[tokio::test(start_paused = true)]
async fn a_sibling_crashing_during_its_shutdown_is_still_part_of_the_restart() {
    let lab = Lab::new();
    let crashy = Life {
        on_shutdown: OnShutdown::ExitWith(ExitReason::abnormal(
            FailureKind::Crash,
            "crash in cleanup",
        )),
        ..Life::default()
    };
    let spec = SupervisorSpec::new(flags(Strategy::OneForAll, 5))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.living(crashy)));
    let sup = root(spec).await;
    lab.take();
    lab.crash("a");
    settle().await;
    assert_eq!(lab.take(), s(&["shutdown b", "start a", "start b"]));
    let health = sup.health_report().await.unwrap();
    assert_eq!(health.restarts_total, 1);
}

#[tokio::test(start_paused = true)]
async fn one_for_all_also_starts_children_that_were_stopped() {
    // OTP's start_children/2 starts every child of the group, even one that was
    // terminated by hand before.
    let lab = Lab::new();
    let sup = abc(&lab, Strategy::OneForAll, 5).await;
    sup.terminate_child("c").await.unwrap();
    lab.crash("a");
    settle().await;
    assert_eq!(
        lab.take(),
        s(&["shutdown c", "shutdown b", "start a", "start b", "start c"])
    );
    let status: Vec<ChildStatus> = sup
        .which_children()
        .await
        .unwrap()
        .iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(status, vec![ChildStatus::Running; 3]);
}

#[tokio::test(start_paused = true)]
async fn start_child_appends_to_the_start_order() {
    let lab = Lab::new();
    let sup = abc(&lab, Strategy::RestForOne, 5).await;
    let started = sup.start_child(worker("d", lab.child())).await.unwrap();
    assert!(matches!(started, StartedChild::Running { ref id, .. } if id.as_str() == "d"));
    lab.take();
    lab.crash("c");
    sup.count_children().await.unwrap();
    assert_eq!(lab.take(), s(&["shutdown d", "start c", "start d"]));
    stop(&sup).await;
    assert_eq!(
        lab.take(),
        s(&["shutdown d", "shutdown c", "shutdown b", "shutdown a"])
    );
}

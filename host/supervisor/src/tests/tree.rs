//! Nested trees: dynamic children are not restarted with the tree, kills reach
//! grandchildren, generations.

use std::time::Duration;

use super::lab::{Lab, Life, OnShutdown, drain, root, root_on, s, settle, stop, wait, worker};
use crate::testing::EventRecorder;
use crate::{
    ChildSpec, ChildStatus, Restart, Shutdown, ShutdownCause, Strategy, SupervisorFlags,
    SupervisorSpec,
};

fn flags(strategy: Strategy) -> SupervisorFlags {
    SupervisorFlags::new(strategy).with_intensity(10, Duration::from_secs(60))
}

#[tokio::test(start_paused = true)]
async fn dynamic_children_of_a_nested_pool_are_not_restarted_with_the_tree() {
    let lab = Lab::new();
    let pool =
        SupervisorSpec::new(flags(Strategy::SimpleOneForOne)).child(worker("job", lab.child()));
    let spec = SupervisorSpec::new(flags(Strategy::OneForAll))
        .child(ChildSpec::supervisor("pool", pool))
        .child(worker("w", lab.child()));
    let sup = root(spec).await;
    let pool = sup.child_supervisor("pool").await.unwrap();
    for _ in 0..3 {
        pool.start_dynamic_child(None).await.unwrap();
    }
    assert_eq!(pool.count_children().await.unwrap().active, 3);
    lab.take();
    lab.crash("w");
    settle().await;
    // The old pool stopped its three children; the new pool starts empty.
    assert!(wait(&pool).await.cause == ShutdownCause::Requested);
    let new_pool = sup.child_supervisor("pool").await.unwrap();
    assert_eq!(new_pool.count_children().await.unwrap().active, 0);
    let journal = lab.take();
    assert_eq!(
        journal
            .iter()
            .filter(|e| e.starts_with("shutdown job-"))
            .count(),
        3
    );
    assert_eq!(journal.last().map(String::as_str), Some("start w"));
    assert!(!journal.iter().any(|e| e.starts_with("start job")));
}

#[tokio::test(start_paused = true)]
async fn killing_a_nested_supervisor_kills_its_children() {
    let lab = Lab::new();
    let stubborn = Life {
        on_shutdown: OnShutdown::Hang,
        ..Life::default()
    };
    let inner = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("x", lab.child()))
        .child(worker("y", lab.living(stubborn)).with_shutdown(Shutdown::Infinity));
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(ChildSpec::supervisor("mid", inner).with_shutdown(Shutdown::millis(100)));
    let sup = root(spec).await;
    let mid = sup.child_supervisor("mid").await.unwrap();
    let t0 = tokio::time::Instant::now();
    stop(&sup).await;
    assert_eq!(t0.elapsed(), Duration::from_millis(100));
    let mut journal = lab.take();
    // mid asks y to stop and waits forever; the root kills mid after 100 ms, and
    // mid kills what it still holds.
    assert_eq!(
        journal[..3].to_vec(),
        s(&["start x", "start y", "shutdown y"])
    );
    journal.drain(..3);
    journal.sort();
    assert_eq!(journal, s(&["kill x", "kill y"]));
    assert_eq!(wait(&mid).await.cause, ShutdownCause::Killed);
}

#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_stops_its_subtree_in_reverse_order() {
    let lab = Lab::new();
    let inner = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("x", lab.child()))
        .child(worker("y", lab.child()));
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("a", lab.child()))
        .child(ChildSpec::supervisor("mid", inner))
        .child(worker("z", lab.child()));
    let sup = root(spec).await;
    stop(&sup).await;
    assert_eq!(
        lab.take(),
        s(&[
            "start a",
            "start x",
            "start y",
            "start z",
            "shutdown z",
            "shutdown y",
            "shutdown x",
            "shutdown a"
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn generations_are_unique_and_increase() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let spec = SupervisorSpec::new(flags(Strategy::OneForAll))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()));
    let sup = root_on(spec, events.clone()).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let gens: Vec<u64> = sup
            .which_children()
            .await
            .unwrap()
            .iter()
            .filter_map(|c| c.generation)
            .collect();
        seen.extend(gens);
        lab.crash("a");
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "unique");
    assert_eq!(seen, sorted, "increasing");
    let names: Vec<String> = drain(&events)
        .into_iter()
        .filter(|(p, _)| p == "root/a")
        .map(|(_, e)| e)
        .collect();
    assert_eq!(
        names[..4].to_vec(),
        s(&[
            "child_started",
            "child_exited",
            "child_restarted",
            "child_exited"
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn a_temporary_nested_supervisor_is_dropped_when_it_stops() {
    let lab = Lab::new();
    let inner = SupervisorSpec::new(flags(Strategy::OneForOne)).child(worker("x", lab.child()));
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(ChildSpec::supervisor("tmp", inner).with_restart(Restart::Temporary))
        .child(worker("w", lab.child()));
    let sup = root(spec).await;
    sup.child_supervisor("tmp").await.unwrap().stop().await;
    settle().await;
    let children = sup.which_children().await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].status, ChildStatus::Running);
}

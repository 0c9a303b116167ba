//! The admin API and OTP's errors; fault injection; path lookup.

use std::time::Duration;

use serde_json::json;

use super::lab::{
    Lab, Life, OnShutdown, Step, drain_json, root, root_on, s, settle, stop, wait, worker,
};
use crate::testing::EventRecorder;
use crate::{
    AdminError, Backoff, ChildCounts, ChildKind, ChildSpec, ChildStatus, ExitReason, FailureKind,
    Fault, InjectError, Restart, Shutdown, StartError, StartedChild, Strategy, SupervisorFlags,
    SupervisorSpec,
};

fn flags(strategy: Strategy) -> SupervisorFlags {
    SupervisorFlags::new(strategy).with_intensity(10, Duration::from_secs(5))
}

#[tokio::test(start_paused = true)]
async fn start_terminate_restart_delete_with_otps_errors() {
    let lab = Lab::new();
    let sup = root(SupervisorSpec::new(flags(Strategy::OneForOne))).await;

    let started = sup.start_child(worker("a", lab.child())).await.unwrap();
    assert!(matches!(started, StartedChild::Running { ref id, .. } if id.as_str() == "a"));
    let err = sup.start_child(worker("a", lab.child())).await.unwrap_err();
    assert!(matches!(err, AdminError::AlreadyStarted { ref id } if id.as_str() == "a"));
    assert!(matches!(
        sup.restart_child("a").await,
        Err(AdminError::Running { .. })
    ));
    assert!(matches!(
        sup.delete_child("a").await,
        Err(AdminError::Running { .. })
    ));

    sup.terminate_child("a").await.unwrap();
    let err = sup.start_child(worker("a", lab.child())).await.unwrap_err();
    assert!(matches!(err, AdminError::AlreadyPresent { .. }));
    assert_eq!(
        err.to_string(),
        "child `a` is already present; restart or delete it"
    );
    // terminating a stopped child is fine
    sup.terminate_child("a").await.unwrap();

    let restarted = sup.restart_child("a").await.unwrap();
    assert!(restarted.generation().unwrap() > started.generation().unwrap());
    sup.terminate_child("a").await.unwrap();
    sup.delete_child("a").await.unwrap();

    assert!(matches!(
        sup.delete_child("a").await,
        Err(AdminError::NotFound { .. })
    ));
    assert!(matches!(
        sup.restart_child("a").await,
        Err(AdminError::NotFound { .. })
    ));
    assert!(matches!(
        sup.terminate_child("a").await,
        Err(AdminError::NotFound { .. })
    ));
    assert_eq!(
        lab.take(),
        s(&["start a", "shutdown a", "start a", "shutdown a"])
    );
}

#[tokio::test(start_paused = true)]
async fn restart_and_delete_refuse_a_restarting_child() {
    let lab = Lab::new();
    let backoff = Backoff {
        initial: Duration::from_secs(10),
        jitter: 0.0,
        ..Backoff::default()
    };
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("a", lab.child()).with_backoff(backoff));
    let sup = root(spec).await;
    lab.crash("a");
    assert_eq!(
        sup.which_children().await.unwrap()[0].status,
        ChildStatus::Restarting
    );
    assert!(matches!(
        sup.restart_child("a").await,
        Err(AdminError::Restarting { .. })
    ));
    assert!(matches!(
        sup.delete_child("a").await,
        Err(AdminError::Restarting { .. })
    ));
    assert!(matches!(
        sup.start_child(worker("a", lab.child())).await,
        Err(AdminError::AlreadyPresent { .. })
    ));
    // terminate_child cancels the pending restart
    sup.terminate_child("a").await.unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        sup.which_children().await.unwrap()[0].status,
        ChildStatus::Stopped
    );
    assert_eq!(lab.take(), s(&["start a"]));
}

#[tokio::test(start_paused = true)]
async fn start_child_errors_and_ignore() {
    let lab = Lab::new();
    let sup = root(SupervisorSpec::new(flags(Strategy::OneForOne))).await;
    let err = sup
        .start_child(worker("bad", lab.scripted([Step::Fail("port in use")])))
        .await
        .unwrap_err();
    match &err {
        AdminError::StartFailed { id, source } => {
            assert_eq!(id.as_str(), "bad");
            assert!(matches!(source, StartError::Failed { message } if message == "port in use"));
        }
        other => panic!("{other:?}"),
    }
    // A failed start is not saved.
    assert!(matches!(
        sup.delete_child("bad").await,
        Err(AdminError::NotFound { .. })
    ));

    let ignored = sup
        .start_child(worker("i", lab.scripted([Step::Ignore])))
        .await
        .unwrap();
    assert_eq!(ignored, StartedChild::Ignored { id: "i".into() });
    let temp = sup
        .start_child(worker("t", lab.scripted([Step::Ignore])).with_restart(Restart::Temporary))
        .await
        .unwrap();
    assert!(matches!(temp, StartedChild::Ignored { .. }));
    let ids: Vec<String> = sup
        .which_children()
        .await
        .unwrap()
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(ids, s(&["i"]), "an ignored temporary child is not kept");
}

#[tokio::test(start_paused = true)]
async fn terminating_a_temporary_child_forgets_it() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("p", lab.child()))
        .child(worker("t", lab.child()).with_restart(Restart::Temporary));
    let sup = root(spec).await;
    sup.terminate_child("t").await.unwrap();
    sup.terminate_child("p").await.unwrap();
    let children = sup.which_children().await.unwrap();
    let view: Vec<(String, ChildStatus)> = children
        .iter()
        .map(|c| (c.id.to_string(), c.status))
        .collect();
    assert_eq!(view, vec![("p".to_owned(), ChildStatus::Stopped)]);
    assert_eq!(children[0].last_exit, Some(ExitReason::Shutdown));
}

#[tokio::test(start_paused = true)]
async fn simple_one_for_one_admin_rules() {
    let lab = Lab::new();
    let spec =
        SupervisorSpec::new(flags(Strategy::SimpleOneForOne)).child(worker("w", lab.child()));
    let sup = root(spec).await;
    assert!(matches!(
        sup.start_child(worker("x", lab.child())).await,
        Err(AdminError::SimpleOneForOne { .. })
    ));
    let started = sup.start_dynamic_child(None).await.unwrap();
    assert!(matches!(
        sup.restart_child(started.id().clone()).await,
        Err(AdminError::SimpleOneForOne { .. })
    ));
    assert!(matches!(
        sup.delete_child(started.id().clone()).await,
        Err(AdminError::SimpleOneForOne { .. })
    ));
    assert!(matches!(
        sup.terminate_child("w").await,
        Err(AdminError::SimpleOneForOne { .. })
    ));

    let named = sup
        .start_dynamic_child_named("session-7", Some(json!({"user": 7})))
        .await
        .unwrap();
    assert_eq!(named.id().as_str(), "session-7");
    assert!(matches!(
        sup.start_dynamic_child_named("session-7", None).await,
        Err(AdminError::AlreadyStarted { .. })
    ));
    assert!(matches!(
        sup.start_dynamic_child_named("a/b", None).await,
        Err(AdminError::InvalidSpec(_))
    ));
    assert_eq!(
        sup.count_children().await.unwrap(),
        ChildCounts {
            specs: 1,
            active: 2,
            supervisors: 0,
            workers: 2
        }
    );
    sup.terminate_child(started.id().clone()).await.unwrap();
    assert!(matches!(
        sup.terminate_child(started.id().clone()).await,
        Err(AdminError::NotFound { .. })
    ));
    assert_eq!(sup.count_children().await.unwrap().active, 1);
    assert_eq!(
        lab.take(),
        s(&["start w-1", "start session-7 {\"user\":7}", "shutdown w-1"])
    );

    let other = root(SupervisorSpec::new(flags(Strategy::OneForOne))).await;
    assert!(matches!(
        other.start_dynamic_child(None).await,
        Err(AdminError::NotSimpleOneForOne { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn which_and_count_children() {
    let lab = Lab::new();
    let inner = SupervisorSpec::new(flags(Strategy::OneForOne)).child(worker("x", lab.child()));
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("a", lab.child()))
        .child(ChildSpec::supervisor("sub", inner))
        .child(worker("i", lab.scripted([Step::Ignore])));
    let sup = root(spec).await;
    let children = sup.which_children().await.unwrap();
    let view: Vec<(String, ChildKind, ChildStatus)> = children
        .iter()
        .map(|c| (c.id.to_string(), c.kind, c.status))
        .collect();
    assert_eq!(
        view,
        vec![
            ("a".to_owned(), ChildKind::Worker, ChildStatus::Running),
            (
                "sub".to_owned(),
                ChildKind::Supervisor,
                ChildStatus::Running
            ),
            ("i".to_owned(), ChildKind::Worker, ChildStatus::Stopped),
        ]
    );
    assert_eq!(children[0].info, json!({"test": "a"}));
    assert_eq!(children[1].info, json!({"supervisor": "root/sub"}));
    assert_eq!(
        sup.count_children().await.unwrap(),
        ChildCounts {
            specs: 3,
            active: 2,
            supervisors: 1,
            workers: 2
        }
    );
}

#[tokio::test(start_paused = true)]
async fn injected_faults() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("a", lab.child()))
        .child(worker("h", lab.child()).with_shutdown(Shutdown::millis(200)));
    let sup = root_on(spec, events.clone()).await;
    let generation = sup.inject_fault("a", Fault::Trap).await.unwrap();
    let a = &sup.which_children().await.unwrap()[0];
    assert_eq!(a.restarts, 1);
    assert_eq!(
        a.last_exit.as_ref().and_then(ExitReason::failure_kind),
        Some(FailureKind::Child(super::lab::TRAP))
    );
    let json = drain_json(&events);
    let injected = json
        .iter()
        .find(|e| e["event"] == "failure_injected")
        .unwrap();
    assert_eq!(injected["path"], "root/a");
    assert_eq!(injected["fault"], "trap");
    assert_eq!(injected["generation"], generation);

    sup.inject_fault("a", Fault::Kill).await.unwrap();
    let a = &sup.which_children().await.unwrap()[0];
    assert_eq!(
        a.last_exit.as_ref().and_then(ExitReason::failure_kind),
        Some(FailureKind::Killed)
    );
    assert_eq!(a.restarts, 2);

    // A hung child ignores its shutdown and ends killed.
    sup.inject_fault("h", Fault::Hang).await.unwrap();
    let t0 = tokio::time::Instant::now();
    sup.terminate_child("h").await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_millis(200));
    let journal = lab.take();
    assert_eq!(
        journal[journal.len() - 3..].to_vec(),
        s(&["inject h hang", "shutdown h", "kill h"])
    );

    assert!(matches!(
        sup.inject_fault("h", Fault::Trap).await,
        Err(AdminError::NotRunning { .. })
    ));
    assert!(matches!(
        sup.inject_fault("zz", Fault::Trap).await,
        Err(AdminError::NotFound { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn faults_on_a_nested_supervisor() {
    let lab = Lab::new();
    let inner = SupervisorSpec::new(flags(Strategy::OneForOne)).child(worker("x", lab.child()));
    let spec =
        SupervisorSpec::new(flags(Strategy::OneForOne)).child(ChildSpec::supervisor("sub", inner));
    let sup = root(spec).await;
    let err = sup.inject_fault("sub", Fault::Trap).await.unwrap_err();
    assert!(matches!(
        err,
        AdminError::Inject {
            source: InjectError::Unsupported { fault: Fault::Trap },
            ..
        }
    ));
    sup.inject_fault("sub", Fault::Kill).await.unwrap();
    settle().await;
    let sub = &sup.which_children().await.unwrap()[0];
    assert_eq!(sub.restarts, 1);
    assert_eq!(
        sub.last_exit.as_ref().and_then(ExitReason::failure_kind),
        Some(FailureKind::Killed)
    );
    assert_eq!(lab.take(), s(&["start x", "kill x", "start x"]));
}

#[tokio::test(start_paused = true)]
async fn paths_resolve_to_nested_supervisors_and_children() {
    let lab = Lab::new();
    let workers =
        SupervisorSpec::new(flags(Strategy::OneForOne)).child(worker("counter", lab.child()));
    let middle = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(ChildSpec::supervisor("workers", workers));
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(ChildSpec::supervisor("mid", middle))
        .child(worker("plain", lab.child()));
    let sup = root(spec).await;
    assert_eq!(sup.path(), "root");
    let w = sup.supervisor_at("root/mid/workers").await.unwrap();
    assert_eq!(w.path(), "root/mid/workers");
    assert_eq!(sup.supervisor_at("root").await.unwrap().path(), "root");
    let (parent, id) = sup.child_at("root/mid/workers/counter").await.unwrap();
    assert_eq!(
        (parent.path(), id.as_str()),
        ("root/mid/workers", "counter")
    );
    parent.terminate_child(id).await.unwrap();
    assert_eq!(
        lab.take().last().map(String::as_str),
        Some("shutdown counter")
    );
    let (parent, id) = sup.child_at("root/plain").await.unwrap();
    assert_eq!((parent.path(), id.as_str()), ("root", "plain"));

    assert!(matches!(
        sup.supervisor_at("root/nope").await,
        Err(AdminError::NotFound { .. })
    ));
    assert!(matches!(
        sup.supervisor_at("root/plain").await,
        Err(AdminError::NotASupervisor { .. })
    ));
    assert!(matches!(
        sup.supervisor_at("elsewhere/mid").await,
        Err(AdminError::InvalidPath { .. })
    ));
    assert!(matches!(
        sup.supervisor_at("rootmid").await,
        Err(AdminError::InvalidPath { .. })
    ));
    assert!(matches!(
        sup.supervisor_at("root//mid").await,
        Err(AdminError::InvalidPath { .. })
    ));
    assert!(matches!(
        sup.child_at("root").await,
        Err(AdminError::InvalidPath { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_stopped_supervisor_answers_gone() {
    let lab = Lab::new();
    let sup =
        root(SupervisorSpec::new(flags(Strategy::OneForOne)).child(worker("a", lab.child()))).await;
    stop(&sup).await;
    let err = sup.which_children().await.unwrap_err();
    assert!(matches!(err, AdminError::SupervisorGone { ref path } if path == "root"));
    assert_eq!(err.to_string(), "supervisor `root` is not running");
    // stop and wait are idempotent
    assert_eq!(stop(&sup).await, wait(&sup).await);
}

#[tokio::test(start_paused = true)]
async fn a_slow_graceful_stop_of_one_child_delays_but_does_not_lose_other_exits() {
    // While the supervisor waits for one child's exit, another child's crash is set
    // aside and handled right after.
    let lab = Lab::new();
    let slow = Life {
        on_shutdown: OnShutdown::ExitAfter(Duration::from_secs(1)),
        ..Life::default()
    };
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("slow", lab.living(slow)))
        .child(worker("b", lab.child()));
    let sup = root(spec).await;
    let terminating = {
        let sup = sup.clone();
        tokio::spawn(async move { sup.terminate_child("slow").await })
    };
    settle().await;
    lab.crash("b");
    terminating.await.unwrap().unwrap();
    let children = sup.which_children().await.unwrap();
    assert_eq!(children[1].restarts, 1);
    assert_eq!(children[1].status, ChildStatus::Running);
    assert_eq!(
        lab.take(),
        s(&["start slow", "start b", "shutdown slow", "start b"])
    );
}

#[tokio::test(start_paused = true)]
async fn a_forgotten_child_is_announced_as_removed() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let sup = root_on(
        SupervisorSpec::new(flags(Strategy::OneForOne)),
        events.clone(),
    )
    .await;
    // Only what happens after the start counts.
    events.take();
    sup.start_child(worker("kept", lab.child())).await.unwrap();
    sup.start_child(worker("temp", lab.child()).with_restart(Restart::Temporary))
        .await
        .unwrap();
    // A temporary child that exits is forgotten; a deleted one too.
    lab.exit("temp", ExitReason::Normal);
    settle().await;
    sup.terminate_child("kept").await.unwrap();
    sup.delete_child("kept").await.unwrap();
    let removed: Vec<String> = super::lab::drain(&events)
        .into_iter()
        .filter(|(_, kind)| kind == "child_removed")
        .map(|(path, _)| path)
        .collect();
    assert_eq!(removed, s(&["root/temp", "root/kept"]));
    stop(&sup).await;
}

//! Starting a supervisor: order, init failures, ignore, faulty specs.

use std::str::FromStr;
use std::time::Duration;

use super::lab::{Lab, Step, root, s, stop, worker};
use crate::testing::EventRecorder;
use crate::{
    AdminError, Backoff, ChildSpec, ChildStatus, Restart, Shutdown, ShutdownCause, SpecError,
    StartError, StormAction, StormConfig, Strategy, SupervisorFlags, SupervisorSpec, start_root,
};

fn flags(strategy: Strategy) -> SupervisorFlags {
    SupervisorFlags::new(strategy)
}

#[tokio::test(start_paused = true)]
async fn children_start_in_order_and_stop_in_reverse() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()))
        .child(worker("c", lab.child()));
    let sup = root(spec).await;
    assert_eq!(lab.take(), s(&["start a", "start b", "start c"]));
    let ids: Vec<String> = sup
        .which_children()
        .await
        .unwrap()
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(ids, s(&["a", "b", "c"]));
    let exit = stop(&sup).await;
    assert_eq!(lab.take(), s(&["shutdown c", "shutdown b", "shutdown a"]));
    assert_eq!(exit.cause, ShutdownCause::Requested);
    assert_eq!(exit.reason, crate::ExitReason::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn init_failure_stops_started_children_in_reverse_and_fails() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()))
        .child(worker("c", lab.scripted([Step::Fail("no database")])))
        .child(worker("d", lab.child()));
    let err = start_root("root", spec, EventRecorder::new())
        .await
        .unwrap_err();
    match &err {
        StartError::Child { path, source } => {
            assert_eq!(path.to_string(), "root/c");
            assert!(
                matches!(&**source, StartError::Failed { message } if message == "no database")
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "child `root/c` failed to start: no database"
    );
    assert_eq!(
        lab.take(),
        s(&[
            "start a",
            "start b",
            "start-failed c",
            "shutdown b",
            "shutdown a"
        ])
    );
}

#[tokio::test(start_paused = true)]
async fn a_panicking_start_is_a_start_error() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.scripted([Step::Panic])));
    let err = start_root("root", spec, EventRecorder::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StartError::Child { source, .. } if matches!(**source, StartError::Panicked { .. })),
        "{err:?}"
    );
    assert_eq!(
        lab.take(),
        s(&["start a", "start-panicked b", "shutdown a"])
    );
}

#[tokio::test(start_paused = true)]
async fn ignored_children_keep_their_spec_unless_temporary() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("a", lab.scripted([Step::Ignore, Step::run()])))
        .child(worker("t", lab.scripted([Step::Ignore])).with_restart(Restart::Temporary))
        .child(worker("b", lab.child()));
    let sup = root(spec).await;
    assert_eq!(lab.take(), s(&["ignore a", "ignore t", "start b"]));
    let children = sup.which_children().await.unwrap();
    let view: Vec<(String, ChildStatus)> = children
        .iter()
        .map(|c| (c.id.to_string(), c.status))
        .collect();
    assert_eq!(
        view,
        vec![
            ("a".to_owned(), ChildStatus::Stopped),
            ("b".to_owned(), ChildStatus::Running)
        ]
    );
    let counts = sup.count_children().await.unwrap();
    assert_eq!((counts.specs, counts.active, counts.workers), (2, 1, 2));
    // The kept spec can be started by hand.
    assert!(sup.restart_child("a").await.unwrap().generation().is_some());
    assert_eq!(lab.take(), s(&["start a"]));
}

#[tokio::test(start_paused = true)]
async fn nested_init_failure_names_the_offender_path() {
    let lab = Lab::new();
    let inner = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("ok", lab.child()))
        .child(worker("bad", lab.scripted([Step::Fail("bad config")])));
    let spec = SupervisorSpec::new(flags(Strategy::OneForOne))
        .child(worker("first", lab.child()))
        .child(ChildSpec::supervisor("workers", inner));
    let err = start_root("root", spec, EventRecorder::new())
        .await
        .unwrap_err();
    let StartError::Child { path, source } = &err else {
        panic!("unexpected {err:?}")
    };
    assert_eq!(path.to_string(), "root/workers");
    let StartError::Child { path, .. } = &**source else {
        panic!("unexpected {source:?}")
    };
    assert_eq!(path.to_string(), "root/workers/bad");
    assert_eq!(
        lab.take(),
        s(&[
            "start first",
            "start ok",
            "start-failed bad",
            "shutdown ok",
            "shutdown first"
        ])
    );
}

async fn spec_error(spec: SupervisorSpec) -> SpecError {
    match start_root("root", spec, EventRecorder::new()).await {
        Err(StartError::Spec(e)) => e,
        Err(other) => panic!("expected a spec error, got {other:?}"),
        Ok(_) => panic!("expected a spec error, the supervisor started"),
    }
}

#[tokio::test(start_paused = true)]
async fn faulty_specs_are_rejected_naming_the_offender() {
    let lab = Lab::new();
    let one = |id: &str| worker(id, lab.child());

    let e = spec_error(
        SupervisorSpec::new(flags(Strategy::OneForOne))
            .child(one("a"))
            .child(one("")),
    )
    .await;
    assert_eq!(e, SpecError::MissingId { index: 1 });

    let e = spec_error(
        SupervisorSpec::new(flags(Strategy::OneForOne))
            .child(one("a"))
            .child(one("a")),
    )
    .await;
    assert_eq!(e, SpecError::DuplicateId { id: "a".into() });
    assert_eq!(e.to_string(), "duplicate child id `a`");

    let e = spec_error(SupervisorSpec::new(flags(Strategy::OneForOne)).child(one("a/b"))).await;
    assert_eq!(e, SpecError::InvalidId { id: "a/b".into() });

    let too_long = Shutdown::Timeout(Duration::from_millis(u64::from(u32::MAX) + 1));
    let e = spec_error(
        SupervisorSpec::new(flags(Strategy::OneForOne)).child(one("slow").with_shutdown(too_long)),
    )
    .await;
    assert_eq!(
        e,
        SpecError::InvalidShutdown {
            id: "slow".into(),
            value: u128::from(u32::MAX) + 1
        }
    );

    let e = spec_error(SupervisorSpec::new(flags(Strategy::SimpleOneForOne))).await;
    assert_eq!(e, SpecError::SimpleOneForOneSpecs { count: 0 });
    let e = spec_error(
        SupervisorSpec::new(flags(Strategy::SimpleOneForOne))
            .child(one("a"))
            .child(one("b")),
    )
    .await;
    assert_eq!(e, SpecError::SimpleOneForOneSpecs { count: 2 });

    let e = spec_error(SupervisorSpec::new(
        flags(Strategy::OneForOne).with_intensity(1, Duration::ZERO),
    ))
    .await;
    assert_eq!(
        e,
        SpecError::InvalidPeriod {
            period: Duration::ZERO
        }
    );

    let e = spec_error(SupervisorSpec::new(
        flags(Strategy::OneForOne).with_kill_grace(Duration::ZERO),
    ))
    .await;
    assert_eq!(
        e,
        SpecError::InvalidKillGrace {
            grace: Duration::ZERO
        }
    );

    let bad_backoff = Backoff {
        max: Duration::from_millis(1),
        initial: Duration::from_secs(1),
        ..Backoff::default()
    };
    let e = spec_error(
        SupervisorSpec::new(flags(Strategy::OneForOne)).child(one("a").with_backoff(bad_backoff)),
    )
    .await;
    assert_eq!(
        e,
        SpecError::InvalidBackoff {
            id: "a".into(),
            reason: "max must be at least initial"
        }
    );
    let nan_backoff = Backoff {
        multiplier: f64::NAN,
        ..Backoff::default()
    };
    assert!(matches!(
        spec_error(
            SupervisorSpec::new(flags(Strategy::OneForOne))
                .child(one("a").with_backoff(nan_backoff))
        )
        .await,
        SpecError::InvalidBackoff { .. }
    ));

    let no_threshold = StormConfig {
        per_minute: None,
        per_hour: None,
        action: StormAction::Log,
    };
    let e = spec_error(
        SupervisorSpec::new(flags(Strategy::OneForOne)).child(one("a").with_storm(no_threshold)),
    )
    .await;
    assert!(matches!(e, SpecError::InvalidStorm { ref id, .. } if id.as_str() == "a"));

    // Nothing was started for any of them.
    assert!(lab.journal().is_empty());
}

#[tokio::test(start_paused = true)]
async fn start_child_rejects_a_faulty_spec() {
    let lab = Lab::new();
    let sup = root(SupervisorSpec::new(flags(Strategy::OneForOne))).await;
    let err = sup.start_child(worker("", lab.child())).await.unwrap_err();
    assert!(matches!(
        err,
        AdminError::InvalidSpec(SpecError::MissingId { .. })
    ));
    assert!(lab.journal().is_empty());
}

#[test]
fn shutdown_and_strategy_words_parse_as_in_otp() {
    assert_eq!(
        Shutdown::from_str("brutal_kill").unwrap(),
        Shutdown::BrutalKill
    );
    assert_eq!(Shutdown::from_str("infinity").unwrap(), Shutdown::Infinity);
    assert_eq!(Shutdown::from_str("5000").unwrap(), Shutdown::millis(5000));
    for bad in ["-10", "forever", "", "4294967296", "1.5"] {
        let err = Shutdown::from_str(bad).unwrap_err();
        assert_eq!(err.what, "shutdown");
        assert_eq!(err.value, bad);
    }
    assert_eq!(
        Strategy::from_str("rest_for_one").unwrap(),
        Strategy::RestForOne
    );
    assert!(Strategy::from_str("one_for_none").is_err());
    assert_eq!(Restart::from_str("transient").unwrap(), Restart::Transient);
    let json: Shutdown = serde_json::from_str("\"brutal_kill\"").unwrap();
    assert_eq!(json, Shutdown::BrutalKill);
    let json: Shutdown = serde_json::from_str("250").unwrap();
    assert_eq!(json, Shutdown::millis(250));
    assert!(serde_json::from_str::<Shutdown>("-5").is_err());
    assert_eq!(serde_json::to_string(&Shutdown::millis(7)).unwrap(), "7");
}

#[test]
fn otp_defaults() {
    let lab = Lab::new();
    let w = worker("w", lab.child());
    assert_eq!(w.restart(), Restart::Permanent);
    assert_eq!(w.shutdown(), Shutdown::millis(5000));
    let sup = ChildSpec::supervisor("s", SupervisorSpec::default());
    assert_eq!(sup.shutdown(), Shutdown::Infinity);
    let f = SupervisorFlags::default();
    assert_eq!(
        (f.strategy, f.intensity, f.period),
        (Strategy::OneForOne, 1, Duration::from_secs(5))
    );
}

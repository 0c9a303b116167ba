//! Beyond OTP: backoff, storm detector, strategy change, health report, events.

use std::time::Duration;

use tokio::time::Instant;

use super::lab::{
    Lab, drain, drain_json, exact_backoff, root, root_on, s, settle, settle_ms, wait, worker,
};
use crate::testing::{EventRecorder, Recorded};
use crate::{
    Backoff, ChangeOutcome, ChildFailure, ChildPath, ChildStatus, CouplingChange, ExitReason,
    FailureKind, RecommendationCode, Restart, ShutdownCause, StormAction, StormConfig, Strategy,
    StrategyChangeOptions, SupervisorEvent, SupervisorFlags, SupervisorSpec, coupling,
};

fn loose(strategy: Strategy) -> SupervisorFlags {
    SupervisorFlags::new(strategy).with_intensity(1000, Duration::from_secs(3600))
}

fn delays(events: &[serde_json::Value]) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e["event"] == "restart_scheduled")
        .filter_map(|e| e["delay_ms"].as_u64())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn backoff_delays_grow_are_capped_and_reset_after_a_healthy_run() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne))
        .child(worker("a", lab.child()).with_backoff(exact_backoff()));
    let sup = root_on(spec, events.clone()).await;
    for _ in 0..5 {
        lab.crash("a");
        assert_eq!(
            sup.which_children().await.unwrap()[0].status,
            ChildStatus::Restarting
        );
        settle_ms(500).await;
        assert_eq!(
            sup.which_children().await.unwrap()[0].status,
            ChildStatus::Running
        );
    }
    assert_eq!(delays(&drain_json(&events)), vec![100, 200, 400, 400, 400]);
    // A run of at least reset_after resets the streak.
    tokio::time::sleep(Duration::from_secs(10)).await;
    lab.crash("a");
    settle_ms(500).await;
    let json = drain_json(&events);
    assert_eq!(delays(&json), vec![100]);
    let restarted = json
        .iter()
        .find(|e| e["event"] == "child_restarted")
        .unwrap();
    assert_eq!(restarted["delay_ms"], 100);
    assert_eq!(restarted["restarts"], 6);
}

#[tokio::test(start_paused = true)]
async fn the_backoff_delay_is_served_exactly_and_never_blocks_the_supervisor() {
    let lab = Lab::new();
    let backoff = Backoff {
        initial: Duration::from_secs(30),
        max: Duration::from_secs(30),
        jitter: 0.0,
        ..Backoff::default()
    };
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne))
        .child(worker("a", lab.child()).with_backoff(backoff))
        .child(worker("b", lab.child()));
    let sup = root(spec).await;
    lab.crash("a");
    let t0 = Instant::now();
    // Admin calls are answered at once while the restart waits.
    sup.count_children().await.unwrap();
    lab.crash("b");
    assert_eq!(
        sup.which_children().await.unwrap()[1].status,
        ChildStatus::Running
    );
    assert_eq!(t0.elapsed(), Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(29_999)).await;
    assert_eq!(
        sup.which_children().await.unwrap()[0].status,
        ChildStatus::Restarting
    );
    settle_ms(1).await;
    assert_eq!(
        sup.which_children().await.unwrap()[0].status,
        ChildStatus::Running
    );
    assert_eq!(lab.take(), s(&["start a", "start b", "start b", "start a"]));
}

#[tokio::test(start_paused = true)]
async fn a_failing_start_under_backoff_waits_longer_each_time() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let child = lab.scripted([
        super::lab::Step::run(),
        super::lab::Step::Fail("down"),
        super::lab::Step::Fail("down"),
        super::lab::Step::run(),
    ]);
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne))
        .child(worker("a", child).with_backoff(exact_backoff()));
    let sup = root_on(spec, events.clone()).await;
    lab.crash("a");
    settle_ms(2000).await;
    assert_eq!(
        sup.which_children().await.unwrap()[0].status,
        ChildStatus::Running
    );
    assert_eq!(delays(&drain_json(&events)), vec![100, 200, 400]);
}

#[test]
fn backoff_jitter_stays_in_bounds_and_extremes_do_not_panic() {
    let b = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(10),
        multiplier: 3.0,
        jitter: 0.5,
        reset_after: Duration::from_secs(1),
    };
    for attempt in 0..6u32 {
        let base = (100.0 * 3f64.powi(attempt as i32)).min(10_000.0);
        for unit in [0.0, 0.25, 0.5, 0.999] {
            let d = b.delay(attempt, unit).as_secs_f64() * 1000.0;
            assert!(
                d >= base * 0.5 - 1e-6 && d <= (base * 1.5).min(10_000.0) + 1e-6,
                "{attempt} {unit} {d}"
            );
        }
    }
    let huge = Backoff {
        multiplier: 1e300,
        max: Duration::MAX,
        ..b
    };
    assert!(huge.delay(u32::MAX, 1.0) <= Duration::MAX);
    assert_eq!(b.delay(u32::MAX, 0.5), Duration::from_secs(10));
    assert_eq!(b.delay(0, f64::NAN.clamp(0.0, 1.0)), b.delay(0, 0.5));
}

#[tokio::test(start_paused = true)]
async fn a_storm_is_logged_once_per_episode() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let storm = StormConfig {
        per_minute: Some(2),
        per_hour: None,
        action: StormAction::Log,
    };
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne))
        .child(worker("a", lab.child()).with_storm(storm));
    let sup = root_on(spec, events.clone()).await;
    for _ in 0..5 {
        lab.crash("a");
        sup.count_children().await.unwrap();
    }
    let storms: Vec<serde_json::Value> = drain_json(&events)
        .into_iter()
        .filter(|e| e["event"] == "storm_detected")
        .collect();
    assert_eq!(storms.len(), 1);
    assert_eq!(storms[0]["window"], "minute");
    assert_eq!(storms[0]["restarts"], 3);
    assert_eq!(storms[0]["threshold"], 2);
    assert_eq!(storms[0]["action"], "log");
    assert_eq!(sup.which_children().await.unwrap()[0].restarts, 5);
    // A minute later the episode is over; a new one is reported again.
    tokio::time::sleep(Duration::from_secs(61)).await;
    for _ in 0..3 {
        lab.crash("a");
        sup.count_children().await.unwrap();
    }
    let again = drain(&events)
        .into_iter()
        .filter(|(_, e)| e == "storm_detected")
        .count();
    assert_eq!(again, 1);
}

#[tokio::test(start_paused = true)]
async fn a_storm_pause_holds_the_restart_for_the_cooldown() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let storm = StormConfig {
        per_minute: None,
        per_hour: Some(1),
        action: StormAction::Pause {
            cooldown: Duration::from_secs(30),
        },
    };
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne))
        .child(worker("a", lab.child()).with_storm(storm));
    let sup = root_on(spec, events.clone()).await;
    lab.crash("a");
    assert_eq!(
        sup.which_children().await.unwrap()[0].status,
        ChildStatus::Running
    );
    lab.crash("a");
    assert_eq!(
        sup.which_children().await.unwrap()[0].status,
        ChildStatus::Restarting
    );
    let json = drain_json(&events);
    let scheduled = json
        .iter()
        .find(|e| e["event"] == "restart_scheduled")
        .unwrap();
    assert_eq!(scheduled["delay_ms"], 30_000);
    assert_eq!(scheduled["cause"], "storm_pause");
    let storm = json
        .iter()
        .find(|e| e["event"] == "storm_detected")
        .unwrap();
    assert_eq!(storm["action"]["pause_ms"], 30_000);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        sup.which_children().await.unwrap()[0].status,
        ChildStatus::Running
    );
    // The windows start afresh after a pause: the next restart is immediate.
    lab.crash("a");
    assert_eq!(
        sup.which_children().await.unwrap()[0].status,
        ChildStatus::Running
    );
}

#[tokio::test(start_paused = true)]
async fn a_storm_can_escalate() {
    let lab = Lab::new();
    let storm = StormConfig {
        per_minute: Some(1),
        per_hour: None,
        action: StormAction::Escalate,
    };
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne))
        .child(worker("a", lab.child()).with_storm(storm))
        .child(worker("b", lab.child()));
    let sup = root(spec).await;
    lab.crash("a");
    settle().await;
    lab.crash("a");
    let exit = wait(&sup).await;
    assert_eq!(exit.cause, ShutdownCause::Storm { child: "a".into() });
    assert_eq!(exit.reason, ExitReason::Shutdown);
    assert_eq!(
        lab.take(),
        s(&["start a", "start b", "start a", "shutdown b"])
    );
}

#[test]
fn coupling_per_strategy() {
    let children = vec![
        ("a".into(), Restart::Permanent),
        ("b".into(), Restart::Temporary),
        ("c".into(), Restart::Transient),
    ];
    let ids = |v: Vec<crate::ChildId>| v.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    assert!(coupling(Strategy::OneForOne, &children, 0).is_empty());
    assert_eq!(
        ids(coupling(Strategy::OneForAll, &children, 0)),
        s(&["b", "c"])
    );
    assert_eq!(
        ids(coupling(Strategy::RestForOne, &children, 0)),
        s(&["b", "c"])
    );
    assert!(
        coupling(Strategy::OneForAll, &children, 1).is_empty(),
        "temporary"
    );
    assert!(coupling(Strategy::RestForOne, &children, 2).is_empty());
    assert!(coupling(Strategy::RestForOne, &children, 9).is_empty());
}

async fn abc(lab: &Lab, strategy: Strategy) -> crate::SupervisorHandle {
    let spec = SupervisorSpec::new(loose(strategy))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()))
        .child(worker("c", lab.child()));
    let sup = root(spec).await;
    lab.take();
    sup
}

#[tokio::test(start_paused = true)]
async fn a_strategy_dry_run_reports_coupling_and_changes_nothing() {
    let lab = Lab::new();
    let sup = abc(&lab, Strategy::OneForOne).await;
    let options = StrategyChangeOptions {
        dry_run: true,
        ..StrategyChangeOptions::default()
    };
    let report = sup
        .change_strategy(Strategy::RestForOne, options)
        .await
        .unwrap();
    assert_eq!(report.outcome, ChangeOutcome::DryRun);
    assert_eq!(
        report.changes,
        vec![
            CouplingChange {
                child: "a".into(),
                before: vec![],
                after: vec!["b".into(), "c".into()]
            },
            CouplingChange {
                child: "b".into(),
                before: vec![],
                after: vec!["c".into()]
            },
        ]
    );
    lab.crash("a");
    sup.count_children().await.unwrap();
    assert_eq!(lab.take(), s(&["start a"]), "still one_for_one");
    assert_eq!(
        sup.health_report().await.unwrap().strategy,
        Strategy::OneForOne
    );
}

#[tokio::test(start_paused = true)]
async fn an_applied_strategy_change_that_settles_stays() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()));
    let sup = root_on(spec, events.clone()).await;
    lab.take();
    let options = StrategyChangeOptions {
        dry_run: false,
        settle: Duration::from_secs(2),
        ..StrategyChangeOptions::default()
    };
    let t0 = Instant::now();
    let report = sup
        .change_strategy(Strategy::OneForAll, options)
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    assert_eq!(report.outcome, ChangeOutcome::Applied);
    assert_eq!(
        (report.from, report.to),
        (Strategy::OneForOne, Strategy::OneForAll)
    );
    lab.crash("a");
    sup.count_children().await.unwrap();
    assert_eq!(lab.take(), s(&["shutdown b", "start a", "start b"]));
    let changed = drain_json(&events)
        .into_iter()
        .find(|e| e["event"] == "strategy_changed")
        .unwrap();
    assert_eq!(changed["from"], "one_for_one");
    assert_eq!(changed["to"], "one_for_all");
    assert_eq!(changed["rolled_back"], false);
}

#[tokio::test(start_paused = true)]
async fn a_strategy_change_that_does_not_settle_is_rolled_back() {
    let lab = Lab::new();
    let sup = abc(&lab, Strategy::OneForOne).await;
    let changing = {
        let sup = sup.clone();
        tokio::spawn(async move {
            sup.change_strategy(
                Strategy::OneForAll,
                StrategyChangeOptions {
                    dry_run: false,
                    settle: Duration::from_secs(5),
                    ..StrategyChangeOptions::default()
                },
            )
            .await
        })
    };
    settle_ms(1000).await;
    lab.crash("c");
    let report = changing.await.unwrap().unwrap();
    assert_eq!(
        report.outcome,
        ChangeOutcome::RolledBack {
            restarts: 1,
            restarting: vec![]
        }
    );
    // The crash was handled under the new strategy; afterwards the old one is back.
    assert_eq!(
        lab.take(),
        s(&["shutdown b", "shutdown a", "start a", "start b", "start c"])
    );
    assert_eq!(
        sup.health_report().await.unwrap().strategy,
        Strategy::OneForOne
    );
    // A second change is possible once the first is done.
    let again = sup
        .change_strategy(
            Strategy::RestForOne,
            StrategyChangeOptions {
                dry_run: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(again.from, Strategy::OneForOne);
}

#[tokio::test(start_paused = true)]
async fn strategy_changes_that_are_refused() {
    let lab = Lab::new();
    let sup = abc(&lab, Strategy::OneForOne).await;
    let err = sup
        .change_strategy(Strategy::SimpleOneForOne, StrategyChangeOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, crate::AdminError::StrategyChange { .. }));
    // One change at a time.
    let first = {
        let sup = sup.clone();
        tokio::spawn(async move {
            sup.change_strategy(Strategy::OneForAll, StrategyChangeOptions::default())
                .await
        })
    };
    settle().await;
    let err = sup
        .change_strategy(Strategy::RestForOne, StrategyChangeOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, crate::AdminError::StrategyChange { .. }));
    assert_eq!(
        first.await.unwrap().unwrap().outcome,
        ChangeOutcome::Applied
    );
}

#[tokio::test(start_paused = true)]
async fn the_health_report_counts_restarts_and_recommends() {
    let lab = Lab::new();
    let mut spec = SupervisorSpec::new(loose(Strategy::OneForAll))
        .child(worker("flaky", lab.child()).with_restart(Restart::Transient))
        .child(worker("forever", lab.child()).with_shutdown(crate::Shutdown::Infinity));
    for i in 0..10 {
        spec = spec.child(worker(&format!("w{i}"), lab.child()));
    }
    let sup = root(spec).await;
    for _ in 0..5 {
        lab.crash("flaky");
        sup.count_children().await.unwrap();
    }
    settle_ms(1500).await;
    let report = sup.health_report().await.unwrap();
    assert_eq!(report.supervisor, "root");
    assert_eq!(report.restarts_total, 5);
    assert_eq!(report.restarts_last_hour, 5);
    assert_eq!(report.restarts_in_period, 5);
    assert_eq!(report.counts.active, 12);
    let flaky = &report.children[0];
    assert_eq!((flaky.restarts_total, flaky.restarts_last_hour), (5, 5));
    assert_eq!(flaky.uptime_ms, Some(1500));
    let codes: Vec<RecommendationCode> = report.recommendations.iter().map(|r| r.code).collect();
    assert_eq!(
        codes,
        vec![
            RecommendationCode::LargeOneForAll,
            RecommendationCode::FrequentRestarts,
            RecommendationCode::WorkerShutdownInfinity,
        ]
    );
    assert_eq!(
        report.recommendations[1].message,
        "transient child `flaky` restarted 5 times in the last hour; consider a restart backoff"
    );
    assert!(
        report.recommendations[0]
            .message
            .starts_with("one_for_all with 12 children")
    );
    // An hour later the rate has decayed.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let later = sup.health_report().await.unwrap();
    assert_eq!((later.restarts_total, later.restarts_last_hour), (5, 0));
    assert_eq!(later.children[0].restarts_last_hour, 0);
    let json = serde_json::to_value(&later).unwrap();
    assert_eq!(json["strategy"], "one_for_all");
    assert_eq!(json["children"][0]["status"], "running");
}

#[tokio::test(start_paused = true)]
async fn near_intensity_is_recommended() {
    let lab = Lab::new();
    let flags =
        SupervisorFlags::new(Strategy::OneForOne).with_intensity(2, Duration::from_secs(60));
    let sup = root(SupervisorSpec::new(flags).child(worker("a", lab.child()))).await;
    lab.crash("a");
    sup.count_children().await.unwrap();
    lab.crash("a");
    let report = sup.health_report().await.unwrap();
    assert_eq!(report.restarts_in_period, 2);
    assert_eq!(
        report.recommendations[0].code,
        RecommendationCode::NearIntensity
    );
}

#[test]
fn events_serialize_flat_beside_their_path() {
    let event = Recorded {
        path: ChildPath::child("root/workers".into(), "counter".into()),
        event: SupervisorEvent::ChildExited {
            generation: 4,
            reason: ExitReason::abnormal(ChildFailure::new("trap"), "unreachable"),
        },
    };
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json["path"], "root/workers/counter");
    assert_eq!(json["event"], "child_exited");
    assert_eq!(json["generation"], 4);
    assert_eq!(json["reason"], "abnormal");
    assert_eq!(json["kind"], "trap");
    assert_eq!(json["message"], "unreachable");
    let normal = SupervisorEvent::ChildExited {
        generation: 1,
        reason: ExitReason::Normal,
    };
    assert_eq!(serde_json::to_value(&normal).unwrap()["reason"], "normal");
    let escalated = SupervisorEvent::SupervisorEscalated {
        cause: ShutdownCause::Storm { child: "a".into() },
    };
    assert_eq!(
        serde_json::to_value(&escalated).unwrap()["cause"],
        serde_json::json!({"storm": {"child": "a"}})
    );
    assert_eq!(escalated.level(), tracing::Level::ERROR);
    assert_eq!(
        SupervisorEvent::ChildStarted { generation: 2 }.to_string(),
        "child started (generation 2)"
    );
    assert_eq!(
        SupervisorEvent::ChildRemoved.name(),
        serde_json::to_value(SupervisorEvent::ChildRemoved).unwrap()["event"]
    );
}

#[test]
fn failure_classes_are_otp_s_or_the_child_s_by_name() {
    let killed = ExitReason::killed();
    assert_eq!(killed.failure_kind(), Some(FailureKind::Killed));
    assert_eq!(killed.to_string(), "killed: killed");
    let crash = ExitReason::abnormal(FailureKind::Crash, "");
    assert_eq!(crash.to_string(), "crash");
    let fuel = ExitReason::abnormal(ChildFailure::new("out_of_fuel"), "fuel exhausted");
    assert_eq!(fuel.to_string(), "out_of_fuel: fuel exhausted");
    assert_eq!(
        fuel.failure_kind().and_then(|k| k.child_class()),
        Some(ChildFailure::new("out_of_fuel"))
    );
    assert_eq!(
        serde_json::to_value(&fuel).unwrap(),
        serde_json::json!({"reason": "abnormal", "kind": "out_of_fuel", "message": "fuel exhausted"})
    );
    assert_eq!(
        serde_json::to_value(FailureKind::StartFailed).unwrap(),
        "start_failed"
    );
}

#[tokio::test(start_paused = true)]
async fn huge_durations_mean_never_not_a_panic() {
    let lab = Lab::new();
    let forever = Backoff {
        initial: Duration::MAX,
        max: Duration::MAX,
        jitter: 0.0,
        ..Backoff::default()
    };
    let flags = loose(Strategy::OneForOne).with_kill_grace(Duration::MAX);
    let spec = SupervisorSpec::new(flags)
        .child(worker("a", lab.child()).with_backoff(forever))
        .child(worker("b", lab.child()));
    let sup = root(spec).await;
    lab.crash("a");
    let changing = {
        let sup = sup.clone();
        tokio::spawn(async move {
            let options = StrategyChangeOptions {
                dry_run: false,
                settle: Duration::MAX,
                // A child is restarting: high risk, applied anyway.
                force: true,
                ..StrategyChangeOptions::default()
            };
            sup.change_strategy(Strategy::OneForAll, options).await
        })
    };
    settle().await;
    assert_eq!(
        sup.which_children().await.unwrap()[0].status,
        ChildStatus::Restarting
    );
    sup.request_stop();
    assert_eq!(wait(&sup).await.cause, ShutdownCause::Requested);
    // The unsettled change learns that the supervisor is gone.
    assert!(matches!(
        changing.await.unwrap(),
        Err(crate::AdminError::SupervisorGone { .. })
    ));
    assert_eq!(lab.take(), s(&["start a", "start b", "shutdown b"]));
}

fn codes(report: &crate::HealthReport) -> Vec<RecommendationCode> {
    report.recommendations.iter().map(|r| r.code).collect()
}

#[tokio::test(start_paused = true)]
async fn many_children_and_a_small_rest_for_one_are_recommended_against() {
    let lab = Lab::new();
    let mut spec = SupervisorSpec::new(loose(Strategy::OneForOne));
    for i in 0..21 {
        spec = spec.child(worker(&format!("w{i}"), lab.child()));
    }
    let report = root(spec).await.health_report().await.unwrap();
    assert_eq!(codes(&report), vec![RecommendationCode::LargeSupervisor]);
    assert!(
        report.recommendations[0]
            .message
            .starts_with("21 children under one supervisor (> 20)"),
        "{:?}",
        report.recommendations
    );
    assert_eq!((report.score, report.reasons.len()), (100, 0));

    let lab = Lab::new();
    let spec = SupervisorSpec::new(loose(Strategy::RestForOne))
        .child(worker("a", lab.child()))
        .child(worker("b", lab.child()));
    let report = root(spec).await.health_report().await.unwrap();
    assert_eq!(codes(&report), vec![RecommendationCode::SmallRestForOne]);
    assert!(
        report.recommendations[0]
            .message
            .starts_with("rest_for_one with 2 children (< 3)")
    );
}

#[tokio::test(start_paused = true)]
async fn a_storm_in_progress_is_reported_scored_and_recommended_on() {
    let lab = Lab::new();
    let storm = StormConfig {
        per_minute: Some(2),
        per_hour: None,
        action: StormAction::Log,
    };
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne))
        .child(worker("a", lab.child()).with_storm(storm))
        .child(worker("b", lab.child()));
    let sup = root(spec).await;
    for _ in 0..3 {
        lab.crash("a");
        sup.count_children().await.unwrap();
    }
    let report = sup.health_report().await.unwrap();
    let storm = report.children[0].storm.expect("a storm in progress");
    assert_eq!((storm.restarts, storm.threshold), (3, 2));
    assert_eq!(codes(&report), vec![RecommendationCode::StormInProgress]);
    assert!(report.recommendations[0].message.starts_with(
        "child `a` is in a restart storm: 3 restarts within the last minute (threshold 2)"
    ));
    // 3 of 1000 restarts in the period (0.12 points) and the storm (30).
    assert_eq!(report.score, 70);
    assert_eq!(report.reasons.len(), 2, "{:?}", report.reasons);
    assert!(report.reasons[1].contains("restart storm"));
    // A minute later the storm is over.
    tokio::time::sleep(Duration::from_secs(61)).await;
    let later = sup.health_report().await.unwrap();
    assert_eq!(later.children[0].storm, None);
    assert!(codes(&later).is_empty());
}

#[test]
fn a_restart_rate_over_the_intensity_rate_and_near_limits_are_recommended() {
    let lab = Lab::new();
    let spec = worker("a", lab.child());
    let facts = crate::health::Facts {
        strategy: Strategy::OneForOne,
        intensity: 10,
        period_ms: 600_000,
        restarts_in_period: 3,
        restarts_last_hour: 61,
        child_count: 1,
        children: &[],
    };
    let recs = crate::health::recommendations(&facts);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].code, RecommendationCode::RestartRateOverLimit);
    assert!(
        recs[0]
            .message
            .starts_with("61 restarts in the last hour, over the 60 per hour"),
        "{}",
        recs[0].message
    );
    let at_limit = crate::health::Facts {
        restarts_last_hour: 60,
        children: &[crate::health::ChildFacts {
            id: spec.id().clone(),
            spec: &spec,
            last_hour: 0,
            storm: None,
        }],
        ..facts
    };
    assert!(crate::health::recommendations(&at_limit).is_empty());

    let id = spec.id().clone();
    assert_eq!(crate::near_limit(&id, 79, 100, false), None);
    let memory = crate::near_limit(&id, 90, 100, false).unwrap();
    assert_eq!(memory.code, RecommendationCode::NearMemoryLimit);
    assert!(
        memory.message.contains("90 of 100 (90 %)"),
        "{}",
        memory.message
    );
    let fuel = crate::near_limit(&id, 100, 100, true).unwrap();
    assert_eq!(fuel.code, RecommendationCode::NearFuelLimit);
}

/// Crashes `a` three times (a storm with `per_minute = 2`), then lets a
/// minute pass so the next crashes are a new storm.
async fn storm_once(lab: &Lab, sup: &crate::SupervisorHandle) {
    for _ in 0..3 {
        lab.crash("a");
        sup.count_children().await.unwrap();
    }
    settle_ms(2_000).await;
    tokio::time::sleep(Duration::from_secs(61)).await;
}

#[tokio::test(start_paused = true)]
async fn tiered_storms_log_then_pause_then_escalate() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let storm = StormConfig {
        per_minute: Some(2),
        per_hour: None,
        action: StormAction::Tiered {
            cooldown: Duration::from_secs(1),
            escalate_after: 3,
        },
    };
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne))
        .child(worker("a", lab.child()).with_storm(storm));
    let sup = root_on(spec, events.clone()).await;
    let actions = |events: &EventRecorder| -> Vec<serde_json::Value> {
        drain_json(events)
            .into_iter()
            .filter(|e| e["event"] == "storm_detected")
            .map(|e| e["action"].clone())
            .collect()
    };
    storm_once(&lab, &sup).await;
    assert_eq!(actions(&events), vec![serde_json::json!("log")]);
    storm_once(&lab, &sup).await;
    assert_eq!(
        actions(&events),
        vec![serde_json::json!({"pause_ms": 1000})]
    );
    for _ in 0..3 {
        lab.crash("a");
        settle().await;
    }
    let exit = wait(&sup).await;
    assert_eq!(exit.cause, ShutdownCause::Storm { child: "a".into() });
    assert_eq!(actions(&events), vec![serde_json::json!("escalate")]);
}

#[tokio::test(start_paused = true)]
async fn storm_settings_change_at_run_time() {
    let lab = Lab::new();
    let events = EventRecorder::new();
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne)).child(worker("a", lab.child()));
    let sup = root_on(spec, events.clone()).await;
    let report = sup.health_report().await.unwrap();
    assert_eq!(report.children[0].storm_settings, None);
    let storm = StormConfig {
        per_minute: Some(2),
        per_hour: None,
        action: StormAction::Log,
    };
    assert_eq!(
        sup.set_storm(None, Some(storm)).await.unwrap(),
        vec![crate::ChildId::from("a")]
    );
    assert_eq!(
        sup.health_report().await.unwrap().children[0].storm_settings,
        Some(storm)
    );
    for _ in 0..3 {
        lab.crash("a");
        sup.count_children().await.unwrap();
    }
    let storms = |events: &EventRecorder| {
        drain(events)
            .into_iter()
            .filter(|(_, e)| e == "storm_detected")
            .count()
    };
    assert_eq!(storms(&events), 1);
    // Off: no storm however many restarts.
    sup.set_storm(Some("a".into()), None).await.unwrap();
    for _ in 0..5 {
        lab.crash("a");
        sup.count_children().await.unwrap();
    }
    assert_eq!(storms(&events), 0);
    let bad = StormConfig {
        per_minute: None,
        per_hour: None,
        action: StormAction::Log,
    };
    assert!(sup.set_storm(None, Some(bad)).await.is_err());
    assert!(matches!(
        sup.set_storm(Some("nope".into()), None).await,
        Err(crate::AdminError::NotFound { .. })
    ));
}

#[test]
fn the_default_storm_settings_are_the_specifications() {
    let d = StormConfig::default();
    assert_eq!((d.per_minute, d.per_hour), (Some(10), Some(100)));
    assert_eq!(
        d.action,
        StormAction::Tiered {
            cooldown: Duration::from_secs(30),
            escalate_after: 5
        }
    );
    assert!(d.validate().is_ok());
    assert_eq!(
        serde_json::to_value(d.action).unwrap(),
        serde_json::json!({"tiers": ["log", "pause", "escalate"], "pause_ms": 30000, "escalate_after": 5})
    );
}

#[tokio::test(start_paused = true)]
async fn strategy_pre_checks_rate_the_risk_and_refuse_high_risk_unless_forced() {
    let lab = Lab::new();
    let spec = SupervisorSpec::new(loose(Strategy::OneForOne))
        .child(worker("a", lab.child()).with_backoff(exact_backoff()))
        .child(worker("b", lab.child()));
    let sup = root(spec).await;
    let dry = |max, memory: Option<&str>| StrategyChangeOptions {
        dry_run: true,
        max_recent_restarts: max,
        memory_pressure: memory.map(str::to_owned),
        ..StrategyChangeOptions::default()
    };
    let calm = sup
        .change_strategy(Strategy::OneForAll, dry(10, None))
        .await
        .unwrap();
    assert_eq!(calm.risk.level, crate::RiskLevel::Low);
    assert!(calm.risk.reasons.is_empty());
    // Memory pressure the caller measured.
    let pressed = sup
        .change_strategy(Strategy::OneForAll, dry(10, Some("5 % available")))
        .await
        .unwrap();
    assert_eq!(pressed.risk.level, crate::RiskLevel::High);
    assert_eq!(pressed.risk.reasons, vec!["memory pressure: 5 % available"]);
    // Three restarts, the last one still waiting for its backoff.
    for wait_ms in [500, 500, 50] {
        lab.crash("a");
        settle_ms(wait_ms).await;
    }
    let busy = sup
        .change_strategy(Strategy::OneForAll, dry(2, None))
        .await
        .unwrap();
    assert_eq!(busy.risk.level, crate::RiskLevel::High);
    assert_eq!(
        busy.risk.reasons,
        vec![
            "3 restarts in the last 5 minutes (more than 2)".to_owned(),
            "1 children restarting now: a".to_owned()
        ]
    );
    let refused = sup
        .change_strategy(
            Strategy::OneForAll,
            StrategyChangeOptions {
                max_recent_restarts: 2,
                ..StrategyChangeOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, crate::AdminError::StrategyRisk { .. }),
        "{refused:?}"
    );
    assert_eq!(
        sup.health_report().await.unwrap().strategy,
        Strategy::OneForOne
    );
    // Five minutes later, settled: low risk again; and a forced change applies.
    tokio::time::sleep(Duration::from_secs(301)).await;
    let later = sup
        .change_strategy(Strategy::OneForAll, dry(2, None))
        .await
        .unwrap();
    assert_eq!(later.risk.level, crate::RiskLevel::Low, "{:?}", later.risk);
    let forced = sup
        .change_strategy(
            Strategy::OneForAll,
            StrategyChangeOptions {
                settle: Duration::from_millis(10),
                memory_pressure: Some("low".into()),
                force: true,
                ..StrategyChangeOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(forced.outcome, ChangeOutcome::Applied);
    assert_eq!(forced.risk.level, crate::RiskLevel::High);
}

//! The periodic health monitor: every `[health] interval_ms` it scores every
//! supervisor and worker of the tree and publishes a `health_changed` event
//! when one's level (healthy, warning, critical, emergency) changes.
//!
//! Owns: the worker score as the tree sees it ([`worker_score`]), the walk
//! over the tree, and the last level of every path. A supervisor's score is
//! its own report's ([`HealthReport::score`]); a native worker's starts from
//! the process monitor's score (resources, recent restarts, liveness).
//!
//! Never does: act on a level (a policy such as `restart_unresponsive`
//! belongs to the worker's own child), or reach into a child beyond the
//! supervisors' admin API (`health_report`, `which_children`).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::task::JoinHandle;

use crate::config::HealthConfig;
use crate::events::{EventBus, HealthEvent, HealthLevel};
use crate::supervisor::{
    ChildHealth, ChildId, ChildInfo, ChildKind, ChildPath, ChildStatus, HealthReport, Restart,
    SupervisorHandle,
};

pub use crate::events::Thresholds;

/// One scored supervisor or worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scored {
    /// Its path (`root`, `root/workers/w`).
    pub path: String,
    /// `supervisor` or `worker`.
    pub subject: &'static str,
    /// 0–100.
    pub score: u8,
    /// Why below 100.
    pub reasons: Vec<String>,
}

/// The running monitor; stops when dropped.
pub struct HealthMonitor {
    task: JoinHandle<()>,
}

impl Drop for HealthMonitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HealthMonitor {
    /// Scores the tree under `root` every `config.interval` and publishes
    /// level changes on `events`.
    pub fn spawn(root: SupervisorHandle, events: EventBus, config: HealthConfig) -> Self {
        let task = tokio::spawn(async move {
            let mut levels: HashMap<String, HealthLevel> = HashMap::new();
            let mut tick = tokio::time::interval(config.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let scored = score_tree(&root).await;
                publish_changes(&mut levels, scored, &config.thresholds, &events);
            }
        });
        HealthMonitor { task }
    }
}

/// Publishes a `health_changed` for every path whose level differs from the
/// one remembered (a path seen for the first time was healthy), and forgets
/// paths gone from the tree.
pub fn publish_changes(
    levels: &mut HashMap<String, HealthLevel>,
    scored: Vec<Scored>,
    thresholds: &Thresholds,
    events: &EventBus,
) {
    let mut seen = HashMap::with_capacity(scored.len());
    for s in scored {
        let to = thresholds.level(s.score);
        let from = levels.get(&s.path).copied().unwrap_or(HealthLevel::Healthy);
        if from != to {
            let path = match s.path.rsplit_once('/') {
                Some((sup, id)) if s.subject == "worker" => {
                    ChildPath::child(Arc::from(sup), ChildId::from(id))
                }
                _ => ChildPath::supervisor(s.path.as_str()),
            };
            events.emit(
                path,
                HealthEvent::HealthChanged {
                    subject: s.subject.to_owned(),
                    from,
                    to,
                    score: s.score,
                    reasons: s.reasons,
                },
            );
        }
        seen.insert(s.path, to);
    }
    *levels = seen;
}

/// Every running supervisor and worker under `root`, scored. A supervisor
/// that stops during the walk is left out.
pub async fn score_tree(root: &SupervisorHandle) -> Vec<Scored> {
    let mut out = Vec::new();
    let mut queue = vec![root.clone()];
    while let Some(sup) = queue.pop() {
        let (Ok(report), Ok(children)) = (sup.health_report().await, sup.which_children().await)
        else {
            continue;
        };
        score_supervisor(&report, &children, &mut out);
        for child in children {
            if child.kind == ChildKind::Supervisor
                && child.generation.is_some()
                && let Ok(nested) = sup.child_supervisor(child.id.clone()).await
            {
                queue.push(nested);
            }
        }
    }
    out
}

fn score_supervisor(report: &HealthReport, children: &[ChildInfo], out: &mut Vec<Scored>) {
    out.push(Scored {
        path: report.supervisor.clone(),
        subject: "supervisor",
        score: report.score,
        reasons: report.reasons.clone(),
    });
    for health in &report.children {
        if health.kind != ChildKind::Worker {
            continue;
        }
        let info = children
            .iter()
            .find(|c| c.id == health.id)
            .map_or(&Value::Null, |c| &c.info);
        let (score, reasons) = worker_score(health, info);
        out.push(Scored {
            path: format!("{}/{}", report.supervisor, health.id),
            subject: "worker",
            score,
            reasons,
        });
    }
}

/// A worker's score and reasons: a native worker's starts from its process
/// health score (resources, recent restarts, liveness), any other from 100
/// less 20 per restart in the last hour; a worker restarting scores at most
/// 30, a permanent one stopped 0, and one in a restart storm loses 30 more.
pub fn worker_score(health: &ChildHealth, info: &Value) -> (u8, Vec<String>) {
    let mut reasons = Vec::new();
    let mut score = match info["health"]["score"].as_u64() {
        Some(process) => {
            let process = u8::try_from(process.min(100)).unwrap_or(100);
            if process < 100 {
                reasons.push(format!("process health score {process}"));
            }
            if info["health"]["unresponsive"] == true {
                reasons.push("unresponsive: stopped, or failing its liveness check".to_owned());
            }
            process
        }
        None => {
            let penalty = health.restarts_last_hour.saturating_mul(20).min(100);
            if health.restarts_last_hour > 0 {
                reasons.push(format!(
                    "{} restarts in the last hour",
                    health.restarts_last_hour
                ));
            }
            100 - u8::try_from(penalty).unwrap_or(100)
        }
    };
    match health.status {
        ChildStatus::Restarting => {
            score = score.min(30);
            reasons.push("restarting".to_owned());
        }
        ChildStatus::Stopped if health.restart == Restart::Permanent => {
            score = 0;
            reasons.push("permanent worker stopped".to_owned());
        }
        ChildStatus::Stopped | ChildStatus::Running => {}
    }
    if let Some(storm) = health.storm {
        score = score.saturating_sub(30);
        reasons.push(format!(
            "restart storm: {} restarts (threshold {})",
            storm.restarts, storm.threshold
        ));
    }
    (score, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Received;

    fn child(status: ChildStatus, last_hour: u32) -> ChildHealth {
        ChildHealth {
            id: ChildId::from("w"),
            kind: ChildKind::Worker,
            restart: Restart::Permanent,
            status,
            generation: Some(1),
            uptime_ms: Some(1),
            restarts_total: u64::from(last_hour),
            restarts_last_hour: last_hour,
            last_exit: None,
            storm: None,
            storm_settings: None,
        }
    }

    #[test]
    fn a_worker_scores_from_its_process_health_restarts_and_state() {
        let running = child(ChildStatus::Running, 0);
        assert_eq!(worker_score(&running, &Value::Null), (100, vec![]));
        let (score, reasons) = worker_score(&child(ChildStatus::Running, 2), &Value::Null);
        assert_eq!((score, reasons.len()), (60, 1));
        let info = serde_json::json!({"health": {"score": 45}});
        assert_eq!(worker_score(&running, &info).0, 45);
        assert_eq!(
            worker_score(&child(ChildStatus::Restarting, 0), &info).0,
            30
        );
        assert_eq!(worker_score(&child(ChildStatus::Stopped, 0), &info).0, 0);
    }

    /// A worker that runs until killed.
    struct Steady;

    struct SteadyRun(Option<crate::supervisor::ExitSender>);

    impl crate::supervisor::RunningChild for SteadyRun {
        fn shutdown(&mut self) {
            if let Some(exits) = self.0.take() {
                exits.exit(crate::supervisor::ExitReason::Shutdown);
            }
        }

        fn kill(&mut self) {
            if let Some(exits) = self.0.take() {
                exits.exit(crate::supervisor::ExitReason::killed());
            }
        }
    }

    impl crate::supervisor::ChildStart for Steady {
        fn start(
            &self,
            ctx: crate::supervisor::StartContext,
        ) -> crate::supervisor::BoxFuture<
            'static,
            Result<crate::supervisor::Started, crate::supervisor::StartError>,
        > {
            Box::pin(async move {
                Ok(crate::supervisor::Started::Running(Box::new(SteadyRun(
                    Some(ctx.exits),
                ))))
            })
        }
    }

    fn drain(rx: &mut crate::events::EventStream) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        while let Some(Received::Event(e)) = rx.try_recv() {
            let json = serde_json::to_value(&e).unwrap();
            if json["event"] == "health_changed" {
                out.push((
                    json["path"].as_str().unwrap().to_owned(),
                    json["from"].as_str().unwrap().to_owned(),
                    json["to"].as_str().unwrap().to_owned(),
                ));
            }
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn the_monitor_publishes_each_level_change_once_at_its_ticks() {
        use crate::supervisor::{
            Backoff, ChildSpec, Fault, Strategy, SupervisorFlags, SupervisorSpec, start_root,
        };
        use std::time::Duration;
        let bus = EventBus::default();
        let backoff = Backoff {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(10),
            multiplier: 1.0,
            jitter: 0.0,
            reset_after: Duration::from_secs(3600),
        };
        let flags =
            SupervisorFlags::new(Strategy::OneForOne).with_intensity(1000, Duration::from_secs(60));
        let spec =
            SupervisorSpec::new(flags).child(ChildSpec::worker("w", Steady).with_backoff(backoff));
        let root = start_root("root", spec, bus.clone()).await.unwrap();
        let mut rx = bus.subscribe();
        let config = HealthConfig {
            interval: Duration::from_secs(1),
            ..HealthConfig::default()
        };
        let _monitor = HealthMonitor::spawn(root.clone(), bus.clone(), config);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(drain(&mut rx), vec![], "healthy: nothing to say");
        root.inject_fault("w", Fault::Kill).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(drain(&mut rx), vec![], "nothing before the next tick");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut down = drain(&mut rx);
        down.sort();
        assert_eq!(
            down,
            vec![
                ("root".into(), "healthy".into(), "warning".into()),
                ("root/w".into(), "healthy".into(), "critical".into()),
            ]
        );
        // Still restarting at the next ticks: no repeat.
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(drain(&mut rx), vec![]);
        // Restarted after its backoff: healthy again, once each.
        tokio::time::sleep(Duration::from_secs(8)).await;
        let mut up = drain(&mut rx);
        up.sort();
        assert_eq!(
            up,
            vec![
                ("root".into(), "warning".into(), "healthy".into()),
                ("root/w".into(), "critical".into(), "healthy".into()),
            ]
        );
        root.stop().await;
    }

    #[tokio::test]
    async fn only_level_changes_are_published() {
        let bus = EventBus::default();
        let mut rx = bus.subscribe();
        let t = Thresholds::default();
        let mut levels = HashMap::new();
        let at = |score| {
            vec![Scored {
                path: "root/w".into(),
                subject: "worker",
                score,
                reasons: vec!["why".into()],
            }]
        };
        publish_changes(&mut levels, at(90), &t, &bus);
        publish_changes(&mut levels, at(50), &t, &bus);
        publish_changes(&mut levels, at(45), &t, &bus);
        publish_changes(&mut levels, at(10), &t, &bus);
        let mut seen = Vec::new();
        while let Ok(Some(Received::Event(e))) =
            tokio::time::timeout(std::time::Duration::from_millis(10), rx.recv()).await
        {
            let json = serde_json::to_value(&e).unwrap();
            assert_eq!(json["path"], "root/w");
            seen.push((
                json["from"].clone(),
                json["to"].clone(),
                json["score"].clone(),
            ));
        }
        assert_eq!(
            seen,
            vec![
                ("healthy".into(), "warning".into(), 50.into()),
                ("warning".into(), "emergency".into(), 10.into()),
            ]
        );
    }
}

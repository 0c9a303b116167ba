//! `warden worker`: takes jobs from the shared consumer and grades them.
//!
//! Owns the life of a job on a worker: fetch (one at a time per slot, so
//! a job never waits in a worker's buffer while its ack wait runs out),
//! get its blobs, grade it on a blocking thread with
//! [`grade_guarded`] (the very function local grading uses), ping
//! progress while it runs, store the result, and only then ack.
//!
//! Failures that are the fleet's, not the submission's (a blob missing
//! from the store, an exercise that does not rebuild, a store that does
//! not answer), nak the job so it is tried again, elsewhere perhaps. The
//! last allowed attempt stores a dead letter instead: an `error` report
//! saying what went wrong. A job whose worker died on its last attempt is
//! made a dead letter by whichever worker hears the server's
//! max-deliveries advisory.
//!
//! Stopping ([`Worker::run`]'s `stop`): no new job is fetched; jobs in
//! hand are finished and acked (or handed back with a nak if they do not
//! finish within the grace period).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, object_store};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::watch;

use warden_component::Runtime;
use warden_grade::batch::grade_guarded;
use warden_grade::verdict::REPORT_FORMAT;
use warden_grade::{Counts, Exercise, GradeOptions, Status, Submission, SubmissionReport};

use super::{
    FleetError, FleetSettings, JOBS, Job, JobResult, RESULTS, WORKERS, blob, store_result,
};

/// Where a worker gets the runtimes to grade on: a runtime for
/// instances of at most `memory_limit` bytes, and the fallback for
/// submissions that do not fit it (as `warden grade` builds them).
pub trait Runtimes: Send + Sync {
    /// The pair for an exercise whose memory limit is `memory_limit`.
    fn for_memory(&self, memory_limit: u64) -> Result<(Runtime, Option<Runtime>), String>;
}

/// A worker's settings.
pub struct WorkerConfig {
    /// The NATS server.
    pub url: String,
    /// Its name on the bus and in results.
    pub name: String,
    /// Jobs graded at once.
    pub jobs: usize,
    /// Streams and consumer, when this worker creates them.
    pub settings: FleetSettings,
    /// Where exercises are rebuilt.
    pub scratch: PathBuf,
    /// How long jobs in hand may run on after a stop before they are
    /// handed back.
    pub grace: Duration,
}

/// A running worker.
pub struct Worker {
    config: WorkerConfig,
    runtimes: Arc<dyn Runtimes>,
}

/// What a job slot shares with the others.
struct Shared {
    js: jetstream::Context,
    store: object_store::ObjectStore,
    name: String,
    scratch: PathBuf,
    max_deliver: i64,
    ack_wait: Duration,
    runtimes: Arc<dyn Runtimes>,
    /// Exercises already rebuilt, by manifest blob.
    exercises: Mutex<HashMap<String, Arc<Exercise>>>,
}

impl Worker {
    /// A worker grading on `runtimes`.
    pub fn new(config: WorkerConfig, runtimes: Arc<dyn Runtimes>) -> Self {
        Self { config, runtimes }
    }

    /// Grades jobs until `stop` turns true, then finishes the jobs in
    /// hand and returns how many jobs it stored a result for.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<u64, FleetError> {
        let client = super::connect(&self.config.url, &self.config.name, true).await?;
        let js = super::context(client.clone());
        super::ensure_streams(&js, &self.config.settings).await?;
        let consumer = super::workers_consumer(&js, &self.config.settings).await?;
        let info = consumer.cached_info().config.clone();
        let shared = Arc::new(Shared {
            store: blob::store(&js).await?,
            js: js.clone(),
            name: self.config.name.clone(),
            scratch: self.config.scratch.clone(),
            max_deliver: info.max_deliver,
            ack_wait: info.ack_wait,
            runtimes: Arc::clone(&self.runtimes),
            exercises: Mutex::new(HashMap::new()),
        });
        let advisories = client
            .queue_subscribe(
                format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{JOBS}.{WORKERS}"),
                WORKERS.to_string(),
            )
            .await
            .map_err(|e| FleetError::bus("subscribing to max-deliveries advisories", e))?;
        let dead_letters = tokio::spawn(dead_letter_listener(Arc::clone(&shared), advisories));
        tracing::info!(worker = %shared.name, jobs = self.config.jobs, "worker ready");

        let mut slots = Vec::new();
        for _ in 0..self.config.jobs.max(1) {
            let (shared, consumer, stop) = (Arc::clone(&shared), consumer.clone(), stop.clone());
            let grace = self.config.grace;
            slots.push(tokio::spawn(slot(shared, consumer, stop, grace)));
        }
        let _ = stop.wait_for(|s| *s).await;
        let mut done = 0;
        for s in slots {
            done += s.await.unwrap_or(0);
        }
        dead_letters.abort();
        // Acks and results are sent before this returns.
        let _ = client.flush().await;
        Ok(done)
    }
}

/// One job at a time, until stopped.
async fn slot(
    shared: Arc<Shared>,
    consumer: consumer::Consumer<consumer::pull::Config>,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) -> u64 {
    let mut done = 0;
    loop {
        if *stop.borrow() {
            return done;
        }
        let fetched = consumer
            .fetch()
            .max_messages(1)
            .expires(Duration::from_secs(1))
            .messages()
            .await;
        let mut batch = match fetched {
            Ok(batch) => batch,
            Err(err) => {
                // The server is away (restarting): wait and ask again.
                tracing::debug!(error = %err, "fetching a job");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
                continue;
            }
        };
        while let Some(message) = batch.next().await {
            let Ok(message) = message else { continue };
            if handle(&shared, message, &mut stop, grace).await {
                done += 1;
            }
        }
    }
}

/// One delivery of a job; true when this worker stored its result.
async fn handle(
    shared: &Arc<Shared>,
    message: jetstream::Message,
    stop: &mut watch::Receiver<bool>,
    grace: Duration,
) -> bool {
    let attempt = message.info().map_or(1, |i| i.delivered);
    let job: Job = match serde_json::from_slice(&message.payload) {
        Ok(job) => job,
        Err(err) => {
            // Not ours to grade and never will be: drop it for good.
            tracing::error!(error = %err, subject = %message.subject, "unreadable job");
            let _ = message.ack_with(AckKind::Term).await;
            return false;
        }
    };
    tracing::debug!(job = %job.id(), attempt, "job taken");
    if result_exists(&shared.js, &job).await {
        tracing::info!(job = %job.id(), attempt, "job already has a result: acked");
        let _ = message.ack().await;
        return false;
    }
    // Progress pings keep the job ours while it runs.
    let pinger = {
        let acker = message.clone();
        let every = (shared.ack_wait / 3).max(Duration::from_millis(100));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let _ = acker.ack_with(AckKind::Progress).await;
            }
        })
    };
    let graded = grade(shared, &job);
    tokio::pin!(graded);
    let outcome = tokio::select! {
        outcome = &mut graded => Some(outcome),
        _ = async {
            let _ = stop.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        } => None,
    };
    pinger.abort();
    let report = match outcome {
        None => {
            // Stopping, and the job did not finish in the grace period:
            // hand it back at once rather than after the ack wait.
            let _ = message.ack_with(AckKind::Nak(None)).await;
            return false;
        }
        Some(Ok(report)) => (report, false),
        Some(Err(err)) if attempt < shared.max_deliver => {
            tracing::warn!(job = %job.id(), attempt, error = %err, "job failed, handed back");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_millis(200))))
                .await;
            return false;
        }
        Some(Err(err)) => {
            tracing::error!(job = %job.id(), attempt, error = %err, "job failed for the last time: dead letter");
            (dead_letter_report(&job, attempt, &err.to_string()), true)
        }
    };
    let (report, dead_letter) = report;
    let result = JobResult {
        job: job.id(),
        index: job.index,
        worker: shared.name.clone(),
        attempt,
        dead_letter,
        report,
    };
    match store_result(&shared.js, &job.result_subject(), &job.id(), &result).await {
        Ok(stored) => {
            let acked = message.double_ack().await;
            tracing::info!(job = %job.id(), attempt, stored, acked = acked.is_ok(), "job done");
            stored
        }
        Err(err) => {
            tracing::warn!(job = %job.id(), error = %err, "result not stored, job handed back");
            let _ = message.ack_with(AckKind::Nak(None)).await;
            false
        }
    }
}

/// Blobs, exercise, grading on a blocking thread.
async fn grade(shared: &Arc<Shared>, job: &Job) -> Result<SubmissionReport, FleetError> {
    let exercise = exercise(shared, &job.exercise).await?;
    let bytes = blob::get(
        &shared.store,
        &job.sha256,
        &format!("submission {}", job.name),
    )
    .await?;
    let limits: warden_grade::LimitOverrides = job.limits.into();
    let memory_limit = limits.apply(exercise.settings.limits).memory_bytes;
    let (runtime, fallback) = shared
        .runtimes
        .for_memory(memory_limit)
        .map_err(FleetError::Io)?;
    let submission = Submission::Bytes {
        name: job.name.clone(),
        bytes,
    };
    // Components only: a fleet worker keeps no language runners (grading
    // from source is the command line's, `warden grade FILE.py`).
    let options = GradeOptions {
        limits,
        fallback,
        interrupt: None,
        on_compile: None,
        language: None,
        runners: None,
    };
    tokio::task::spawn_blocking(move || grade_guarded(&runtime, &exercise, &submission, &options))
        .await
        .map_err(|e| FleetError::Io(format!("grading thread: {e}")))
}

/// The exercise of a manifest, rebuilt once per worker.
async fn exercise(shared: &Arc<Shared>, manifest: &str) -> Result<Arc<Exercise>, FleetError> {
    if let Some(found) = shared
        .exercises
        .lock()
        .ok()
        .and_then(|m| m.get(manifest).cloned())
    {
        return Ok(found);
    }
    let exercise = Arc::new(blob::get_exercise(&shared.store, manifest, &shared.scratch).await?);
    if let Ok(mut m) = shared.exercises.lock() {
        m.insert(manifest.to_string(), Arc::clone(&exercise));
    }
    Ok(exercise)
}

/// True when the job's result is stored already (a redelivery of a job
/// whose worker died between storing and acking).
async fn result_exists(js: &jetstream::Context, job: &Job) -> bool {
    let Ok(stream) = js.get_stream_no_info(RESULTS).await else {
        return false;
    };
    stream
        .get_last_raw_message_by_subject(&job.result_subject())
        .await
        .is_ok()
}

/// The report of a job the fleet could not grade.
fn dead_letter_report(job: &Job, attempts: i64, why: &str) -> SubmissionReport {
    SubmissionReport {
        format: REPORT_FORMAT,
        exercise: String::new(),
        submission: job.name.clone(),
        sha256: Some(job.sha256.clone()),
        initial_memory_bytes: None,
        status: Status::Error,
        message: Some(format!(
            "infrastructure error: the fleet could not grade this submission \
             ({attempts} attempt(s)): {why}"
        )),
        contract: None,
        score: 0.0,
        max_score: 0.0,
        counts: Counts::default(),
        limits: Default::default(),
        tests: Vec::new(),
        timing: None,
    }
}

/// The server's advisory for a job that ran out of deliveries.
#[derive(Deserialize)]
struct MaxDeliveries {
    stream_seq: u64,
    deliveries: i64,
}

/// Stores a dead letter for each job the server gave up on (its worker
/// died on its last attempt, or it kept timing out), then removes the job.
async fn dead_letter_listener(shared: Arc<Shared>, mut advisories: async_nats::Subscriber) {
    while let Some(message) = advisories.next().await {
        let Ok(advisory) = serde_json::from_slice::<MaxDeliveries>(&message.payload) else {
            continue;
        };
        if let Err(err) = dead_letter(&shared, &advisory).await {
            tracing::warn!(seq = advisory.stream_seq, error = %err, "dead letter not stored");
        }
    }
}

async fn dead_letter(shared: &Shared, advisory: &MaxDeliveries) -> Result<(), FleetError> {
    let stream = shared
        .js
        .get_stream_no_info(JOBS)
        .await
        .map_err(|e| FleetError::bus(format!("stream {JOBS}"), e))?;
    let message = stream
        .get_raw_message(advisory.stream_seq)
        .await
        .map_err(|e| FleetError::bus(format!("job #{}", advisory.stream_seq), e))?;
    let job: Job = serde_json::from_slice(&message.payload).map_err(|e| FleetError::Malformed {
        what: format!("job #{}", advisory.stream_seq),
        reason: e.to_string(),
    })?;
    let why = format!(
        "no worker finished it within {} deliveries (each worker that took it died or \
         went silent past the ack wait of {:.1} s)",
        advisory.deliveries,
        shared.ack_wait.as_secs_f64()
    );
    let result = JobResult {
        job: job.id(),
        index: job.index,
        worker: shared.name.clone(),
        attempt: advisory.deliveries,
        dead_letter: true,
        report: dead_letter_report(&job, advisory.deliveries, &why),
    };
    store_result(&shared.js, &job.result_subject(), &job.id(), &result).await?;
    stream
        .delete_message(advisory.stream_seq)
        .await
        .map_err(|e| FleetError::bus(format!("removing job #{}", advisory.stream_seq), e))?;
    Ok(())
}

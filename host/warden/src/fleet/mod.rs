//! Grading on a fleet of hosts fed by NATS JetStream (`warden worker`,
//! `warden grade --nats`).
//!
//! Owns the layout on the bus and both ends of it: [`client`] publishes
//! a batch and collects its results, [`worker`] grades jobs. What is
//! shared lives in JetStream alone (workers are stateless):
//!
//! - the object store [`BLOBS`]: exercise files, exercise manifests and
//!   submissions, each named by the sha256 of its bytes, so a blob that
//!   is already there is never sent again;
//! - the work-queue stream [`JOBS`]: one message per submission, taken by
//!   the durable pull consumer [`WORKERS`] every worker shares (ack only
//!   once the result is stored; redelivered after the ack wait;
//!   a dead letter after `max_deliver` attempts);
//! - the stream [`RESULTS`]: one subject per job
//!   (`warden.results.<batch>.<index>`), at most one message each, written
//!   with the job id as `Nats-Msg-Id` and an expected last subject
//!   sequence of 0, so a redelivered job never stores a second result;
//! - the stream [`BATCHES`]: what `--collect` needs to render a batch
//!   later (its exercise, the submissions' names).
//!
//! Results and batches are kept for [`FleetSettings::retain`]. A key-value
//! bucket would serve for results, but creating one fails against
//! Debian's nats-server 2.9.10, so plain streams do.
//!
//! Grading itself is never done here: a worker calls the same
//! [`warden_grade::grade_submission`] local grading does, so reports are
//! the same bytes whichever machine graded them.

pub mod blob;
pub mod client;
pub mod ops;
pub mod worker;

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use serde::{Deserialize, Serialize};

use warden_grade::{LimitOverrides, SubmissionReport};

/// The object store of exercise files and submissions.
pub const BLOBS: &str = "WARDEN_BLOBS";
/// The work-queue stream of jobs.
pub const JOBS: &str = "WARDEN_JOBS";
/// The stream of results, one subject per job.
pub const RESULTS: &str = "WARDEN_RESULTS";
/// The stream of batch descriptions, one subject per batch.
pub const BATCHES: &str = "WARDEN_BATCHES";
/// The durable pull consumer all workers share.
pub const WORKERS: &str = "warden-workers";

/// Why something on the bus failed. Every variant is an infrastructure
/// problem, never a verdict on a submission.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Connecting to the server.
    #[error("cannot connect to NATS at {url}: {reason}")]
    Connect {
        /// The URL given.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// A JetStream request (stream, consumer, publish, fetch) failed.
    #[error("{what}: {reason}")]
    Bus {
        /// What was being done.
        what: String,
        /// What the server or client said.
        reason: String,
    },
    /// A blob that a job names is not in the object store.
    #[error("blob {sha256} ({what}) is not in the object store: {reason}")]
    MissingBlob {
        /// Its name.
        sha256: String,
        /// What it was meant to be.
        what: String,
        /// What the store said.
        reason: String,
    },
    /// A blob whose bytes do not hash to its name.
    #[error("blob {sha256} ({what}) is corrupt: its bytes hash to {actual}")]
    CorruptBlob {
        /// Its name.
        sha256: String,
        /// What it was meant to be.
        what: String,
        /// What its bytes hash to.
        actual: String,
    },
    /// A message that is not what this version of Warden writes.
    #[error("unreadable {what}: {reason}")]
    Malformed {
        /// Which message.
        what: String,
        /// The parse error.
        reason: String,
    },
    /// A batch id `--collect` does not know (never published, or past
    /// its retention).
    #[error("no batch {0} on the bus (unknown, or older than the results are kept)")]
    UnknownBatch(String),
    /// The exercise a batch names could not be rebuilt from its files.
    #[error("exercise of the batch: {0}")]
    Exercise(String),
    /// A local file.
    #[error("{0}")]
    Io(String),
}

impl FleetError {
    pub(crate) fn bus(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self::Bus {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// How the shared streams and the consumer are set up. Whoever comes
/// first (a worker or `warden grade --nats`) creates them with these; an
/// existing stream or consumer keeps its own.
#[derive(Debug, Clone, Copy)]
pub struct FleetSettings {
    /// How long a worker may hold a job without a word (an ack or a
    /// progress ping) before it goes to another worker.
    pub ack_wait: Duration,
    /// Deliveries of a job before it becomes a dead letter.
    pub max_deliver: i64,
    /// How long results and batch descriptions are kept.
    pub retain: Duration,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            retain: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// One submission to grade.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    /// The batch it belongs to.
    pub batch: String,
    /// Its position in the batch (and so in the reports).
    pub index: usize,
    /// The exercise manifest's blob ([`blob::ExerciseManifest`]).
    pub exercise: String,
    /// The name reports give the submission (its path on the client).
    pub name: String,
    /// The submission's blob.
    pub sha256: String,
    /// Limits replacing the exercise's.
    pub limits: JobLimits,
}

impl Job {
    /// The id results are keyed by (`Nats-Msg-Id` of the job and its result).
    pub fn id(&self) -> String {
        format!("{}.{}", self.batch, self.index)
    }

    /// Where its result goes.
    pub fn result_subject(&self) -> String {
        result_subject(&self.batch, self.index)
    }
}

/// The subject of a job's result.
pub fn result_subject(batch: &str, index: usize) -> String {
    format!("warden.results.{batch}.{index}")
}

/// The subject of a batch's jobs.
pub fn job_subject(batch: &str) -> String {
    format!("warden.jobs.{batch}")
}

/// The subject of a batch's description.
pub fn batch_subject(batch: &str) -> String {
    format!("warden.batches.{batch}")
}

/// [`LimitOverrides`] as a job carries them.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct JobLimits {
    /// Fuel per case.
    pub fuel: Option<u64>,
    /// Memory per case in MiB.
    pub memory_mb: Option<u64>,
    /// Wall-clock limit per case in ms.
    pub timeout_ms: Option<u64>,
    /// Guest output per case in bytes.
    pub output_limit_bytes: Option<u64>,
}

impl From<LimitOverrides> for JobLimits {
    fn from(l: LimitOverrides) -> Self {
        Self {
            fuel: l.fuel,
            memory_mb: l.memory_mb,
            timeout_ms: l.timeout_ms,
            output_limit_bytes: l.output_limit_bytes,
        }
    }
}

impl From<JobLimits> for LimitOverrides {
    fn from(l: JobLimits) -> Self {
        Self {
            fuel: l.fuel,
            memory_mb: l.memory_mb,
            timeout_ms: l.timeout_ms,
            output_limit_bytes: l.output_limit_bytes,
        }
    }
}

/// A stored result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobResult {
    /// [`Job::id`].
    pub job: String,
    /// [`Job::index`].
    pub index: usize,
    /// The worker that stored it.
    pub worker: String,
    /// Which delivery of the job it came from (1 = the first).
    pub attempt: i64,
    /// True for a dead letter: the report says `error` because the
    /// fleet could not grade the job, not because of the submission.
    pub dead_letter: bool,
    /// The report.
    pub report: SubmissionReport,
}

/// What `--collect` needs to render a batch without its inputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchRecord {
    /// The batch id.
    pub batch: String,
    /// The exercise manifest's blob.
    pub exercise: String,
    /// The submissions' names, in input order.
    pub names: Vec<String>,
    /// Whether reports printed to a stream carry their names
    /// (several submissions, or a directory given).
    pub named: bool,
    /// The limits every job of the batch runs under.
    pub limits: JobLimits,
}

/// Connects, with a name the server shows for this connection. Once
/// connected, the client reconnects by itself when the server goes away
/// and returns; `wait` makes it wait for a server that is not up yet (a
/// worker started before it) instead of failing at once.
pub async fn connect(url: &str, name: &str, wait: bool) -> Result<async_nats::Client, FleetError> {
    let mut options = async_nats::ConnectOptions::new().name(name);
    if wait {
        options = options.retry_on_initial_connect();
    }
    options
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None)
        .connect(url)
        .await
        .map_err(|e| FleetError::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        })
}

/// The JetStream context for a connection, with a request timeout long
/// enough for a server that is busy writing to disk.
pub fn context(client: async_nats::Client) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(Duration::from_secs(10))
        .build(client)
}

/// Creates the streams (and the object store) unless they exist.
pub async fn ensure_streams(js: &jetstream::Context, s: &FleetSettings) -> Result<(), FleetError> {
    let streams = [
        stream::Config {
            name: JOBS.into(),
            subjects: vec!["warden.jobs.>".into()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            max_age: s.retain,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        },
        stream::Config {
            name: RESULTS.into(),
            subjects: vec!["warden.results.>".into()],
            storage: stream::StorageType::File,
            max_messages_per_subject: 1,
            max_age: s.retain,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        },
        stream::Config {
            name: BATCHES.into(),
            subjects: vec!["warden.batches.>".into()],
            storage: stream::StorageType::File,
            max_messages_per_subject: 1,
            max_age: s.retain,
            ..Default::default()
        },
    ];
    for config in streams {
        let name = config.name.clone();
        js.get_or_create_stream(config)
            .await
            .map_err(|e| FleetError::bus(format!("stream {name}"), e))?;
    }
    blob::store(js).await?;
    Ok(())
}

/// The consumer every worker pulls from, created with `s` unless it exists.
pub async fn workers_consumer(
    js: &jetstream::Context,
    s: &FleetSettings,
) -> Result<consumer::Consumer<consumer::pull::Config>, FleetError> {
    let stream = js
        .get_stream(JOBS)
        .await
        .map_err(|e| FleetError::bus(format!("stream {JOBS}"), e))?;
    stream
        .get_or_create_consumer(
            WORKERS,
            consumer::pull::Config {
                durable_name: Some(WORKERS.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: s.ack_wait,
                max_deliver: s.max_deliver,
                max_ack_pending: -1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| FleetError::bus(format!("consumer {WORKERS}"), e))
}

/// Stores the result unless one is there: true when this call stored it.
/// The server refuses a second message on the job's subject (expected
/// last subject sequence 0) and drops a repeat of this one within the
/// de-duplication window (`Nats-Msg-Id`), so no job ever has two results.
pub(crate) async fn store_result(
    js: &jetstream::Context,
    subject: &str,
    id: &str,
    result: &JobResult,
) -> Result<bool, FleetError> {
    let payload = serde_json::to_vec(result).map_err(|e| FleetError::Io(e.to_string()))?;
    let mut last = None;
    // A server that is restarting answers again within seconds.
    for _ in 0..60 {
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload.clone().into())
            .message_id(id)
            .expected_last_subject_sequence(0);
        let sent = match js.send_publish(subject.to_string(), publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(ack) => return Ok(!ack.duplicate),
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                return Ok(false);
            }
            Err(e) => {
                last = Some(e.to_string());
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    Err(FleetError::bus(
        format!("storing the result of {id}"),
        last.unwrap_or_default(),
    ))
}

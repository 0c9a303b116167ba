//! `warden grade --nats`: publishes a batch and collects its results.
//!
//! Owns the client's half of the protocol: the exercise and each
//! submission go to the object store once (by sha256), a description of
//! the batch to [`BATCHES`](super::BATCHES), then one job per submission
//! to the work queue; results are read back from
//! [`RESULTS`](super::RESULTS) in the order they were stored and handed
//! to a [`ReportSink`] — the same sinks, progress bar and summary as
//! local grading. It never grades a submission a worker can grade.

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

use warden_grade::{BatchSummary, Exercise, LimitOverrides, ReportSink, SubmissionReport};

use super::{
    BatchRecord, FleetError, FleetSettings, Job, JobLimits, JobResult, RESULTS, batch_subject,
    blob, job_subject, result_subject, store_result,
};

/// A submission as the client hands it over.
pub enum Input {
    /// Its bytes, read: a worker grades it.
    Bytes {
        /// The name reports give it.
        name: String,
        /// The component.
        bytes: Vec<u8>,
    },
    /// A report made on the client, for a submission whose bytes could
    /// not be read (the same report local grading gives it).
    Graded(Box<SubmissionReport>),
}

impl Input {
    fn name(&self) -> String {
        match self {
            Input::Bytes { name, .. } => name.clone(),
            Input::Graded(report) => report.submission.clone(),
        }
    }
}

/// What was published.
pub struct Published {
    /// The batch id (`--collect` takes it).
    pub batch: String,
    /// Blobs sent, and blobs that were in the store already.
    pub blobs_sent: usize,
    /// Blobs not sent because the store had them.
    pub blobs_present: usize,
}

/// A fresh batch id: a subject token (no dots), unique enough for a
/// deployment's retention window.
pub fn new_batch_id() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "b{:x}{:04x}{:08x}",
        now.as_secs(),
        std::process::id() & 0xffff,
        fastrand::u32(..)
    )
}

/// Publishes a batch: blobs, description, jobs.
pub async fn publish(
    js: &jetstream::Context,
    settings: &FleetSettings,
    exercise: &Exercise,
    inputs: Vec<Input>,
    limits: LimitOverrides,
    named: bool,
) -> Result<Published, FleetError> {
    super::ensure_streams(js, settings).await?;
    let store = blob::store(js).await?;
    let manifest = blob::put_exercise(&store, exercise).await?;
    let batch = new_batch_id();
    let record = BatchRecord {
        batch: batch.clone(),
        exercise: manifest.clone(),
        names: inputs.iter().map(Input::name).collect(),
        named,
        limits: JobLimits::from(limits),
    };
    let payload = serde_json::to_vec(&record).map_err(|e| FleetError::Io(e.to_string()))?;
    publish_retrying(js, batch_subject(&batch), batch.clone(), payload).await?;
    let (mut blobs_sent, mut blobs_present) = (0, 0);
    for (index, input) in inputs.into_iter().enumerate() {
        match input {
            Input::Bytes { name, bytes } => {
                let (sha256, sent) = blob::put(&store, &bytes).await?;
                if sent {
                    blobs_sent += 1;
                } else {
                    blobs_present += 1;
                }
                let job = Job {
                    batch: batch.clone(),
                    index,
                    exercise: manifest.clone(),
                    name,
                    sha256,
                    limits: JobLimits::from(limits),
                };
                let payload =
                    serde_json::to_vec(&job).map_err(|e| FleetError::Io(e.to_string()))?;
                publish_retrying(js, job_subject(&batch), job.id(), payload).await?;
            }
            Input::Graded(report) => {
                let id = format!("{batch}.{index}");
                let result = JobResult {
                    job: id.clone(),
                    index,
                    worker: "client".into(),
                    attempt: 1,
                    dead_letter: false,
                    report: *report,
                };
                store_result(js, &result_subject(&batch, index), &id, &result).await?;
            }
        }
    }
    Ok(Published {
        batch,
        blobs_sent,
        blobs_present,
    })
}

/// Publishes with `id` as `Nats-Msg-Id`, again and again while the
/// server is away (the id makes a repeat harmless).
async fn publish_retrying(
    js: &jetstream::Context,
    subject: String,
    id: String,
    payload: Vec<u8>,
) -> Result<(), FleetError> {
    let mut last = String::new();
    for _ in 0..60 {
        let publish = jetstream::message::PublishMessage::build()
            .payload(payload.clone().into())
            .message_id(&id);
        let sent = match js.send_publish(subject.clone(), publish).await {
            Ok(ack) => ack.await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(_) => return Ok(()),
            Err(e) => {
                last = e.to_string();
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    Err(FleetError::bus(
        format!("publishing {id} on {subject}"),
        last,
    ))
}

/// The description of a published batch.
pub async fn batch_record(js: &jetstream::Context, batch: &str) -> Result<BatchRecord, FleetError> {
    let valid = !batch.is_empty()
        && batch
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(FleetError::UnknownBatch(batch.to_string()));
    }
    let stream = js
        .get_stream_no_info(super::BATCHES)
        .await
        .map_err(|e| FleetError::bus(format!("stream {}", super::BATCHES), e))?;
    let message = stream
        .get_last_raw_message_by_subject(&batch_subject(batch))
        .await
        .map_err(|_| FleetError::UnknownBatch(batch.to_string()))?;
    serde_json::from_slice(&message.payload).map_err(|e| FleetError::Malformed {
        what: format!("batch {batch}"),
        reason: e.to_string(),
    })
}

/// Reads the batch's results as they are stored and feeds `sink` once
/// per submission until every one has a result. A dead letter's report
/// gets the exercise's name, points and limits, which its worker may not
/// have known.
pub async fn collect(
    js: &jetstream::Context,
    record: &BatchRecord,
    exercise: &Exercise,
    limits: LimitOverrides,
    sink: &mut dyn ReportSink,
) -> Result<BatchSummary, FleetError> {
    let total = record.names.len();
    let mut summary = BatchSummary::default();
    let mut seen = BTreeSet::new();
    let mut next_seq = 1;
    let mut consumer = None;
    while seen.len() < total {
        // A consumer of our own, made again from where it stopped when
        // the server went away (it forgets an ephemeral consumer).
        let current = match consumer.take() {
            Some(c) => c,
            None => match reader(js, &record.batch, next_seq).await {
                Ok(c) => c,
                Err(err) => {
                    tracing::debug!(error = %err, "reading results; trying again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            },
        };
        let fetched = current
            .fetch()
            .max_messages(256)
            .expires(Duration::from_secs(1))
            .messages()
            .await;
        let mut messages = match fetched {
            Ok(messages) => messages,
            Err(err) => {
                tracing::debug!(error = %err, "reading results; starting over");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut broken = false;
        while let Some(message) = messages.next().await {
            let message = match message {
                Ok(message) => message,
                Err(err) => {
                    tracing::debug!(error = %err, "reading results; starting over");
                    broken = true;
                    break;
                }
            };
            if let Ok(info) = message.info() {
                next_seq = info.stream_sequence + 1;
            }
            let result: JobResult =
                serde_json::from_slice(&message.payload).map_err(|e| FleetError::Malformed {
                    what: format!("result on {}", message.subject),
                    reason: e.to_string(),
                })?;
            if result.index >= total || !seen.insert(result.index) {
                continue;
            }
            let mut report = result.report;
            if result.dead_letter {
                report.exercise = exercise.name.clone();
                report.max_score = exercise.max_score();
                report.limits = limits.apply(exercise.settings.limits);
            }
            summary.record(&report);
            if let Err(err) = sink.submission(result.index, &report) {
                summary
                    .write_failures
                    .push((report.submission.clone(), err.to_string()));
            }
        }
        if !broken {
            consumer = Some(current);
        }
    }
    if let Err(err) = sink.finish(&summary) {
        summary
            .write_failures
            .push(("(all)".to_string(), err.to_string()));
    }
    Ok(summary)
}

/// A consumer of the batch's results from stream sequence `from` on,
/// in order; the server drops it a while after it is last used.
async fn reader(
    js: &jetstream::Context,
    batch: &str,
    from: u64,
) -> Result<consumer::Consumer<consumer::pull::Config>, FleetError> {
    let stream = js
        .get_stream_no_info(RESULTS)
        .await
        .map_err(|e| FleetError::bus(format!("stream {RESULTS}"), e))?;
    stream
        .create_consumer(consumer::pull::Config {
            filter_subject: format!("warden.results.{batch}.>"),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from,
            },
            ack_policy: consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(60),
            ..Default::default()
        })
        .await
        .map_err(|e| FleetError::bus("results consumer", e))
}

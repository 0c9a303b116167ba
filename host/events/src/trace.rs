//! What message tracing adds to the host's event stream: a
//! [`TraceEvent::Traced`] per message a traced component child handled
//! (the live feed of `trace.start`), and a [`TraceEvent::TraceEnded`] when
//! a trace stops.
//!
//! Owns: the shape and JSON of a traced message ([`TracedMessage`], also
//! what `trace.get` answers per record) and of these events. Never does:
//! decide what is traced or keep records (the host's `trace` module does,
//! and publishes these).

use std::fmt;

use serde::Serialize;
use tracing::Level;

/// How a message reached the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceKind {
    /// From the API or the host, waiting for the reply (`child.send`).
    Call,
    /// From the API or the host, not waiting (`child.send` with `reply:
    /// false`).
    Cast,
    /// From a sibling's `host::send`.
    Send,
}

/// How the child's handling of a message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceOutcome {
    /// The guest answered.
    Reply,
    /// The guest refused the message with an error of its own.
    Error,
    /// The guest failed while handling it (trap, fuel, memory, timeout).
    Trap,
}

/// The start of a message, a reply or an error text: its size and its
/// first bytes, as text when they are UTF-8, else as hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Payload {
    /// The whole size, in bytes.
    pub size: u64,
    /// The first bytes (at most the trace's preview length).
    pub preview: String,
    /// `utf8` (the preview is the text) or `hex` (two digits per byte).
    pub encoding: &'static str,
    /// Whether the preview stops before the end.
    pub truncated: bool,
}

/// One message a traced child handled, with what came out of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TracedMessage {
    /// Its number in the trace, from 1.
    pub seq: u64,
    /// How it came in.
    pub kind: TraceKind,
    /// The sender's path, for a sibling's `send`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What came in.
    pub message: Payload,
    /// How the guest's handling ended.
    pub outcome: TraceOutcome,
    /// What went out: the reply, the guest's error, or the failure.
    pub reply: Payload,
    /// From the child taking the message out of its mailbox to the guest's
    /// answer, in microseconds.
    pub latency_us: u64,
}

/// Something a trace saw or did. Serialized as `"event": "<snake_case>"`
/// beside the fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, strum::VariantNames)]
#[serde(tag = "event", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum TraceEvent {
    /// A traced child handled a message (the event's path is the child's).
    Traced {
        /// The trace's id.
        trace: String,
        /// The message and its outcome.
        #[serde(flatten)]
        message: Box<TracedMessage>,
    },
    /// A trace stopped recording (the event's path is its first child's).
    TraceEnded {
        /// The trace's id.
        trace: String,
        /// `max_messages`, `duration` or `stopped`.
        reason: String,
        /// How many messages it recorded.
        records: u64,
    },
}

impl TraceEvent {
    /// `traced` is as loud as the traffic it mirrors: `trace` level.
    pub fn level(&self) -> Level {
        match self {
            Self::Traced { .. } => Level::TRACE,
            Self::TraceEnded { .. } => Level::INFO,
        }
    }

    /// The snake_case name the event is serialized with (`trace_ended`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Traced { .. } => "traced",
            Self::TraceEnded { .. } => "trace_ended",
        }
    }
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Traced { trace, message } => write!(
                f,
                "trace {trace} #{}: {:?} of {} bytes, {:?} of {} bytes in {} µs",
                message.seq,
                message.kind,
                message.message.size,
                message.outcome,
                message.reply.size,
                message.latency_us
            ),
            Self::TraceEnded {
                trace,
                reason,
                records,
            } => write!(f, "trace {trace} ended ({reason}) with {records} records"),
        }
    }
}

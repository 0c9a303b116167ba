//! The supervisor's own timers: delayed restarts (backoff, storm pause) and the
//! settle check of a strategy change.
//!
//! A min-heap of deadlines polled by the actor's loop as one more input, so a delay
//! never blocks the loop and needs no extra task. A timer whose purpose has gone
//! (the child was terminated or restarted meanwhile) is not cancelled: the handler
//! checks the child's state when it fires and ignores stale timers.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use tokio::time::Instant;

use super::id::ChildId;

/// `now + delay`, saturating to a far future instead of overflowing: a huge
/// configured delay means "practically never", not a panic.
pub(crate) fn deadline_after(now: Instant, delay: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);
    now.checked_add(delay)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

/// What a timer is for.
#[derive(Debug, Clone)]
pub(crate) enum TimerKind {
    /// A delayed restart of this child is due.
    Restart(ChildId),
    /// A strategy change has had its settle window.
    SettleCheck,
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    kind: TimerKind,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    // Reversed: the earliest deadline (then the earliest scheduled) is the greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

/// Pending timers, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

impl Timers {
    pub(crate) fn schedule(&mut self, at: Instant, kind: TimerKind) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            kind,
        });
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.at)
    }

    /// Takes the next timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerKind> {
        if self.heap.peek().is_some_and(|e| e.at <= now) {
            self.heap.pop().map(|e| e.kind)
        } else {
            None
        }
    }
}

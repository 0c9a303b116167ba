//! `GET /events`: the event stream as Server-Sent Events.
//!
//! Each subscriber gets its own [`EventStream`](warden_events::EventStream)
//! from the moment its request is handled, filtered by `child` (the path
//! itself and everything below it) and `kind` (a comma-separated list of
//! event kinds). Each message is `id: <seq>` (the position of the event in
//! this subscription, counting filtered-out and missed ones, so gaps are
//! visible), `event: <kind>` and `data: <Event JSON>`. A subscriber that
//! falls behind the bus gets `event: missed` with `{"missed": n}` whatever
//! its filters. The first message is a `: subscribed` comment (sent at
//! once, so a client knows it is subscribed), then a `: keep-alive`
//! comment every 15 s of silence. Streams end when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::watch;

use crate::error::HttpError;
use crate::routes::Shared;
use warden_events::{Event, EventFilter, EventStream, Received};

/// The silence after which a keep-alive comment is sent.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The query of `GET /events`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// A supervisor or child path; events of it and below it pass.
    child: Option<String>,
    /// Comma-separated event kinds (`child_restarted,child_exited`).
    kind: Option<String>,
}

/// The subscriber's filter, from the query: `child` without a trailing
/// `/`, `kind` as a comma-separated list of snake_case names.
fn filter_from_query(query: EventsQuery) -> Result<EventFilter, HttpError> {
    let child = query
        .child
        .map(|c| c.trim_end_matches('/').to_string())
        .filter(|c| !c.is_empty());
    let kinds: Vec<String> = query
        .kind
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = kinds
        .iter()
        .find(|k| !k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    {
        return Err(HttpError::BadRequest(format!(
            "`kind` lists event kinds in snake_case (child_restarted,…); got `{bad}`"
        )));
    }
    Ok(EventFilter {
        child,
        kinds,
        limit: None,
    })
}

/// The handler.
pub(crate) async fn events(
    State(shared): State<Shared>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let filter = match query {
        Ok(Query(query)) => filter_from_query(query),
        Err(rejection) => Err(HttpError::BadRequest(rejection.body_text())),
    };
    let filter = match filter {
        Ok(filter) => filter,
        Err(e) => return e.into_response(),
    };
    let stream = shared.api.events().subscribe();
    Sse::new(messages(stream, filter, shared.shutdown.clone()))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response()
}

struct Subscription {
    stream: EventStream,
    filter: EventFilter,
    shutdown: watch::Receiver<bool>,
    seq: u64,
}

fn messages(
    stream: EventStream,
    filter: EventFilter,
    shutdown: watch::Receiver<bool>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send {
    let subscription = Subscription {
        stream,
        filter,
        shutdown,
        seq: 0,
    };
    let greeting =
        futures_util::stream::once(async { Ok(SseEvent::default().comment("subscribed")) });
    let events = futures_util::stream::unfold(subscription, |mut sub| async move {
        loop {
            if *sub.shutdown.borrow() {
                return None;
            }
            let received = tokio::select! {
                received = sub.stream.recv() => received?,
                _ = sub.shutdown.changed() => return None,
            };
            match received {
                Received::Missed(n) => {
                    sub.seq += n;
                    let message = SseEvent::default()
                        .event("missed")
                        .data(serde_json::json!({ "missed": n }).to_string());
                    return Some((Ok(message), sub));
                }
                Received::Event(event) => {
                    sub.seq += 1;
                    if let Some(message) = encode(&event, &sub.filter, sub.seq) {
                        return Some((Ok(message), sub));
                    }
                }
            }
        }
    });
    greeting.chain(events)
}

/// The SSE message of `event`, or `None` when the filter drops it.
fn encode(event: &Event, filter: &EventFilter, seq: u64) -> Option<SseEvent> {
    if !filter.matches(event) {
        return None;
    }
    let kind = event.kind.name();
    match serde_json::to_string(event) {
        Ok(data) => Some(
            SseEvent::default()
                .id(seq.to_string())
                .event(kind)
                .data(data),
        ),
        Err(e) => {
            tracing::error!(path = %event.path, error = %e, "an event could not be serialized; skipped");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_events::SupervisorEvent;
    use warden_supervisor::ChildPath;

    fn filter(child: Option<&str>, kind: Option<&str>) -> Result<EventFilter, HttpError> {
        filter_from_query(EventsQuery {
            child: child.map(str::to_string),
            kind: kind.map(str::to_string),
        })
    }

    fn event(path: &str, kind: SupervisorEvent) -> Event {
        Event::now(ChildPath::supervisor(path), kind)
    }

    #[test]
    fn filters_by_subtree_and_kind() {
        let started = || SupervisorEvent::ChildStarted { generation: 1 };
        let restarted = || SupervisorEvent::ChildRestarted {
            generation: 2,
            restarts: 1,
            delay_ms: 0,
        };
        let f = filter(
            Some("root/storage/"),
            Some("child_restarted, child_started"),
        )
        .unwrap();
        assert!(f.matches(&event("root/storage", started())));
        assert!(f.matches(&event("root/storage/kv", restarted())));
        assert!(!f.matches(&event("root/storage2", restarted())));
        assert!(!f.matches(&event("root", restarted())));
        assert!(!f.matches(&event("root/storage/kv", SupervisorEvent::ChildRemoved)));
        let all = filter(None, Some("")).unwrap();
        assert!(all.matches(&event("anything", SupervisorEvent::ChildIgnored)));
        assert!(matches!(
            filter(None, Some("Child-Restarted")),
            Err(HttpError::BadRequest(_))
        ));
    }
}

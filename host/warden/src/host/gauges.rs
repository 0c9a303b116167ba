//! [`HostGauges`], the API's [`ChildGauges`]: every child's numbers for
//! `/metrics`, read at scrape time.
//!
//! Owns the walk of the tree (one `which_children` per supervisor, each
//! answered by that supervisor's actor) and the mapping of each child's
//! `info` to a [`ChildSample`]. It never holds a lock across children: each
//! number is read from its child's own atomics or the reloader's map, one
//! child at a time, so a scrape of a large tree never stalls it.
//!
//! Components have no health score: the score's formula weighs a worker's
//! CPU, RSS and file descriptors against its limits, which a sandbox does
//! not have; its memory and fuel are exported on their own instead.

use std::sync::Arc;

use serde_json::Value;

use crate::api::{ChildGauges, ChildSample, SampleFuture};
use crate::reload::Reloader;
use crate::supervisor::{ChildKind, SupervisorHandle};

/// Reads every child of `root`'s tree for `/metrics`.
pub struct HostGauges {
    root: SupervisorHandle,
    reloader: Reloader,
}

impl HostGauges {
    /// Gauges of the tree under `root`, reload versions from `reloader`.
    pub fn new(root: SupervisorHandle, reloader: Reloader) -> Arc<Self> {
        Arc::new(Self { root, reloader })
    }

    fn walk(&self, sup: SupervisorHandle, out: Vec<ChildSample>) -> SampleFuture<'_> {
        Box::pin(async move {
            let mut out = out;
            // A supervisor that stopped between the parent's answer and this
            // question has no children to show.
            let Ok(children) = sup.which_children().await else {
                return out;
            };
            for child in children {
                let path = format!("{}/{}", sup.path(), child.id);
                if child.kind == ChildKind::Supervisor {
                    out.push(ChildSample {
                        path,
                        kind: "supervisor".into(),
                        restarts: child.restarts,
                        ..ChildSample::default()
                    });
                    if let Ok(nested) = sup.child_supervisor(child.id.clone()).await {
                        out = self.walk(nested, out).await;
                    }
                    continue;
                }
                out.push(sample(&self.reloader, path, child.restarts, &child.info));
            }
            out
        })
    }
}

impl ChildGauges for HostGauges {
    fn sample(&self) -> SampleFuture<'_> {
        self.walk(self.root.clone(), Vec::new())
    }
}

/// One worker child's sample from its live incarnation's `info` (`null`
/// when it is not running: only its restarts and version are known then).
/// A child with a program slot is a component, any other a process.
fn sample(reloader: &Reloader, path: String, restarts: u64, info: &Value) -> ChildSample {
    let version = reloader.current_version(&path);
    let mut out = ChildSample {
        kind: if version.is_some() {
            "component"
        } else {
            "process"
        }
        .into(),
        restarts,
        ..ChildSample::default()
    };
    if version.is_some() {
        out.memory_bytes = info["memory_bytes"].as_u64();
        out.fuel_used = info["fuel_used"].as_u64();
        out.mailbox_depth = info["mailbox"]["depth"].as_u64();
        out.reload_version = version;
        out.hibernated = info["hibernate_after_ms"]
            .is_u64()
            .then(|| info["hibernated"] == true);
    } else {
        out.memory_bytes = info["stats"]["rss_bytes"].as_u64();
        out.health_score = info["health"]["score"]
            .as_u64()
            .and_then(|n| u8::try_from(n).ok());
    }
    out.path = path;
    out
}

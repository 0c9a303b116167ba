//! Supervisors as children: [`SupervisorSpec`] implements [`ChildStart`], so a tree
//! nests to any depth.
//!
//! Starting a nested supervisor spawns its task and waits for its init, as OTP's
//! `supervisor:start_link` does: if one of its children fails to start, the start
//! fails with [`StartError::Child`] naming the offender's path. Once running, the
//! parent owns a [`RunningChild`] whose `shutdown` asks for an orderly stop (all
//! grandchildren in reverse order) and whose `kill` interrupts the nested
//! supervisor wherever it is, kills its children and makes it exit `killed`.
//!
//! A nested supervisor that gives up (intensity reached, storm escalation) exits
//! with `shutdown`, as in OTP. Its parent then applies the decision table: a
//! permanent supervisor child is restarted (and that restart counts against the
//! parent's intensity: this is how failures escalate up the tree), a transient or
//! temporary one is not, because `shutdown` is not an abnormal exit. Dynamic
//! children of a nested `simple_one_for_one` supervisor are gone when it restarts:
//! the new incarnation starts with none.

use std::sync::Arc;

use tokio::sync::Notify;

use super::actor::spawn;
use super::child::{BoxFuture, ChildStart, RunningChild, StartContext, StartError, Started};
use super::handle::SupervisorHandle;
use super::spec::SupervisorSpec;

impl ChildStart for SupervisorSpec {
    fn start(&self, ctx: StartContext) -> BoxFuture<'static, Result<Started, StartError>> {
        let spec = self.clone();
        Box::pin(async move {
            let StartContext {
                path,
                exits,
                events,
                ..
            } = ctx;
            let path: Arc<str> = Arc::from(path.to_string());
            let spawned = spawn(path, spec, events, Some(exits)).await?;
            Ok(Started::Running(Box::new(SupervisorChild {
                handle: spawned.handle,
                kill: spawned.kill,
            })))
        })
    }
}

/// A running nested supervisor, as its parent holds it.
struct SupervisorChild {
    handle: SupervisorHandle,
    kill: Arc<Notify>,
}

impl RunningChild for SupervisorChild {
    fn shutdown(&mut self) {
        self.handle.request_stop();
    }

    fn kill(&mut self) {
        self.kill.notify_one();
    }

    fn info(&self) -> serde_json::Value {
        serde_json::json!({ "supervisor": self.handle.path() })
    }

    fn supervisor(&self) -> Option<SupervisorHandle> {
        Some(self.handle.clone())
    }
}

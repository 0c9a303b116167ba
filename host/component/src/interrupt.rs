//! Interrupts: how the host stops guest code it no longer wants run.
//!
//! An [`Interrupt`] is a flag in a small graph: it counts as fired when it
//! was fired itself or when any of its parents counts as fired. Every
//! sandbox gets a node of its own whose parents are the scope it was
//! created in and its runtime's root, and its Store's epoch callback reads
//! that node once per tick, so firing any ancestor stops every guest call
//! below it within one epoch tick:
//!
//! ```text
//!   runtime root ── fired when the host gives up waiting (stop grace, second signal)
//!     ├─ component child sandbox ── its kill switch
//!     └─ … every other sandbox of the runtime
//!   host calls scope ── fired when the host starts to stop
//!     └─ one operation call ── fired when its caller goes away (FireOnDrop)
//!          └─ sandbox (also under the runtime root) ── …
//! ```
//!
//! Guarantees: firing is permanent and never blocks; reading is a handful
//! of relaxed atomic loads, cheap enough for every tick of every guest.
//! An interrupt stops guest *code* (and the host's own sleeps on the
//! guest's behalf, see `clock_guard`); it never waits for anything.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A flag that stops the guest calls under it (see the module docs).
/// Cheap to clone: clones are the same flag.
#[derive(Clone)]
pub struct Interrupt(Arc<Node>);

struct Node {
    fired: AtomicBool,
    /// At most two: a node is under its scope and, for sandboxes, under
    /// its runtime's root as well.
    parents: [Option<Interrupt>; 2],
}

impl Interrupt {
    /// A new flag of its own, not yet fired.
    pub fn new() -> Self {
        Self::with_parents([None, None])
    }

    fn with_parents(parents: [Option<Interrupt>; 2]) -> Self {
        Self(Arc::new(Node {
            fired: AtomicBool::new(false),
            parents,
        }))
    }

    /// A new flag that also counts as fired once `self` is.
    pub fn child(&self) -> Self {
        Self::with_parents([Some(self.clone()), None])
    }

    /// A new flag that counts as fired once `self` or `other` is.
    pub fn child_of_either(&self, other: &Interrupt) -> Self {
        Self::with_parents([Some(self.clone()), Some(other.clone())])
    }

    /// Fires this flag (and so every flag below it). Idempotent.
    pub fn fire(&self) {
        self.0.fired.store(true, Ordering::Relaxed);
    }

    /// True once this flag or one of its ancestors was fired.
    pub fn is_fired(&self) -> bool {
        self.0.fired.load(Ordering::Relaxed)
            || self.0.parents.iter().flatten().any(Interrupt::is_fired)
    }

    /// A guard that fires this flag when dropped: held by the future of a
    /// call, it stops the guest when that future is dropped because its
    /// caller went away (and, harmlessly, when the call is over).
    pub fn fire_on_drop(&self) -> FireOnDrop {
        FireOnDrop(self.clone())
    }
}

impl Default for Interrupt {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("fired", &self.is_fired())
            .finish()
    }
}

/// Fires its [`Interrupt`] when dropped (see [`Interrupt::fire_on_drop`]).
#[must_use = "the interrupt fires as soon as the guard is dropped"]
#[derive(Debug)]
pub struct FireOnDrop(Interrupt);

impl Drop for FireOnDrop {
    fn drop(&mut self) {
        self.0.fire();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fired_ancestor_fires_every_descendant_and_nothing_else() {
        let root = Interrupt::new();
        let scope = Interrupt::new();
        let call = scope.child();
        let sandbox = call.child_of_either(&root);
        let sibling = root.child();
        assert!(!sandbox.is_fired() && !sibling.is_fired());
        scope.fire();
        assert!(call.is_fired() && sandbox.is_fired());
        assert!(!root.is_fired() && !sibling.is_fired());
        root.fire();
        assert!(sibling.is_fired());
    }

    #[test]
    fn a_guard_fires_when_dropped() {
        let call = Interrupt::new();
        let below = call.child();
        let guard = call.fire_on_drop();
        assert!(!below.is_fired());
        drop(guard);
        assert!(below.is_fired() && call.is_fired());
    }
}

//! Compiled components kept in host memory, under a byte budget.
//!
//! A runtime keeps what it compiled or loaded so the same bytes are never
//! compiled or mapped twice. Without a bound every distinct component ever
//! seen stayed (4 variants raised a host's RSS from 19 MB to 643 MB), so
//! entries are counted by the size of their compiled image and the least
//! recently used are dropped past the budget.
//!
//! Entries in use are never dropped: every [`Lease`] handed out with a
//! component (it travels inside `Compiled`, so inside every `Prepared`,
//! program and child built from it) marks its entry in use while it lives.
//! Dropping such an entry would free nothing — the holder's `Component`
//! clone keeps the code alive — and a later load of the same bytes would
//! then map a second copy. So the budget bounds what the map alone keeps
//! alive; when live programs alone exceed it, the map holds just those.
//!
//! Must never: evict an entry with a live lease.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use wasmtime::component::Component;

/// Keeps an entry of a [`Resident`] set in use while it lives.
pub type Lease = Arc<()>;

struct Entry {
    component: Component,
    bytes: u64,
    lease: Lease,
    last_used: u64,
}

impl Entry {
    fn in_use(&self) -> bool {
        Arc::strong_count(&self.lease) > 1
    }
}

#[derive(Default)]
struct State {
    entries: HashMap<String, Entry>,
    total: u64,
    clock: u64,
}

/// The compiled components of one engine, by content hash.
pub(crate) struct Resident {
    budget: u64,
    state: Mutex<State>,
}

impl Resident {
    pub(crate) fn new(budget: u64) -> Self {
        Self {
            budget,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The component for `hash`, marked as just used.
    pub(crate) fn get(&self, hash: &str) -> Option<(Component, Lease)> {
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        let entry = state.entries.get_mut(hash)?;
        entry.last_used = now;
        Some((entry.component.clone(), entry.lease.clone()))
    }

    /// Adds a component (or returns the one a racing thread added first),
    /// then drops unused entries past the budget.
    pub(crate) fn insert(&self, hash: &str, component: Component) -> (Component, Lease) {
        let mut state = self.lock();
        state.clock += 1;
        let now = state.clock;
        if let Some(entry) = state.entries.get_mut(hash) {
            entry.last_used = now;
            return (entry.component.clone(), entry.lease.clone());
        }
        let bytes = image_bytes(&component);
        let lease = Lease::default();
        state.entries.insert(
            hash.to_string(),
            Entry {
                component: component.clone(),
                bytes,
                lease: lease.clone(),
                last_used: now,
            },
        );
        state.total = state.total.saturating_add(bytes);
        // The lease is held here, so the new entry is in use and stays.
        self.evict(&mut state);
        (component, lease)
    }

    fn evict(&self, state: &mut State) {
        while state.total > self.budget {
            let oldest_unused = state
                .entries
                .iter()
                .filter(|(_, e)| !e.in_use())
                .min_by_key(|(_, e)| e.last_used)
                .map(|(hash, _)| hash.clone());
            let Some(hash) = oldest_unused else {
                tracing::debug!(
                    total = state.total,
                    budget = self.budget,
                    "compiled components in use exceed the memory budget"
                );
                return;
            };
            if let Some(entry) = state.entries.remove(&hash) {
                state.total = state.total.saturating_sub(entry.bytes);
                tracing::debug!(hash = %hash, bytes = entry.bytes, "dropped a compiled component from memory");
            }
        }
    }

    /// Hashes of the components some holder still uses.
    pub(crate) fn in_use(&self) -> HashSet<String> {
        self.lock()
            .entries
            .iter()
            .filter(|(_, e)| e.in_use())
            .map(|(hash, _)| hash.clone())
            .collect()
    }

    /// Bytes of compiled code the set holds, and how many entries.
    pub(crate) fn usage(&self) -> (u64, usize) {
        let state = self.lock();
        (state.total, state.entries.len())
    }
}

/// The size of a component's compiled image (code and data), the memory
/// it keeps mapped.
fn image_bytes(component: &Component) -> u64 {
    let range = component.image_range();
    (range.end as usize).saturating_sub(range.start as usize) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small distinct component: `n` picks the function body.
    pub(crate) fn component(engine: &wasmtime::Engine, n: u32) -> Component {
        let wat =
            format!("(component (core module (func (export \"f\") (result i32) i32.const {n})))");
        Component::new(engine, wat).unwrap()
    }

    #[test]
    fn the_least_recently_used_unused_component_goes_first() {
        let engine = wasmtime::Engine::default();
        let (a, b, c) = (
            component(&engine, 1),
            component(&engine, 2),
            component(&engine, 3),
        );
        let size = image_bytes(&a);
        assert!(size > 0);
        // Room for two.
        let set = Resident::new(size * 2 + size / 2);
        drop(set.insert("a", a));
        drop(set.insert("b", b));
        // `a` used again: `b` is now the least recently used.
        drop(set.get("a").unwrap());
        drop(set.insert("c", c));
        assert!(set.get("b").is_none(), "b should have been evicted");
        assert!(set.get("a").is_some() && set.get("c").is_some());
        let (bytes, count) = set.usage();
        assert_eq!(count, 2);
        assert!(bytes <= size * 2 + size / 2, "{bytes}");
    }

    #[test]
    fn a_component_in_use_is_never_evicted() {
        let engine = wasmtime::Engine::default();
        let size = image_bytes(&component(&engine, 0));
        // Room for one.
        let set = Resident::new(size + size / 2);
        let held = set.insert("held", component(&engine, 1));
        drop(set.insert("b", component(&engine, 2)));
        drop(set.insert("c", component(&engine, 3)));
        assert!(set.get("held").is_some(), "a leased entry was evicted");
        assert!(set.get("b").is_none());
        assert_eq!(set.in_use(), HashSet::from(["held".to_string()]));
        // Released: the next insert may evict it.
        drop(held);
        drop(set.insert("d", component(&engine, 4)));
        assert!(set.get("held").is_none());
        assert_eq!(set.usage().1, 1);
    }

    #[test]
    fn a_racing_insert_returns_the_first_component() {
        let engine = wasmtime::Engine::default();
        let set = Resident::new(u64::MAX);
        let (first, _lease) = set.insert("x", component(&engine, 1));
        let (second, _lease2) = set.insert("x", component(&engine, 1));
        assert_eq!(first.image_range(), second.image_range());
        assert_eq!(set.usage().1, 1);
    }
}

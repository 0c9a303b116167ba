//! Beyond OTP: restarts in place.
//!
//! In OTP a crashed child's restart is the supervisor's work: the `EXIT`
//! reaches the supervisor, which counts the restart and calls the start
//! function. Here that costs two hand-offs (the exit to the supervisor's
//! task, the start to a thread that may run guest code) while the child's
//! own thread is right there, holding everything a new incarnation needs.
//! So a child may restart itself at once and tell the supervisor
//! afterwards, in OTP's order: the supervisor then records the exit of the
//! old incarnation and the restart of the new one exactly as it would have
//! (intensity, storm windows, rates, `child_exited` then
//! `child_restarted`).
//!
//! This module owns the bargain that keeps those semantics: a restart in
//! place needs an allowance the supervisor granted beforehand, and the
//! supervisor grants only what its own decision would have been.
//! - Only under `one_for_one` and `simple_one_for_one` (no sibling is
//!   touched), for a permanent or transient child without a backoff (the
//!   restart is immediate): the supervisor would restart it and nothing
//!   else, now.
//! - Supervisor-wide, no more claims than the intensity still allows; per
//!   child, none that would trip a storm window. The allowance is a
//!   headroom computed from the windows as booked, which only empty as
//!   time goes on, so it never lets more through than the windows would.
//! - Any change of those conditions (a strategy change, the storm settings,
//!   a stop or kill of the child, the supervisor's shutdown) revokes the
//!   allowance before it takes effect. A claim already made is followed:
//!   the supervisor books it, and a stop waits for the new incarnation.
//!
//! It never restarts anything itself: a child claims (one atomic step),
//! starts its new incarnation, then reports it through its
//! [`ExitSender`](super::ExitSender). A claim it cannot use is given back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Claims allowed against claims taken; the supervisor moves `allowed`,
/// children move `taken`. Claims in flight (taken, not yet booked) never
/// exceed the headroom of the last grant.
#[derive(Debug, Default)]
pub(crate) struct Allowance {
    allowed: AtomicU64,
    taken: AtomicU64,
}

impl Allowance {
    /// Allows `headroom` claims beyond the `booked` ones.
    pub(crate) fn grant(&self, booked: u64, headroom: u64) {
        self.allowed
            .store(booked.saturating_add(headroom), Ordering::Release);
    }

    /// No claim beyond the ones already booked.
    pub(crate) fn revoke(&self, booked: u64) {
        self.grant(booked, 0);
    }

    fn try_take(&self) -> bool {
        let allowed = self.allowed.load(Ordering::Acquire);
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < allowed).then_some(taken + 1)
            })
            .is_ok()
    }

    fn give_back(&self) {
        self.taken.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What one supervisor shares with all its children: the intensity's
/// allowance and the generation counter, so a claim gets a generation no
/// other incarnation of the supervisor has.
#[derive(Debug)]
pub(crate) struct SupervisorGrant {
    pub(crate) restarts: Allowance,
    generations: AtomicU64,
}

impl SupervisorGrant {
    pub(crate) fn new() -> Self {
        Self {
            restarts: Allowance::default(),
            generations: AtomicU64::new(1),
        }
    }

    /// A generation never handed out before.
    pub(crate) fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed)
    }
}

/// One child's view of the bargain: its own allowance (eligibility and
/// storm headroom) and its supervisor's.
#[derive(Clone, Debug)]
pub(crate) struct InPlaceGrant {
    pub(crate) child: Arc<Allowance>,
    pub(crate) supervisor: Arc<SupervisorGrant>,
}

impl InPlaceGrant {
    /// One restart in place, if both allowances have room.
    pub(crate) fn claim(&self) -> Option<InPlaceClaim> {
        if !self.child.try_take() {
            return None;
        }
        if !self.supervisor.restarts.try_take() {
            self.child.give_back();
            return None;
        }
        Some(InPlaceClaim {
            grant: Some(self.clone()),
            generation: self.supervisor.next_generation(),
        })
    }
}

/// The right to claim restarts in place, apart from the exit sender: for
/// the thread that runs the guest and sees it fail, so the next instance
/// starts there before anything else happens.
#[derive(Clone, Debug)]
pub struct InPlaceClaimer(pub(crate) InPlaceGrant);

impl InPlaceClaimer {
    /// One restart in place, if the supervisor allows one now.
    pub fn claim(&self) -> Option<InPlaceClaim> {
        self.0.claim()
    }
}

/// A restart in place the supervisor allowed: the generation the new
/// incarnation runs as. Report it with
/// [`ExitSender::restarted_in_place`](super::ExitSender::restarted_in_place);
/// dropped unused, the claim is given back.
#[derive(Debug)]
pub struct InPlaceClaim {
    /// `None` once used.
    grant: Option<InPlaceGrant>,
    generation: u64,
}

impl InPlaceClaim {
    /// The new incarnation's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Marks the claim as used (the supervisor books it from the report).
    pub(crate) fn use_up(mut self) -> u64 {
        self.grant = None;
        self.generation
    }
}

impl Drop for InPlaceClaim {
    fn drop(&mut self) {
        if let Some(grant) = self.grant.take() {
            grant.supervisor.restarts.give_back();
            grant.child.give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> InPlaceGrant {
        InPlaceGrant {
            child: Arc::new(Allowance::default()),
            supervisor: Arc::new(SupervisorGrant::new()),
        }
    }

    #[test]
    fn nothing_is_claimed_without_a_grant_from_both_sides() {
        let g = grant();
        assert!(g.claim().is_none());
        g.child.grant(0, 5);
        assert!(g.claim().is_none(), "the supervisor granted nothing");
        g.supervisor.restarts.grant(0, 1);
        let claim = g.claim().expect("both granted");
        assert!(g.claim().is_none(), "the supervisor's headroom was one");
        drop(claim);
        assert!(g.claim().is_some(), "an unused claim is given back");
    }

    #[test]
    fn claims_in_flight_never_exceed_the_headroom_and_revoking_stops_new_ones() {
        let g = grant();
        g.child.grant(0, 3);
        g.supervisor.restarts.grant(0, 3);
        let a = g.claim().unwrap().use_up();
        let b = g.claim().unwrap().use_up();
        assert_ne!(a, b, "each claim gets its own generation");
        g.child.revoke(0);
        assert!(g.claim().is_none());
        // Two booked: the same headroom counts from there.
        g.child.grant(2, 1);
        assert!(g.claim().is_some());
    }
}

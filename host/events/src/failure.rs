//! The failure classes Warden's kinds of children name, beyond OTP's own.
//!
//! The supervisor carries a child's class as an opaque
//! [`ChildFailure`](warden_supervisor::ChildFailure) name; this is the host's
//! catalogue of those names, so that the child adapters that report them and
//! the observers that read them (metrics labels) agree on one spelling. A
//! class is shared by every kind of child that can fail that way: a component
//! and a native worker both report `memory_limit`.

use std::fmt;

use warden_supervisor::{ChildFailure, FailureKind};

/// A class of abnormal exit that a component or a native worker reports.
/// Displays (and serializes, inside an exit reason) as its snake_case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureClass {
    /// A Wasm trap (unreachable, bad memory access, …), or a worker killed
    /// by a fault signal (`SIGSEGV`, `SIGABRT`, `SIGBUS`, `SIGILL`, `SIGFPE`).
    Trap,
    /// A component call ran out of time.
    Timeout,
    /// A memory limit was hit.
    MemoryLimit,
    /// A component's fuel budget was exhausted.
    OutOfFuel,
    /// A worker's CPU-time limit was hit.
    CpuLimit,
    /// A worker's wall-clock limit was hit.
    WallLimit,
    /// A worker's open-file limit was hit.
    FdLimit,
}

impl FailureClass {
    /// Every class.
    pub const ALL: [FailureClass; 7] = [
        FailureClass::Trap,
        FailureClass::Timeout,
        FailureClass::MemoryLimit,
        FailureClass::OutOfFuel,
        FailureClass::CpuLimit,
        FailureClass::WallLimit,
        FailureClass::FdLimit,
    ];

    /// The snake_case name (`out_of_fuel`).
    pub const fn name(self) -> &'static str {
        match self {
            FailureClass::Trap => "trap",
            FailureClass::Timeout => "timeout",
            FailureClass::MemoryLimit => "memory_limit",
            FailureClass::OutOfFuel => "out_of_fuel",
            FailureClass::CpuLimit => "cpu_limit",
            FailureClass::WallLimit => "wall_limit",
            FailureClass::FdLimit => "fd_limit",
        }
    }

    /// The class as the supervisor carries it.
    pub const fn child_failure(self) -> ChildFailure {
        ChildFailure::new(self.name())
    }

    /// The class of an exit's failure kind, `None` for OTP's own classes and
    /// for a name not in this catalogue.
    pub fn of(kind: FailureKind) -> Option<FailureClass> {
        let name = kind.child_class()?.name();
        FailureClass::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl From<FailureClass> for ChildFailure {
    fn from(class: FailureClass) -> Self {
        class.child_failure()
    }
}

impl From<FailureClass> for FailureKind {
    fn from(class: FailureClass) -> Self {
        FailureKind::Child(class.child_failure())
    }
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_goes_through_the_supervisor_and_back_by_name() {
        for class in FailureClass::ALL {
            let kind = FailureKind::from(class);
            assert_eq!(kind.to_string(), class.name());
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::json!(class.name())
            );
            assert_eq!(FailureClass::of(kind), Some(class));
        }
        assert_eq!(FailureClass::of(FailureKind::Killed), None);
        assert_eq!(
            FailureClass::of(FailureKind::Child(ChildFailure::new("other"))),
            None
        );
    }
}

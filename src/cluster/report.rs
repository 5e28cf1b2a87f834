//! Versions of what a member says about its own state, so that the order in which two reports
//! arrive never decides which one wins.
//!
//! A member's state reaches this node two ways: the prober's health answers and the member's own
//! "I caught up" push (`/internal/cluster/ready`). They travel on different connections, so a
//! probe answered while the member was still syncing can be processed after the push that says
//! it is up. Each node therefore counts the changes of its own state (`Cluster::own_seq`) and
//! sends that count with both reports; a report older than one already applied is ignored.

/// The version of a member's report about itself: its incarnation (a new id at every start)
/// and how many times its own state had changed in that incarnation. 0 in either field: a node
/// that predates versioned reports, whose reports are applied as they arrive (the old rule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateVersion {
    pub incarnation: u64,
    pub seq: u64,
}

/// What a report claims about the member's state at its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// A health answer: its counter is read before its state, so the state it reports is the
    /// one of that version or of a later one.
    AtLeast,
    /// A push sent right after a change: the state of exactly that version.
    Exactly,
}

impl StateVersion {
    fn versioned(self) -> bool {
        self.incarnation != 0 && self.seq != 0
    }

    /// Whether a report at `v` may change what this node holds, given `self`, the newest version
    /// applied so far. Another incarnation is a restart: its reports are newer than the old
    /// ones' (incarnations are not ordered, and a restarted member starts counting again).
    pub fn admits(self, v: StateVersion, claim: Claim) -> bool {
        if !v.versioned() || !self.versioned() || v.incarnation != self.incarnation {
            return true;
        }
        match claim {
            // Equal counters: the answer's state is at least as new as what was applied.
            Claim::AtLeast => v.seq >= self.seq,
            // Equal counters: a health answer of that version, maybe of a later state, was
            // applied already; the push says nothing newer.
            Claim::Exactly => v.seq > self.seq,
        }
    }

    /// The newest version known after admitting `v` (unversioned reports leave it alone).
    pub fn after(self, v: StateVersion) -> StateVersion {
        if !v.versioned() {
            self
        } else if v.incarnation != self.incarnation {
            v
        } else {
            StateVersion {
                incarnation: v.incarnation,
                seq: self.seq.max(v.seq),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(incarnation: u64, seq: u64) -> StateVersion {
        StateVersion { incarnation, seq }
    }

    #[test]
    fn a_probe_answered_before_the_push_cannot_undo_it() {
        // The member was syncing (version 1), caught up (version 2) and pushed "ready".
        let known = StateVersion::default().after(v(7, 2));
        assert!(!known.admits(v(7, 1), Claim::AtLeast));
        // A later answer, or one of the same version, is applied.
        assert!(known.admits(v(7, 2), Claim::AtLeast));
        assert!(known.admits(v(7, 3), Claim::AtLeast));
    }

    #[test]
    fn a_push_of_a_version_already_answered_changes_nothing() {
        let known = StateVersion::default().after(v(7, 2));
        assert!(!known.admits(v(7, 2), Claim::Exactly));
        assert!(!known.admits(v(7, 1), Claim::Exactly));
        assert!(known.admits(v(7, 3), Claim::Exactly));
    }

    #[test]
    fn a_restart_starts_a_new_count() {
        let known = v(7, 9);
        assert!(known.admits(v(8, 1), Claim::AtLeast));
        assert!(known.admits(v(8, 1), Claim::Exactly));
        assert_eq!(known.after(v(8, 1)), v(8, 1));
    }

    #[test]
    fn unversioned_reports_apply_as_they_arrive_and_are_not_recorded() {
        let known = v(7, 9);
        assert!(known.admits(v(0, 0), Claim::AtLeast));
        assert!(known.admits(v(7, 0), Claim::Exactly));
        assert_eq!(known.after(v(0, 0)), known);
        // Nothing known yet: anything is admitted.
        assert!(StateVersion::default().admits(v(7, 1), Claim::Exactly));
    }

    #[test]
    fn the_known_version_never_goes_back_within_an_incarnation() {
        assert_eq!(v(7, 5).after(v(7, 3)), v(7, 5));
        assert_eq!(v(7, 5).after(v(7, 6)), v(7, 6));
    }
}

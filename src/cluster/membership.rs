//! The membership document: who is in the cluster, at which epoch.
//!
//! Every node holds one; the one with the larger `(epoch, hash)` wins wherever two meet, so
//! concurrent changes resolve the same way on every node. Epoch 0 is a node's `cluster_nodes` as
//! configured; the leader stamps epoch 1 once every configured member agrees, so a node that
//! starts later with another list finds a larger epoch and adopts it (or asks to join it) instead
//! of serving with a ring of its own. A change is made in two epochs: at `E` joiners enter the
//! ring and leavers leave it while `previous` names the ring before (keys move); at `E + 1` the
//! change is settled (`previous` empty, joiners active, leavers gone).
//!
//! Pure: no I/O, no clock; the JSON form below is also the wire and file format.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh64::xxh64;

use super::ring::{Ring, RingError, MAX_VIRTUAL_NODES};

/// Most members a document may list: each member costs every core a peer pool and a hint queue
/// (a slot in fixed tables, `Cluster`'s `MAX_MEMBERS`), and all-to-all probes grow as N²
/// (`docs/architecture.md`, membership at scale).
pub const MAX_DOC_MEMBERS: usize = 128;

/// Largest membership document accepted from a peer or a file: 128 members of a few hundred
/// bytes each, with room to spare.
pub const MAX_DOC_BYTES: usize = 256 * 1024;

/// A member's part in the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In the ring since the current change; its keys are still arriving.
    Joining,
    /// In the ring.
    Active,
    /// Out of the ring since the current change; its keys are leaving it. Removed when settled.
    Leaving,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Joining => "joining",
            Status::Active => "active",
            Status::Leaving => "leaving",
        }
    }

    /// Whether a member in this status owns part of the current ring.
    pub fn in_ring(self) -> bool {
        matches!(self, Status::Joining | Status::Active)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberDoc {
    pub node_id: String,
    pub address: String,
    pub status: Status,
}

/// The document. `members` is kept sorted by `node_id` so equal memberships hash equal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    pub epoch: u64,
    pub virtual_nodes: u32,
    pub members: Vec<MemberDoc>,
    /// The ring's member ids before the current change; `None` once it settled.
    #[serde(default)]
    pub previous: Option<Vec<String>>,
}

/// Why a change cannot be made now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeError {
    /// The change at `epoch` has not settled yet.
    InProgress { epoch: u64, what: String },
    /// `node_id` is a member already, at another address.
    OtherAddress { node_id: String, address: String },
    /// `node_id` is not a member.
    Unknown { node_id: String },
    /// Removing it would leave a ring without nodes.
    LastNode { node_id: String },
    /// The document would list more than [`MAX_DOC_MEMBERS`].
    Full,
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeError::InProgress { epoch, what } => write!(
                f,
                "a membership change is in progress (epoch {epoch}: {what}); retry once \
                 /admin/cluster shows \"settled\":true"
            ),
            ChangeError::OtherAddress { node_id, address } => write!(
                f,
                "{node_id} is a member already, at {address}: remove it first to move it"
            ),
            ChangeError::Unknown { node_id } => write!(f, "{node_id} is not a member"),
            ChangeError::LastNode { node_id } => {
                write!(f, "{node_id} is the last node of the ring: it cannot leave")
            }
            ChangeError::Full => write!(f, "the cluster has {MAX_DOC_MEMBERS} members already"),
        }
    }
}

/// Why a document (from a peer or a file) is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocError {
    Json(String),
    TooLarge(usize),
    Ring(RingError),
    /// A `previous` id that is not a member.
    Previous(String),
    Empty,
}

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocError::Json(e) => write!(f, "membership document: {e}"),
            DocError::TooLarge(n) => {
                write!(f, "membership document of {n} bytes (max {MAX_DOC_BYTES})")
            }
            DocError::Ring(e) => write!(f, "membership document: {e}"),
            DocError::Previous(id) => {
                write!(
                    f,
                    "membership document: previous ring lists {id:?}, not a member"
                )
            }
            DocError::Empty => f.write_str("membership document: no member in the ring"),
        }
    }
}

impl Membership {
    /// Epoch 0: the configured members, all active.
    pub fn initial(nodes: &[(String, String)], virtual_nodes: u32) -> Membership {
        let mut members: Vec<MemberDoc> = nodes
            .iter()
            .map(|(id, addr)| MemberDoc {
                node_id: id.clone(),
                address: addr.clone(),
                status: Status::Active,
            })
            .collect();
        members.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Membership {
            epoch: 0,
            virtual_nodes,
            members,
            previous: None,
        }
    }

    /// Parse and check a document (peer answer, push, or file).
    pub fn parse(bytes: &[u8]) -> Result<Membership, DocError> {
        if bytes.len() > MAX_DOC_BYTES {
            return Err(DocError::TooLarge(bytes.len()));
        }
        let mut doc: Membership =
            serde_json::from_slice(bytes).map_err(|e| DocError::Json(e.to_string()))?;
        doc.members.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        doc.check()?;
        Ok(doc)
    }

    fn check(&self) -> Result<(), DocError> {
        if self.members.len() > MAX_DOC_MEMBERS {
            return Err(DocError::Ring(RingError::TooManyNodes {
                count: self.members.len(),
            }));
        }
        if self.virtual_nodes == 0 || self.virtual_nodes > MAX_VIRTUAL_NODES {
            return Err(DocError::Ring(RingError::VirtualNodes {
                got: self.virtual_nodes,
            }));
        }
        let ids: Vec<&str> = self.members.iter().map(|m| m.node_id.as_str()).collect();
        if let Some(pair) = ids.windows(2).find(|p| p[0] == p[1]) {
            return Err(DocError::Ring(RingError::DuplicateId(pair[0].to_string())));
        }
        if self.ring_ids().is_empty() {
            return Err(DocError::Empty);
        }
        for id in self.previous.iter().flatten() {
            if self.member(id).is_none() {
                return Err(DocError::Previous(id.clone()));
            }
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A fingerprint of the whole document (members kept sorted, so equal documents agree).
    pub fn hash(&self) -> u64 {
        xxh64(self.to_json().as_bytes(), 0)
    }

    /// Whether `self` wins over `other`: larger epoch, then larger hash.
    pub fn supersedes(&self, other: &Membership) -> bool {
        (self.epoch, self.hash()) > (other.epoch, other.hash())
    }

    pub fn member(&self, node_id: &str) -> Option<&MemberDoc> {
        self.members.iter().find(|m| m.node_id == node_id)
    }

    /// Ids of the current ring: joining and active members.
    pub fn ring_ids(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|m| m.status.in_ring())
            .map(|m| m.node_id.as_str())
            .collect()
    }

    pub fn is_settled(&self) -> bool {
        self.previous.is_none()
    }

    /// What the unsettled change does, for messages ("node4 joining, node3 leaving").
    pub fn change_summary(&self) -> String {
        let parts: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.status != Status::Active)
            .map(|m| format!("{} {}", m.node_id, m.status.as_str()))
            .collect();
        if parts.is_empty() {
            "members unchanged".to_string()
        } else {
            parts.join(", ")
        }
    }

    fn unsettled(&self) -> Result<(), ChangeError> {
        if self.is_settled() {
            return Ok(());
        }
        Err(ChangeError::InProgress {
            epoch: self.epoch,
            what: self.change_summary(),
        })
    }

    fn next(&self) -> Membership {
        let mut doc = self.clone();
        doc.epoch += 1;
        doc.previous = Some(self.ring_ids().iter().map(|s| s.to_string()).collect());
        doc
    }

    /// Add `node_id` at `address` (joining). `Ok(None)`: a member already, at that address.
    pub fn with_join(
        &self,
        node_id: &str,
        address: &str,
    ) -> Result<Option<Membership>, ChangeError> {
        if let Some(m) = self.member(node_id) {
            if m.address == address && m.status.in_ring() {
                return Ok(None);
            }
            return Err(ChangeError::OtherAddress {
                node_id: node_id.to_string(),
                address: m.address.clone(),
            });
        }
        self.unsettled()?;
        if self.members.len() >= MAX_DOC_MEMBERS {
            return Err(ChangeError::Full);
        }
        let mut doc = self.next();
        doc.members.push(MemberDoc {
            node_id: node_id.to_string(),
            address: address.to_string(),
            status: Status::Joining,
        });
        doc.members.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        Ok(Some(doc))
    }

    /// Mark `node_id` leaving. `Ok(None)`: it is leaving already.
    pub fn with_leave(&self, node_id: &str) -> Result<Option<Membership>, ChangeError> {
        let Some(m) = self.member(node_id) else {
            return Err(ChangeError::Unknown {
                node_id: node_id.to_string(),
            });
        };
        if m.status == Status::Leaving {
            return Ok(None);
        }
        self.unsettled()?;
        if self.ring_ids().len() == 1 {
            return Err(ChangeError::LastNode {
                node_id: node_id.to_string(),
            });
        }
        let mut doc = self.next();
        for m in doc.members.iter_mut().filter(|m| m.node_id == node_id) {
            m.status = Status::Leaving;
        }
        Ok(Some(doc))
    }

    /// The change settled: joiners active, leavers gone, no previous ring.
    pub fn settled(&self) -> Membership {
        let mut doc = self.clone();
        doc.epoch += 1;
        doc.previous = None;
        doc.members.retain(|m| m.status != Status::Leaving);
        for m in doc.members.iter_mut() {
            m.status = Status::Active;
        }
        doc
    }

    /// Epoch 0 stamped as the cluster's first agreed membership.
    pub fn formed(&self) -> Membership {
        let mut doc = self.clone();
        doc.epoch = doc.epoch.max(1);
        doc
    }

    /// The current ring and, while a change is unsettled, the previous one; `slot` gives each
    /// node id its slot.
    pub fn rings(
        &self,
        mut slot: impl FnMut(&str) -> usize,
    ) -> Result<(Ring, Option<Ring>), RingError> {
        let cur: Vec<(&str, usize)> = self
            .ring_ids()
            .into_iter()
            .map(|id| (id, slot(id)))
            .collect();
        let ring = Ring::with_slots(&cur, self.virtual_nodes)?;
        let previous = match &self.previous {
            Some(ids) if !ids.is_empty() => {
                let prev: Vec<(&str, usize)> =
                    ids.iter().map(|id| (id.as_str(), slot(id))).collect();
                Some(Ring::with_slots(&prev, self.virtual_nodes)?)
            }
            _ => None,
        };
        Ok((ring, previous))
    }
}

#[cfg(test)]
#[path = "membership_tests.rs"]
mod tests;

//! One core's copy of the membership in force: [`LocalTopology::current`] hands out an `Rc`,
//! so a request's routing touches no shared counter and no `ArcSwap` debt list (that load and
//! its guard's release were ~100 instructions of every key request, issue 13). The copy is
//! refreshed when the cluster's generation moved, one relaxed-cost load per call.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::{Cluster, Topology};

/// `Rc<Arc<..>>` on purpose: the `Rc` is cloned per request without an atomic operation, the
/// `Arc` is the cluster's, shared by every core (cloning it would bounce its count between them).
#[allow(clippy::redundant_allocation)]
pub struct LocalTopology {
    cluster: Arc<Cluster>,
    /// The generation `topo` was taken at.
    seen: Cell<u64>,
    topo: RefCell<Rc<Arc<Topology>>>,
}

impl LocalTopology {
    pub fn new(cluster: Arc<Cluster>) -> LocalTopology {
        let seen = cluster.topology_generation();
        let topo = RefCell::new(Rc::new(cluster.topology_arc()));
        LocalTopology {
            cluster,
            seen: Cell::new(seen),
            topo,
        }
    }

    /// The membership in force: the one the cluster published last, or a newer one. Taken
    /// after the generation is read, so a copy is never older than the generation it is
    /// marked with (a change published meanwhile only makes the next call refresh again).
    #[inline]
    #[allow(clippy::redundant_allocation)] // see the struct
    pub fn current(&self) -> Rc<Arc<Topology>> {
        let now = self.cluster.topology_generation();
        if now != self.seen.get() {
            self.refresh(now);
        }
        Rc::clone(&self.topo.borrow())
    }

    #[cold]
    fn refresh(&self, now: u64) {
        *self.topo.borrow_mut() = Rc::new(self.cluster.topology_arc());
        self.seen.set(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_nodes() -> Arc<Cluster> {
        let yaml = "node_id: a\naddress: \"127.0.0.1:1\"\ncache_size: 10\ncluster_nodes:\n  a: \"127.0.0.1:1\"\n  b: \"127.0.0.1:2\"\n";
        let cfg = crate::config::Config::from_yaml_str(yaml, "<test>").expect("config");
        Arc::new(Cluster::new(&cfg).expect("cluster"))
    }

    #[test]
    fn the_copy_follows_every_topology_the_cluster_puts_in_force() {
        let cl = two_nodes();
        let local = LocalTopology::new(Arc::clone(&cl));
        let first = local.current();
        assert!(Arc::ptr_eq(&first, &cl.topology_arc()));
        // Unchanged: the same copy, no reload.
        assert!(Rc::ptr_eq(&first, &local.current()));
        // A leave is a new document: adopted, so the next look sees it.
        let doc = cl
            .topology()
            .doc
            .with_leave("b")
            .expect("leave")
            .expect("a change");
        assert!(cl.adopt(doc).expect("adopt"));
        let after = local.current();
        assert!(Arc::ptr_eq(&after, &cl.topology_arc()));
        assert!(!Arc::ptr_eq(&after, &first));
        assert_ne!(after.doc.epoch, first.doc.epoch);
        // An older copy handed out before stays whole for whoever holds it.
        assert_eq!(first.doc.epoch, 0);
    }
}

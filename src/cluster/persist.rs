//! The membership document on disk: `<data_dir>/membership.json`, written through a temporary
//! file, fsync and rename, so a crash leaves the old document or the new one, never half of one.

use std::io::Write;
use std::path::Path;

use super::membership::Membership;

/// The saved document, if there is a readable one. A damaged file is reported and ignored: the
/// node then starts from `cluster_nodes` and adopts the cluster's document from its peers.
pub(super) fn load(path: &Path) -> Option<Membership> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            crate::warn!(
                "cluster: cannot read {}: {e}; using cluster_nodes",
                path.display()
            );
            return None;
        }
    };
    match Membership::parse(&bytes) {
        Ok(doc) => Some(doc),
        Err(e) => {
            crate::warn!("cluster: {}: {e}; using cluster_nodes", path.display());
            None
        }
    }
}

pub(super) fn save(path: &Path, doc: &Membership) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(doc.to_json().as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        // The rename is durable once the directory is.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_document_loads_back_and_a_damaged_one_is_ignored() {
        let dir = std::env::temp_dir().join(format!("dcache-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("membership.json");
        let nodes = [("n1".to_string(), "h:1".to_string())];
        let doc = Membership::initial(&nodes, 10).formed();
        save(&path, &doc).unwrap();
        assert_eq!(load(&path), Some(doc));
        std::fs::write(&path, b"{\"epoch\":").unwrap();
        assert_eq!(load(&path), None);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(load(&path), None);
    }
}

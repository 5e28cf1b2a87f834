//! Token files noticed without a signal (`auth.reload_interval`): a file replaced by a rename, as
//! editors and config tools do, and a Kubernetes Secret volume updated the way kubelet does it
//! (a new timestamped directory, then the `..data` symlink swapped atomically). No SIGHUP is
//! sent; the checks run every second here, and the deadlines are generous.

use std::net::SocketAddr;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use dcache::{Config, Node};

use crate::cluster_common::call;
use crate::common::eventually;
use crate::tokens::*;

const NEW: &str = "admin-token-new-0a9b8c7d6e5f4a3b";
/// Far above the 1 s interval plus a loaded machine's scheduling delays.
const DEADLINE: Duration = Duration::from_secs(30);

fn status(addr: SocketAddr, token: &str) -> u16 {
    let auth = format!("Bearer {token}");
    let h = [("Authorization", auth.as_str())];
    call(addr, "GET", "/admin/cluster", &h, None).status
}

fn start(auth: &str) -> Node {
    let yaml = format!(
        "node_id: \"w1\"\naddress: \"127.0.0.1:0\"\ncache_size: 100\nthreads: 1\npin_threads: false\nlog_level: warn\nauth:\n  reload_interval: \"1s\"\n{auth}"
    );
    Node::start(Config::from_yaml_str(&yaml, "<test>").expect("config")).expect("starts")
}

/// Write `text` beside `path` and rename it over `path` (mode 0600): the reader sees the old
/// file or the new one, never half of one.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::rename(&tmp, path).expect("rename");
}

pub fn a_token_file_renamed_over_is_reloaded_without_sighup() {
    let t = Tokens::new("watch-file");
    let path = t.write("admin", &format!("{ADMIN}\n"));
    let node = start(&format!("  admin_token_file: \"{path}\"\n"));
    let addr = node.local_addr();
    assert_eq!((status(addr, ADMIN), status(addr, NEW)), (200, 401));
    // Step 1 of a rotation: both lines valid.
    replace(Path::new(&path), &format!("{NEW}\n{ADMIN}\n"));
    assert!(
        eventually(DEADLINE, || status(addr, NEW) == 200),
        "the new token is accepted without a signal"
    );
    assert_eq!(status(addr, ADMIN), 200, "both during the rotation");
    // Step 3: the old line deleted.
    replace(Path::new(&path), &format!("{NEW}\n"));
    assert!(
        eventually(DEADLINE, || status(addr, ADMIN) == 401),
        "the old token is refused once it left the file"
    );
    assert_eq!(status(addr, NEW), 200);
    // A broken file: the reload fails and the tokens in force stay.
    replace(Path::new(&path), "too-short\n");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(status(addr, NEW), 200, "kept after a failed reload");
    node.shutdown();
    assert!(node.wait(Duration::from_secs(5)));
}

/// A Secret volume as kubelet lays it out: `<key> -> ..data/<key>`, `..data -> ..<timestamp>`.
struct SecretVolume {
    dir: std::path::PathBuf,
    version: usize,
}

impl SecretVolume {
    fn new(t: &Tokens, keys: &[(&str, &str)]) -> SecretVolume {
        let dir = t.dir.join("cache-auth");
        std::fs::create_dir_all(&dir).expect("volume dir");
        let mut v = SecretVolume { dir, version: 0 };
        v.update(keys);
        for name in ["admin-token", "cluster-secret"] {
            symlink(format!("..data/{name}"), v.dir.join(name)).expect("key link");
        }
        v
    }

    /// kubelet's atomic update: write every key into a new directory, swap `..data` to it.
    fn update(&mut self, keys: &[(&str, &str)]) {
        self.version += 1;
        let ts = format!("..2026_12_03_00_00_0{}", self.version);
        let data = self.dir.join(&ts);
        std::fs::create_dir_all(&data).expect("data dir");
        for (name, token) in keys {
            let p = data.join(name);
            std::fs::write(&p, format!("{token}\n")).expect("key file");
            // defaultMode 0440 with the pod's fsGroup.
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o440)).expect("chmod");
        }
        let tmp = self.dir.join("..data_tmp");
        symlink(&ts, &tmp).expect("new ..data");
        std::fs::rename(&tmp, self.dir.join("..data")).expect("swap ..data");
    }
}

pub fn a_kubernetes_secret_volume_update_is_reloaded_without_sighup() {
    let t = Tokens::new("watch-k8s");
    let mut vol = SecretVolume::new(&t, &[("admin-token", ADMIN)]);
    let node = start(&format!("  token_dir: \"{}\"\n", vol.dir.display()));
    let addr = node.local_addr();
    // cluster-secret is a dangling link (no such key): that class is open; admin is not.
    assert_eq!((status(addr, ADMIN), status(addr, NEW)), (200, 401));
    vol.update(&[("admin-token", NEW)]);
    assert!(
        eventually(DEADLINE, || status(addr, NEW) == 200),
        "the Secret's new token is accepted without a rollout or a signal"
    );
    assert_eq!(status(addr, ADMIN), 401, "the old one is refused");
    // The key removed from the Secret: the admin class does not silently open.
    vol.update(&[]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        (status(addr, NEW), status(addr, WRONG)),
        (200, 401),
        "the previous token stays in force"
    );
    node.shutdown();
    assert!(node.wait(Duration::from_secs(5)));
}

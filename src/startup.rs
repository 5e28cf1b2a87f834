//! Start-up checks and service-manager notifications.

use crate::config::Config;
use crate::warn;

/// Warn when the host limits are below what the config needs (they cause refused connections
/// under load, far from their cause).
pub fn warn_limits(cfg: &Config) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the valid `lim` struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
        let need = cfg.limits.max_connections as u64 + 64 * cfg.threads as u64 + 64;
        if lim.rlim_cur < need {
            warn!(
                "open file limit is {} but limits.max_connections={} needs about {need}; raise LimitNOFILE / ulimit -n (see sysctl/limits.d)",
                lim.rlim_cur, cfg.limits.max_connections
            );
        }
    }
    if let Ok(text) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") {
        if let Ok(v) = text.trim().parse::<u64>() {
            if v < crate::server::tasks::LISTEN_BACKLOG as u64 {
                warn!("net.core.somaxconn is {v}, below the listen backlog {}; apply sysctl/99-distributed-cache.conf", crate::server::tasks::LISTEN_BACKLOG);
            }
        }
    }
}

/// Send a state line to systemd's notify socket (`Type=notify`), if there is one.
pub fn sd_notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sock = match std::os::unix::net::UnixDatagram::unbound() {
        Ok(s) => s,
        Err(_) => return,
    };
    let bytes = path.as_encoded_bytes();
    let res = if let Some(abstract_name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)
            .and_then(|a| sock.send_to_addr(state.as_bytes(), &a))
    } else {
        sock.send_to(state.as_bytes(), std::path::Path::new(&path))
    };
    if let Err(e) = res {
        warn!("sd_notify to {:?} failed: {e}", path);
    }
}

pub fn notify_ready() {
    sd_notify("READY=1\nSTATUS=serving");
}

pub fn notify_stopping() {
    sd_notify("STOPPING=1\nSTATUS=draining");
}

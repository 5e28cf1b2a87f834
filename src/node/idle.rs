//! `idle_poll: always`: keep the workers' CPUs from going to sleep.
//!
//! A worker with nothing to do parks in the kernel, and its CPU halts. Waking it again (the first
//! request after a pause, a cross-core call to a quiet core, the reply to one) then costs the
//! wake-up of a halted CPU: 50-100 µs on the VMs measured (a plain futex ping-pong costs the
//! same, so the mechanism is not the cost), tens of µs from a deep C-state on bare metal.
//!
//! A poller is a thread pinned to one worker CPU at `SCHED_IDLE`, the lowest priority there is,
//! that only yields (`sched_yield` in a loop). The CPU never halts; a worker woken on it preempts the poller at once (the
//! scheduler always prefers a normal thread to an idle-policy one), so a wake-up costs a
//! reschedule, not a halt. This is what the kernel's `idle=poll` does for the whole host, kept
//! to the CPUs of this node's workers and switchable in the config.
//!
//! A poller may also have a [`Duty`] each round: the node's pollers watch the mailboxes of the
//! workers pinned to their CPU (`mesh::watch`), so that a message to a parked worker wakes it
//! from its own CPU, without the inter-processor interrupt a sender on another CPU needs.
//!
//! Why not poll inside the worker instead: monoio fires its timers (and, with io_uring, the
//! wake-ups sent from other threads) only when the runtime parks, so a worker that never parks
//! starves its own timers; a node tried that way stopped answering (docs/benchmarks.md).
//!
//! The price: each worker CPU shows 100 % busy and draws power while idle, and on a host with
//! hyper-threads the poller shares the core's execution units with its sibling (each round is
//! a system call, not a tight loop, which keeps that small). It yields to any other thread, so co-located nodes
//! and a load generator on the same CPUs still get them, but for them it buys nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The poller threads of one node; dropping this stops and joins them.
pub struct Pollers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// What a poller does on each round besides yielding (the node's: watch the mailboxes of the
/// workers on its CPU, `mesh::watch`), and once when it stops.
pub trait Duty: Send {
    fn round(&mut self);
    fn retire(&mut self);
}

impl Pollers {
    /// One poller pinned to each CPU of `cpus` (duplicates share one). A thread the kernel
    /// refuses `SCHED_IDLE` (a seccomp filter, say) stops at once with a warning: spinning at
    /// normal priority would take CPU time from the workers.
    pub fn start(name: &str, cpus: &[usize]) -> Pollers {
        Self::start_with(name, cpus, |_| None)
    }

    /// [`Pollers::start`], the poller of CPU `c` doing `duty_for(c)` on each round.
    pub fn start_with(
        name: &str,
        cpus: &[usize],
        mut duty_for: impl FnMut(usize) -> Option<Box<dyn Duty>>,
    ) -> Pollers {
        let stop = Arc::new(AtomicBool::new(false));
        let mut unique = cpus.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let threads = unique
            .into_iter()
            .filter_map(|cpu| {
                let stop = Arc::clone(&stop);
                let duty = duty_for(cpu);
                std::thread::Builder::new()
                    .name(format!("{name}-idle{cpu}"))
                    .spawn(move || poll(cpu, &stop, duty))
                    .map_err(|e| {
                        crate::warn!("idle_poll: cannot start the poller of CPU {cpu}: {e}")
                    })
                    .ok()
            })
            .collect();
        Pollers { stop, threads }
    }
}

impl Drop for Pollers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The body of one poller: pin, drop to `SCHED_IDLE`, do its duty and yield until told to
/// stop, then retire the duty.
fn poll(cpu: usize, stop: &AtomicBool, mut duty: Option<Box<dyn Duty>>) {
    crate::cpus::pin(cpu);
    if let Err(e) = lowest_priority() {
        crate::warn!("idle_poll: CPU {cpu} keeps halting when idle: SCHED_IDLE refused ({e})");
        return;
    }
    // Yield, not a bare spin: a worker on this CPU that offers the CPU while it spins
    // (`Mesh::recv_spinning_until`) may be handed to this thread for a whole time slice
    // otherwise; a yielding poller hands it straight back.
    while !stop.load(Ordering::Relaxed) {
        if let Some(d) = duty.as_mut() {
            d.round();
        }
        std::thread::yield_now();
    }
    if let Some(d) = duty.as_mut() {
        d.retire();
    }
}

/// Put the calling thread in the `SCHED_IDLE` class.
fn lowest_priority() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler(0, ..) changes only the calling thread and reads `param`.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pollers really run at `SCHED_IDLE` and stop when dropped.
    #[test]
    fn pollers_run_at_idle_priority_and_stop_on_drop() {
        let pollers = Pollers::start("t", &[0, 0]);
        assert_eq!(pollers.threads.len(), 1, "one poller per distinct CPU");
        // The thread's policy as the kernel reports it (field 41 of /proc/PID/task/TID/stat is
        // the policy; SCHED_IDLE is 5): read through the thread's name.
        let me = std::process::id();
        let mut found = None;
        for _ in 0..200 {
            for task in std::fs::read_dir(format!("/proc/{me}/task"))
                .unwrap()
                .flatten()
            {
                let dir = task.path();
                let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
                if comm.trim() == "t-idle0" {
                    let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
                    // Fields after the ")" closing the name: state is field 3, policy field 41.
                    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
                    found = rest.split_whitespace().nth(41 - 3).map(str::to_owned);
                }
            }
            if found.as_deref() == Some("5") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            found.as_deref(),
            Some("5"),
            "the poller's scheduling policy"
        );
        drop(pollers);
        let left = std::fs::read_dir(format!("/proc/{me}/task"))
            .unwrap()
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "t-idle0")
            })
            .count();
        assert_eq!(left, 0, "the poller is gone after drop");
    }
}

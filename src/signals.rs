//! Signal handling without async machinery: SIGTERM/SIGINT/SIGHUP are blocked in every thread
//! (workers inherit the mask) and the main thread waits for them with `sigwait`.

use std::io;

pub enum Signal {
    /// SIGTERM or SIGINT: drain and exit.
    Stop(&'static str),
    /// SIGHUP: the seed's logrotate `reload`.
    Reload,
}

pub struct Signals {
    set: libc::sigset_t,
}

/// Block the handled signals in this thread (call before spawning workers).
pub fn block() -> io::Result<Signals> {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Signals { set })
    }
}

impl Signals {
    /// Block until one of the handled signals arrives.
    pub fn wait(&self) -> Signal {
        loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: `self.set` is a valid initialised sigset; `sig` is a valid out pointer.
            let rc = unsafe { libc::sigwait(&self.set, &mut sig) };
            if rc != 0 {
                continue;
            }
            return match sig {
                libc::SIGHUP => Signal::Reload,
                libc::SIGINT => Signal::Stop("SIGINT"),
                _ => Signal::Stop("SIGTERM"),
            };
        }
    }
}

//! Where the store's writer thread runs beside a scan (Linux): on the time the scan leaves.
//!
//! A fast scan keeps both of a small machine's cores busy (sending, receiving), and the writer
//! works while it runs. Under `SCHED_IDLE` the writer only gets a core the scan's threads do
//! not want (the kernel hands a waking scan thread the core at once), so it costs the scan
//! next to nothing, and it catches up while the scan builds its report. A plain nice value
//! does less: a nice-10 thread still takes about a tenth of a busy core, and measured on a /17
//! SYN scan it cost about 4% of the wall time more than `SCHED_IDLE`.
//!
//! But a `SCHED_IDLE` thread gets almost nothing while *other* programs keep the cores busy,
//! and the scan does wait for its writer: when the writer is a whole queue behind, when the
//! scan wants its results durable (`flush`), and at the end; and what a crash loses is what the
//! writer has not committed. So the scan brings it back to normal scheduling before it waits,
//! and as soon as the writer is a batch interval (a second) behind ([`Lowered::restore`]),
//! which the kernel allows only to a process with `CAP_SYS_NICE`, or an `RLIMIT_NICE` that
//! permits the thread's nice value. A process without either (an unprivileged connect scan)
//! never uses `SCHED_IDLE`: its writer runs at a nice value [`NICER`] above the scan's, as
//! before, which the scan never needs to undo.

use std::sync::Mutex;

/// How much nicer than the scan a writer runs that cannot use `SCHED_IDLE`.
pub(crate) const NICER: i32 = 10;

/// What a background thread did to its scheduling, shared with the thread that may wait for
/// it: set once by the thread itself ([`Lowered::lower_current`]), undone at most once by the
/// waiter ([`Lowered::restore`]), both under one lock (a waiter that comes first keeps the
/// thread from lowering itself at all).
#[derive(Default)]
pub(crate) struct Lowered {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The thread's kernel id, while it runs under `SCHED_IDLE`.
    idle: Option<i32>,
    /// A waiter came: the thread stays (or is put back) at normal scheduling.
    waited: bool,
}

impl Lowered {
    /// Lower the calling thread: `SCHED_IDLE` when this process may undo it, else a nice
    /// value [`NICER`] higher. Best effort: a thread that cannot be lowered runs as before.
    pub(crate) fn lower_current(&self) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if s.waited {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            let tid = rustix::thread::gettid();
            if may_restore() && set_policy(tid.as_raw_nonzero().get(), libc::SCHED_IDLE) {
                s.idle = Some(tid.as_raw_nonzero().get());
                return;
            }
            // Linux: a nice value is per thread.
            let me = Some(tid);
            if let Ok(now) = rustix::process::getpriority_process(me) {
                let _ = rustix::process::setpriority_process(me, (now + NICER).min(19));
            }
        }
    }

    /// Before waiting for the thread: bring it back to normal scheduling if it runs under
    /// `SCHED_IDLE`, and keep it from lowering itself later. Cheap after the first call.
    pub(crate) fn restore(&self) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        s.waited = true;
        #[cfg(target_os = "linux")]
        if let Some(tid) = s.idle.take() {
            set_policy(tid, libc::SCHED_OTHER);
        }
    }

    /// Whether the thread runs under `SCHED_IDLE` now (tests).
    #[cfg(test)]
    fn is_idle(&self) -> bool {
        self.state.lock().map(|s| s.idle.is_some()).unwrap_or(false)
    }
}

/// Whether this process may bring a thread back from `SCHED_IDLE` to `SCHED_OTHER` at its nice
/// value (the kernel's `can_nice`): `CAP_SYS_NICE`, or `RLIMIT_NICE` at least `20 - nice`.
#[cfg(target_os = "linux")]
fn may_restore() -> bool {
    use rustix::thread::{capabilities, CapabilitySet};
    if capabilities(None).is_ok_and(|c| c.effective.contains(CapabilitySet::SYS_NICE)) {
        return true;
    }
    let nice = rustix::process::getpriority_process(None).unwrap_or(0);
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nice).current;
    limit.is_some_and(|l| l >= (20 - nice).max(0) as u64)
}

/// `sched_setscheduler(tid, policy)` with static priority 0 (the only one `SCHED_OTHER` and
/// `SCHED_IDLE` take). `false` if the kernel refused.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_policy(tid: i32, policy: libc::c_int) -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a valid, initialised `sched_param` that outlives the call, which only
    // reads it; a bad `tid` or policy is an error return (ESRCH, EINVAL, EPERM), not UB.
    unsafe { libc::sched_setscheduler(tid, policy, &param) == 0 }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn policy() -> libc::c_int {
        // SAFETY: no arguments beyond the pid; 0 is the calling thread.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn a_thread_is_lowered_and_brought_back_before_a_wait() {
        let l = std::sync::Arc::new(Lowered::default());
        let (lowered, go) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let t = {
            let l = std::sync::Arc::clone(&l);
            std::thread::spawn(move || {
                l.lower_current();
                let _ = lowered.0.send(policy());
                let _ = go.1.recv();
                policy()
            })
        };
        let during = lowered.1.recv().unwrap();
        if may_restore() {
            assert_eq!(during, libc::SCHED_IDLE);
            assert!(l.is_idle());
        } else {
            // Unprivileged: a nice value instead, never SCHED_IDLE.
            assert_eq!(during, libc::SCHED_OTHER);
        }
        l.restore();
        assert!(!l.is_idle());
        go.0.send(()).unwrap();
        assert_eq!(t.join().unwrap(), libc::SCHED_OTHER);
    }

    #[test]
    fn a_waiter_first_keeps_the_thread_from_lowering_itself() {
        let l = Lowered::default();
        l.restore();
        let got = std::thread::scope(|s| {
            s.spawn(|| {
                l.lower_current();
                policy()
            })
            .join()
            .unwrap()
        });
        assert_eq!(got, libc::SCHED_OTHER);
        assert!(!l.is_idle());
    }
}

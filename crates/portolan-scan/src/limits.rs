//! File-descriptor limits: every in-flight connect probe holds one socket.

/// Descriptors kept free for everything that is not a probe (outputs, the runtime, stdio).
pub const RESERVED_FDS: u64 = 128;

/// Raise the soft `RLIMIT_NOFILE` to the hard limit (when allowed) and return the soft limit now
/// in force. Never fails: on any error the current (or a conservative) limit is returned.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other memory is touched.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    let want = if lim.rlim_max == libc::RLIM_INFINITY {
        1 << 20
    } else {
        lim.rlim_max.min(1 << 20)
    };
    if lim.rlim_cur != libc::RLIM_INFINITY && lim.rlim_cur < want {
        let new = libc::rlimit {
            rlim_cur: want,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            return want;
        }
    }
    if lim.rlim_cur == libc::RLIM_INFINITY {
        1 << 20
    } else {
        lim.rlim_cur
    }
}

/// How many probes may be in flight under a descriptor limit.
pub fn window_cap(soft_limit: u64) -> usize {
    soft_limit.saturating_sub(RESERVED_FDS).max(8) as usize
}

#[cfg(test)]
mod tests {
    #[test]
    fn raise_is_sane() {
        let n = super::raise_nofile();
        assert!(n >= 16);
        assert!(super::window_cap(n) >= 8);
        assert_eq!(super::window_cap(100), 8);
    }
}

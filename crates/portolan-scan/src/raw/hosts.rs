//! Per-host congestion state, beside the global window (as nmap keeps it).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use crate::connect::Window;

/// Most probes held back for their hosts' windows; beyond it the plan is not read further until
/// some are sent. One host's whole port range fits (16 bytes a probe).
pub(crate) const HELD_CAP: usize = 65_536;

/// Per-host congestion state, as nmap keeps beside its global one: each host with probes in
/// flight has its own window and round-trip estimate, so a host that drops probes (a rate
/// limit, a congested path) slows down alone while the others go on under the global window,
/// and each host's retransmission timeout follows its own round trip. A probe whose host's window
/// is full waits in that host's queue, not in the plan. A host is forgotten when it has nothing
/// in flight or waiting: memory is bounded by the global window plus [`HELD_CAP`].
pub(crate) struct Hosts {
    /// Keyed by the scan's own targets (a reply is looked up only once validated): a fast
    /// hasher, seeded per process.
    map: HashMap<IpAddr, Host, foldhash::fast::RandomState>,
    /// Hosts with waiting probes that may have room again.
    ready: VecDeque<IpAddr>,
    /// Probes waiting in all hosts' queues.
    pub held: usize,
    /// Probes that had to wait, over the scan.
    pub holds: u64,
    initial: usize,
    min: usize,
    max: usize,
    min_timeout: Duration,
    max_timeout: Duration,
    /// No host can have more probes in flight than the smallest window allows (a job of at
    /// most `min` ports a host), so no per-host window could ever hold a probe back: nothing
    /// is kept per host, and every probe uses the global timeout
    /// ([`Hosts::untracked_if_at_most`]).
    untracked: bool,
}

struct Host {
    /// Probes picked for this host and not yet final (in a batch, deferred or in flight).
    active: usize,
    /// Probes waiting for room in this host's window: (plan position, port).
    waiting: VecDeque<(u64, u16)>,
    queued: bool,
    win: Window,
}

impl Hosts {
    pub fn new(
        initial: usize,
        min: usize,
        max: usize,
        min_timeout: Duration,
        max_timeout: Duration,
    ) -> Hosts {
        Hosts {
            map: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            ready: VecDeque::new(),
            held: 0,
            holds: 0,
            initial,
            min,
            max,
            min_timeout,
            max_timeout,
            untracked: false,
        }
    }

    /// Keep nothing per host when no host gets more than `ports_per_host` probes in flight at
    /// once and that is within the smallest window: a host's window could never be full (one
    /// hash map insert and lookup less a probe, and less memory on wide, shallow scans such as
    /// host discovery or one port over a large range).
    pub fn untracked_if_at_most(mut self, ports_per_host: u64) -> Hosts {
        self.untracked = ports_per_host <= self.min.max(1) as u64;
        self
    }

    fn entry(&mut self, addr: IpAddr) -> &mut Host {
        let (initial, min, max, lo, hi) = (
            self.initial,
            self.min,
            self.max,
            self.min_timeout,
            self.max_timeout,
        );
        self.map.entry(addr).or_insert_with(|| Host {
            active: 0,
            waiting: VecDeque::new(),
            queued: false,
            win: Window::new(initial, min, max, lo, hi),
        })
    }

    /// Take a slot in `addr`'s window for a new probe; false when the window is full.
    pub fn reserve(&mut self, addr: IpAddr) -> bool {
        if self.untracked {
            return true;
        }
        let h = self.entry(addr);
        if h.active >= h.win.size().max(1) {
            return false;
        }
        h.active += 1;
        true
    }

    /// Keep a probe until `addr` has room.
    pub fn hold(&mut self, addr: IpAddr, pos: u64, port: u16) {
        self.entry(addr).waiting.push_back((pos, port));
        self.held += 1;
        self.holds += 1;
    }

    /// A probe to `addr` is final (or was never sent): free its slot.
    pub fn release(&mut self, addr: IpAddr) {
        if self.untracked {
            return;
        }
        let Some(h) = self.map.get_mut(&addr) else {
            return;
        };
        h.active = h.active.saturating_sub(1);
        if !h.waiting.is_empty() {
            if !h.queued {
                h.queued = true;
                self.ready.push_back(addr);
            }
        } else if h.active == 0 {
            self.map.remove(&addr);
        }
    }

    /// A waiting probe whose host has room now, with its slot taken: (pos, addr, port, try 1).
    pub fn next_ready(&mut self) -> Option<(u64, IpAddr, u16, u32)> {
        while let Some(addr) = self.ready.pop_front() {
            let Some(h) = self.map.get_mut(&addr) else {
                continue;
            };
            h.queued = false;
            if h.active >= h.win.size().max(1) {
                continue; // queued again by its next release
            }
            let Some((pos, port)) = h.waiting.pop_front() else {
                continue;
            };
            h.active += 1;
            self.held -= 1;
            if !h.waiting.is_empty() {
                h.queued = true;
                self.ready.push_back(addr);
            }
            return Some((pos, addr, port, 1));
        }
        None
    }

    pub fn window(&mut self, addr: IpAddr) -> Option<&mut Window> {
        if self.untracked {
            return None;
        }
        self.map.get_mut(&addr).map(|h| &mut h.win)
    }

    /// `addr`'s own retransmission timeout, once a round trip to it was measured.
    pub fn timeout(&self, addr: IpAddr) -> Option<Duration> {
        if self.untracked {
            return None;
        }
        self.map
            .get(&addr)
            .filter(|h| h.win.has_rtt())
            .map(|h| h.win.timeout())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(initial: usize) -> Hosts {
        Hosts::new(
            initial,
            1,
            1024,
            Duration::from_millis(100),
            Duration::from_millis(1000),
        )
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn a_full_host_holds_its_probes_while_others_go_on() {
        let mut h = hosts(2);
        assert!(h.reserve(ip(1)));
        assert!(h.reserve(ip(1)));
        assert!(!h.reserve(ip(1)), "window of 2 is full");
        h.hold(ip(1), 7, 80);
        h.hold(ip(1), 9, 81);
        // Another host is not affected.
        assert!(h.reserve(ip(2)));
        assert_eq!(h.next_ready(), None, "nothing released yet");
        // One probe of host 1 ends: exactly one waiting probe may go, in plan order.
        h.release(ip(1));
        assert_eq!(h.next_ready(), Some((7, ip(1), 80, 1)));
        assert_eq!(h.next_ready(), None, "window full again");
        h.release(ip(1));
        assert_eq!(h.next_ready(), Some((9, ip(1), 81, 1)));
        assert_eq!((h.held, h.holds), (0, 2));
    }

    #[test]
    fn hosts_are_forgotten_when_idle() {
        let mut h = hosts(4);
        for i in 0..100 {
            assert!(h.reserve(ip(i)));
        }
        assert_eq!(h.map.len(), 100);
        for i in 0..100 {
            h.release(ip(i));
        }
        assert!(h.map.is_empty(), "memory is bounded by what is in flight");
        // Releasing an unknown host is harmless.
        h.release(ip(200));
        assert!(h.map.is_empty());
    }

    #[test]
    fn shallow_jobs_keep_nothing_per_host() {
        // Windows never go below 8 here: with at most 8 probes a host in flight, no host's
        // window can be full, so nothing is kept.
        let shallow = || {
            Hosts::new(
                16,
                8,
                1024,
                Duration::from_millis(100),
                Duration::from_millis(1000),
            )
        };
        let mut h = shallow().untracked_if_at_most(8);
        for i in 0..100 {
            for _ in 0..8 {
                assert!(h.reserve(ip(i)));
            }
        }
        assert!(h.map.is_empty());
        assert!(h.window(ip(1)).is_none());
        assert_eq!(h.timeout(ip(1)), None);
        h.release(ip(1));
        assert_eq!(h.next_ready(), None);
        assert_eq!((h.held, h.holds), (0, 0));
        // One probe more a host than the smallest window: kept as before.
        let mut h = shallow().untracked_if_at_most(9);
        assert!(h.reserve(ip(1)));
        assert_eq!(h.map.len(), 1);
    }

    #[test]
    fn a_shrunk_window_holds_back_and_timeouts_follow_the_host() {
        let mut h = hosts(64);
        for _ in 0..64 {
            assert!(h.reserve(ip(1)));
        }
        assert_eq!(h.timeout(ip(1)), None, "no round trip measured yet");
        let w = h.window(ip(1)).unwrap();
        w.rtt_sample(Duration::from_millis(300));
        // Every answer of an epoch came after a retry: the host's window halves.
        for _ in 0..64 {
            w.completed(true);
        }
        assert_eq!(w.size(), 32);
        assert!(h.timeout(ip(1)).unwrap() >= Duration::from_millis(300));
        // 64 active, window 32: new probes wait until 33 have ended.
        assert!(!h.reserve(ip(1)));
        h.hold(ip(1), 1, 1);
        for _ in 0..32 {
            h.release(ip(1));
            assert_eq!(h.next_ready(), None);
        }
        h.release(ip(1));
        assert_eq!(h.next_ready(), Some((1, ip(1), 1, 1)));
    }
}

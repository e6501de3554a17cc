//! Retransmission timers: one deadline per probe in flight, earliest first.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::{BinaryHeap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

/// A probe's retransmission deadline (ordered by the deadline alone).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timer {
    pub at: Instant,
    pub addr: IpAddr,
    pub port: u16,
    pub tries: u32,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.at.cmp(&other.at)
    }
}

/// Retransmission timers, earliest first. Deadlines mostly come in order (one timeout per host,
/// changing slowly), so those go to a queue in O(1); the few that would land before the queue's
/// last one (a host with a shorter timeout) go to a heap. Stale entries (the probe was answered
/// or sent again) are skipped by the caller.
#[derive(Default)]
pub(crate) struct Timers {
    fifo: VecDeque<Timer>,
    heap: BinaryHeap<Reverse<Timer>>,
}

impl Timers {
    pub fn push(&mut self, t: Timer) {
        if self.fifo.back().is_none_or(|b| b.at <= t.at) {
            self.fifo.push_back(t);
        } else {
            self.heap.push(Reverse(t));
        }
    }

    pub fn peek(&self) -> Option<Timer> {
        match (self.fifo.front(), self.heap.peek()) {
            (Some(a), Some(Reverse(b))) => Some(if a.at <= b.at { *a } else { *b }),
            (Some(a), None) => Some(*a),
            (None, Some(Reverse(b))) => Some(*b),
            (None, None) => None,
        }
    }

    pub fn pop(&mut self) -> Option<Timer> {
        let from_fifo = match (self.fifo.front(), self.heap.peek()) {
            (Some(a), Some(Reverse(b))) => a.at <= b.at,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if from_fifo {
            self.fifo.pop_front()
        } else {
            self.heap.pop().map(|Reverse(t)| t)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timers_pop_in_deadline_order_even_out_of_push_order() {
        let t0 = Instant::now();
        let mut t = Timers::default();
        for (ms, port) in [(10u64, 1u16), (20, 2), (5, 3), (30, 4), (15, 5), (30, 6)] {
            t.push(Timer {
                at: t0 + Duration::from_millis(ms),
                addr: IpAddr::from([10, 0, 0, 1]),
                port,
                tries: 1,
            });
        }
        let mut order = Vec::new();
        while let Some(x) = t.pop() {
            if let Some(next) = t.peek() {
                assert!(next.at >= x.at, "popped out of order");
            }
            order.push(x.port);
        }
        assert_eq!(&order[..4], &[3, 1, 5, 2]);
        let mut last: Vec<u16> = order[4..].to_vec();
        last.sort_unstable();
        assert_eq!(last, vec![4, 6]);
    }
}

//! Probe batches and the send lanes: threads that hand batches to the kernel from other CPUs.
//!
//! The kernel does each packet's routing, queueing and, on local and virtual links, the other
//! end's processing and the reply's on the CPU that called `sendmmsg`, so the engine hands full
//! batches to idle lanes and sends itself only when every lane is busy.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::rawio::{RawError, Sender};

/// Packets per `sendmmsg` call, and the room for each.
pub(crate) const BATCH: usize = 64;
pub(crate) const SLOT: usize = 1536;

/// One probe in a batch: plan position, target, try number and packet length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Meta {
    pub pos: u64,
    pub addr: IpAddr,
    pub port: u16,
    pub tries: u32,
    pub len: usize,
}

/// Up to [`BATCH`] probes of one family, built in place, and what sending them went like.
pub(crate) struct Batch {
    pub v6: bool,
    pub arena: Vec<u8>,
    pub meta: Vec<Meta>,
    /// Packets the kernel refused for good (index into `meta`, error).
    pub errors: Vec<(usize, std::io::Error)>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch {
            v6: false,
            arena: vec![0u8; BATCH * SLOT],
            meta: Vec::with_capacity(BATCH),
            errors: Vec::new(),
        }
    }

    pub fn clear(&mut self) {
        self.meta.clear();
        self.errors.clear();
    }

    /// Send the packets from `from` on with as few `sendmmsg` calls as the kernel allows.
    /// Returns the index of the first packet it did not take (queue full); packets it refused
    /// for good are recorded in `errors` and skipped.
    pub fn push(&mut self, sender: &Sender, from: usize) -> usize {
        // A fixed array: no allocation on the send path.
        let mut slots: [(IpAddr, &[u8]); BATCH] = [(IpAddr::from([0u8, 0, 0, 0]), &[]); BATCH];
        let n = self.meta.len().min(BATCH);
        for (i, m) in self.meta.iter().enumerate().take(n) {
            slots[i] = (m.addr, &self.arena[i * SLOT..i * SLOT + m.len]);
        }
        let mut done = from;
        while done < n {
            match sender.send_batch(self.v6, &slots[done..n]) {
                Ok(0) => break,
                Ok(k) => done += k,
                Err(e) => {
                    self.errors.push((done, e));
                    done += 1;
                }
            }
        }
        done
    }
}

/// Threads that hand batches to the kernel from other CPUs. Each has its own sockets and a
/// queue of at most [`LANE_DEPTH`] batches; the engine thread offers each batch to the least
/// busy lane and sends it itself when every lane is full, so it never waits for a lane.
pub(crate) struct Lanes {
    jobs: Vec<mpsc::SyncSender<Batch>>,
    busy: Vec<usize>,
    done: mpsc::Receiver<(usize, Batch)>,
    /// Batches back from the lanes, not yet looked at by the engine.
    back: Vec<Batch>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

const LANE_DEPTH: usize = 2;

impl Lanes {
    pub fn spawn(senders: Vec<Sender>, stop: &Arc<AtomicBool>) -> Result<Lanes, RawError> {
        let (done_tx, done) = mpsc::channel();
        let mut lanes = Lanes {
            jobs: Vec::new(),
            busy: Vec::new(),
            done,
            back: Vec::new(),
            threads: Vec::new(),
        };
        for (i, sender) in senders.into_iter().enumerate() {
            let (tx, rx) = mpsc::sync_channel::<Batch>(LANE_DEPTH);
            let done_tx = done_tx.clone();
            let stop = stop.clone();
            let t = std::thread::Builder::new()
                .name(format!("portolan-tx{}", i + 1))
                .spawn(move || {
                    while let Ok(mut b) = rx.recv() {
                        let mut at = 0;
                        loop {
                            at = b.push(&sender, at);
                            if at >= b.meta.len() || stop.load(Ordering::Relaxed) {
                                break;
                            }
                            // The kernel's queue is full: let it drain.
                            std::thread::sleep(Duration::from_micros(20));
                        }
                        if done_tx.send((i, b)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(RawError::Socket)?;
            lanes.jobs.push(tx);
            lanes.busy.push(0);
            lanes.threads.push(t);
        }
        Ok(lanes)
    }

    /// Give a batch to the least busy lane with room; hands it back when there is none.
    pub fn offer(&mut self, b: Batch) -> Result<(), Batch> {
        // Note what the lanes finished since the last look; the engine handles it next turn.
        while let Ok((i, done)) = self.done.try_recv() {
            self.busy[i] = self.busy[i].saturating_sub(1);
            self.back.push(done);
        }
        let Some(i) = (0..self.busy.len())
            .filter(|&i| self.busy[i] < LANE_DEPTH)
            .min_by_key(|&i| self.busy[i])
        else {
            return Err(b);
        };
        match self.jobs[i].try_send(b) {
            Ok(()) => {
                self.busy[i] += 1;
                Ok(())
            }
            Err(mpsc::TrySendError::Full(b)) => Err(b),
            Err(mpsc::TrySendError::Disconnected(b)) => {
                // The lane is gone: never offer it work again.
                self.busy[i] = usize::MAX;
                Err(b)
            }
        }
    }

    /// A batch a lane has finished with, if any.
    pub fn returned(&mut self) -> Option<Batch> {
        if let Some(b) = self.back.pop() {
            return Some(b);
        }
        let (i, b) = self.done.try_recv().ok()?;
        self.busy[i] = self.busy[i].saturating_sub(1);
        Some(b)
    }

    /// Whether no batch is out with a lane.
    pub fn idle(&self) -> bool {
        self.busy.iter().all(|&b| b == 0 || b == usize::MAX)
    }

    /// Stop the lanes (after they send what they hold) and wait for them.
    pub fn join(&mut self) {
        self.jobs.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

//! Stopping long work on request (Ctrl-C, SIGTERM), in two steps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Two flags shared between whoever catches the user's interruption (the binary's signal
/// handler) and the work: [`Stop::graceful`] is set by the first request (stop starting new
/// work, finish and save), [`Stop::now`] by the second (abandon what is in hand, save what was
/// found). `now` implies `graceful`. Cheap to clone: clones share the flags.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    graceful: Arc<AtomicBool>,
    now: Arc<AtomicBool>,
}

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }
    /// The flag the scan engines poll (set by the first request).
    pub fn graceful_flag(&self) -> Arc<AtomicBool> {
        self.graceful.clone()
    }
    /// One more request: the first stops gracefully, the second at once. Returns how urgent
    /// the stop now is (1 or 2). Safe to call from a signal-watching thread.
    pub fn request(&self) -> u8 {
        if self.graceful.swap(true, Ordering::SeqCst) {
            self.now.store(true, Ordering::SeqCst);
            2
        } else {
            1
        }
    }
    /// Stop at once (as a second request).
    pub fn request_now(&self) {
        self.graceful.store(true, Ordering::SeqCst);
        self.now.store(true, Ordering::SeqCst);
    }
    pub fn graceful(&self) -> bool {
        self.graceful.load(Ordering::SeqCst)
    }
    pub fn now(&self) -> bool {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_request_is_urgent() {
        let s = Stop::new();
        let c = s.clone();
        assert!(!s.graceful() && !s.now());
        assert_eq!(c.request(), 1);
        assert!(s.graceful() && !s.now());
        assert_eq!(c.request(), 2);
        assert!(s.now());
    }
}

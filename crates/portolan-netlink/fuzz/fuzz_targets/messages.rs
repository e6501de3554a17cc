//! Fuzz the shared netlink walkers: any bytes through the `nlmsghdr` iterator, every payload
//! through the `rtattr` iterator (at the family-header offsets Portolan uses) and the
//! `NLMSG_ERROR` / `NLMSG_DONE` checks. No panic, and the iterators end.
#![no_main]
use libfuzzer_sys::fuzz_target;
use portolan_netlink::{attrs, check_done, check_error, messages};

fuzz_target!(|data: &[u8]| {
    for m in messages(data) {
        let Ok(m) = m else { break };
        let _ = check_error(m.payload);
        let _ = check_done(m.payload);
        for skip in [0usize, 4, 8, 12, 16, 72] {
            if let Some(p) = m.payload.get(skip..) {
                for a in attrs(p) {
                    let Ok(a) = a else { break };
                    let _ = a.value.len();
                }
            }
        }
    }
    for a in attrs(data) {
        if a.is_err() {
            break;
        }
    }
});

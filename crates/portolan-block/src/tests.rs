#![allow(clippy::unwrap_used)]

use super::*;
use std::cell::RefCell;
use std::rc::Rc;

/// Records scripts; lists what the test puts in `listing`; fails the first `fail` runs.
#[derive(Clone, Default)]
struct Rec {
    scripts: Rc<RefCell<Vec<String>>>,
    listing: Rc<RefCell<Option<String>>>,
    fail: Rc<RefCell<usize>>,
}

impl Nft for Rec {
    fn run(&mut self, s: &str) -> Result<(), BlockError> {
        self.scripts.borrow_mut().push(s.to_string());
        let mut f = self.fail.borrow_mut();
        if *f > 0 {
            *f -= 1;
            return Err(BlockError::Nft {
                stderr: "interval overlaps with an existing one".into(),
            });
        }
        Ok(())
    }
    fn list_json_of(&mut self, _: &str) -> Result<Option<String>, BlockError> {
        Ok(self.listing.borrow().clone())
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn blocker(cfg: BlockerConfig) -> (Blocker<Rec>, Rec) {
    let rec = Rec::default();
    (Blocker::new(cfg, rec.clone()), rec)
}

#[test]
fn one_batch_is_one_transaction_after_the_table_is_made() {
    let (mut b, rec) = blocker(BlockerConfig::default());
    let out = b
        .ban(&[ip("203.0.113.7"), ip("2001:db8::9"), ip("203.0.113.8")])
        .unwrap();
    assert!(out.iter().all(Outcome::is_blocked));
    let s = rec.scripts.borrow();
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(s[0].contains("add table inet portolan_block"));
    assert!(s[1].contains(
        "add element inet portolan_block ban4 { 203.0.113.7 timeout 3600s, 203.0.113.8 timeout 3600s }"
    ));
    assert!(s[1].contains("add element inet portolan_block ban6 { 2001:db8::9 timeout 3600s }"));
}

#[test]
fn allow_list_is_checked_before_any_ban() {
    let mut allow = AllowList::default();
    allow.push("10.0.0.0/24".parse().unwrap());
    let (mut b, rec) = blocker(BlockerConfig {
        allow,
        ..BlockerConfig::default()
    });
    let out = b
        .ban(&[
            ip("10.0.0.5"),
            ip("127.0.0.1"),
            ip("::1"),
            ip("::ffff:10.0.0.6"),
        ])
        .unwrap();
    assert!(
        out.iter().all(|o| matches!(o, Outcome::Allowed { .. })),
        "{out:?}"
    );
    assert!(rec.scripts.borrow().is_empty(), "nothing may be run");
    // add of a network that holds an allowed address is refused too
    let out = b
        .ban_nets(&[("10.0.0.0/16".parse().unwrap(), Duration::from_secs(60))])
        .unwrap();
    assert!(matches!(out[0], Outcome::Allowed { .. }));
    assert!(rec.scripts.borrow().is_empty());
}

#[test]
fn dry_run_touches_nothing() {
    let (mut b, rec) = blocker(BlockerConfig {
        dry_run: true,
        ..BlockerConfig::default()
    });
    let out = b.ban(&[ip("203.0.113.7")]).unwrap();
    assert!(matches!(out[0], Outcome::Blocked { dry_run: true, .. }));
    b.unban(&["203.0.113.7".parse().unwrap()]).unwrap();
    assert!(rec.scripts.borrow().is_empty());
}

#[test]
fn repeat_offender_is_refreshed() {
    let (mut b, rec) = blocker(BlockerConfig::default());
    let first = b.ban(&[ip("203.0.113.7")]).unwrap();
    // written a moment ago: not written again
    let n = rec.scripts.borrow().len();
    let soon = b.ban(&[ip("203.0.113.7")]).unwrap();
    assert!(matches!(
        soon[0],
        Outcome::Blocked {
            refreshed: true,
            ..
        }
    ));
    assert_eq!(rec.scripts.borrow().len(), n);
    // later (here: made long ago), it is refreshed in the kernel
    for v in b.banned.values_mut() {
        v.0 -= Duration::from_secs(120);
    }
    let again = b.ban(&[ip("203.0.113.7")]).unwrap();
    assert!(matches!(
        first[0],
        Outcome::Blocked {
            refreshed: false,
            ..
        }
    ));
    assert!(matches!(
        again[0],
        Outcome::Blocked {
            refreshed: true,
            ..
        }
    ));
    let s = rec.scripts.borrow();
    let last = s.last().unwrap();
    // add (no-op when present), delete, add: the new timeout whatever the kernel
    let lines: Vec<&str> = last.lines().collect();
    assert_eq!(lines.len(), 3, "{last}");
    assert!(lines[1].starts_with("delete element inet portolan_block ban4 { 203.0.113.7 }"));
}

#[test]
fn sweeps_become_a_prefix_ban_that_replaces_nothing_it_should_keep() {
    let cfg = BlockerConfig {
        prefix: PrefixRule {
            v4: Some(24),
            v6: Some(64),
            after: 3,
        },
        ..BlockerConfig::default()
    };
    let (mut b, rec) = blocker(cfg);
    let out = b.ban(&[ip("198.51.100.1"), ip("198.51.100.2")]).unwrap();
    assert!(out
        .iter()
        .all(|o| matches!(o, Outcome::Blocked { net, .. } if net.is_host())));
    let out = b.ban(&[ip("198.51.100.3")]).unwrap();
    assert!(
        matches!(&out[0], Outcome::Blocked { net, .. } if net.to_string() == "198.51.100.0/24"),
        "{out:?}"
    );
    assert!(rec
        .scripts
        .borrow()
        .last()
        .unwrap()
        .contains("net4 { 198.51.100.0/24 timeout 3600s }"));
    // a later address of that /24 is in the ban just made: nothing more is run
    let n = rec.scripts.borrow().len();
    let out = b.ban(&[ip("198.51.100.4")]).unwrap();
    assert!(
        matches!(&out[0], Outcome::Blocked { net, refreshed: true, .. } if net.to_string() == "198.51.100.0/24"),
        "{out:?}"
    );
    assert_eq!(
        rec.scripts.borrow().len(),
        n,
        "a ban written a moment ago is not written again"
    );
    // an address inside a prefix banned by hand is covered by it
    b.ban_nets(&[("192.0.2.0/24".parse().unwrap(), Duration::from_secs(60))])
        .unwrap();
    let (mut b2, _) = blocker(BlockerConfig::default());
    b2.prefixes = b.prefixes.clone();
    b2.ready = true;
    let out = b2.ban(&[ip("192.0.2.77")]).unwrap();
    assert!(
        matches!(&out[0], Outcome::Covered { by } if by.to_string() == "192.0.2.0/24"),
        "{out:?}"
    );
}

#[test]
fn no_prefix_ban_over_an_allowed_address() {
    let mut allow = AllowList::default();
    allow.push("198.51.100.200".parse().unwrap());
    let cfg = BlockerConfig {
        allow,
        prefix: PrefixRule {
            v4: Some(24),
            v6: None,
            after: 2,
        },
        ..BlockerConfig::default()
    };
    let (mut b, _rec) = blocker(cfg);
    let out = b
        .ban(&[ip("198.51.100.1"), ip("198.51.100.2"), ip("198.51.100.3")])
        .unwrap();
    assert!(
        out.iter()
            .all(|o| matches!(o, Outcome::Blocked { net, .. } if net.is_host())),
        "{out:?}"
    );
}

#[test]
fn a_wider_prefix_replaces_the_narrower_ones_in_the_same_transaction() {
    let (mut b, rec) = blocker(BlockerConfig::default());
    b.ban_nets(&[("198.51.100.0/25".parse().unwrap(), Duration::from_secs(60))])
        .unwrap();
    b.ban_nets(&[("198.51.100.0/24".parse().unwrap(), Duration::from_secs(60))])
        .unwrap();
    let s = rec.scripts.borrow();
    let last = s.last().unwrap();
    let del = last
        .find("delete element inet portolan_block net4 { 198.51.100.0/25 }")
        .unwrap();
    let add = last
        .find("add element inet portolan_block net4 { 198.51.100.0/24 timeout 60s }")
        .unwrap();
    assert!(del < add, "{last}");
}

#[test]
fn a_failed_batch_is_retried_once_after_relearning_the_prefixes() {
    let (mut b, rec) = blocker(BlockerConfig::default());
    b.prepare().unwrap();
    // the kernel holds a /24 this blocker did not know of
    *rec.listing.borrow_mut() = Some(r#"{"nftables":[{"set":{"name":"net4","elem":[{"elem":{"val":{"prefix":{"addr":"198.51.100.0","len":24}},"timeout":600,"expires":500}}]}}]}"#.into());
    *rec.fail.borrow_mut() = 1;
    let out = b
        .ban_nets(&[("198.51.100.0/25".parse().unwrap(), Duration::from_secs(60))])
        .unwrap();
    assert!(
        matches!(&out[0], Outcome::Covered { by } if by.to_string() == "198.51.100.0/24"),
        "{out:?}"
    );
}

#[test]
fn too_wide_and_foreign_tables_are_refused() {
    let (mut b, rec) = blocker(BlockerConfig::default());
    let e = b
        .ban_nets(&[("10.0.0.0/7".parse().unwrap(), Duration::from_secs(60))])
        .unwrap_err();
    assert!(e.to_string().contains("too wide"), "{e}");
    *rec.listing.borrow_mut() = Some(r#"{"nftables":[{"set":{"name":"whitelist"}}]}"#.into());
    let e = b.prepare().unwrap_err();
    assert!(e.to_string().contains("not Portolan's"), "{e}");
}

#[test]
fn bans_are_kept_in_the_restore_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bans.json");
    let rec = Rec::default();
    let mut b =
        Blocker::new(BlockerConfig::default(), rec).with_state(state::StateFile::new(&path));
    b.ban(&[ip("203.0.113.7")]).unwrap();
    let left = state::StateFile::new(&path)
        .remaining(SystemTime::now())
        .unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].1 > Duration::from_secs(3500));
    b.unban(&["203.0.113.7".parse().unwrap()]).unwrap();
    assert!(state::StateFile::new(&path).load().unwrap().is_empty());
}

#[test]
fn tripwire_is_armed_with_the_allow_list_and_never_in_dry_run() {
    let mut allow = AllowList::default();
    allow.push("192.0.2.0/24".parse().unwrap());
    let t = nft::Tripwire {
        after: 5,
        ban_for: Duration::from_secs(60),
    };
    let (mut b, rec) = blocker(BlockerConfig {
        allow: allow.clone(),
        ..BlockerConfig::default()
    });
    b.arm_tripwire(&t).unwrap();
    {
        let s = rec.scripts.borrow();
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s[0].contains(
            "add set inet portolan_block kban4 { type ipv4_addr; flags dynamic, timeout;"
        ));
        assert!(s[0].contains("ip saddr @kban4 counter drop"));
        assert!(
            s[1].contains("allow4 { 127.0.0.0/8, 0.0.0.0, 192.0.2.0/24 }"),
            "{}",
            s[1]
        );
        assert!(s[1].contains("add @kban4 { ip daddr timeout 60s }"));
    }
    // no tripwire chain listed: nothing to disarm
    assert!(!b.disarm_tripwire().unwrap());
    *rec.listing.borrow_mut() = Some(r#"{"nftables": []}"#.into());
    assert!(b.disarm_tripwire().unwrap());
    assert!(rec
        .scripts
        .borrow()
        .last()
        .unwrap()
        .starts_with("delete chain inet portolan_block tripwire"));

    let (mut d, rec) = blocker(BlockerConfig {
        allow,
        dry_run: true,
        ..BlockerConfig::default()
    });
    d.arm_tripwire(&t).unwrap();
    assert!(!d.disarm_tripwire().unwrap());
    assert!(rec.scripts.borrow().is_empty());
}

#[test]
fn tripwire_bans_go_to_the_restore_file_when_it_is_disarmed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bans.json");
    let (b, rec) = blocker(BlockerConfig::default());
    let mut b = b.with_state(state::StateFile::new(&path));
    *rec.listing.borrow_mut() = Some(
        r#"{"nftables": [{"set": {"family": "inet", "name": "kban4", "table": "portolan_block", "type": "ipv4_addr",
            "elem": [{"elem": {"val": "203.0.113.9", "timeout": 600, "expires": 590}}]}}]}"#
            .into(),
    );
    assert!(b.disarm_tripwire().unwrap());
    let left = state::StateFile::new(&path)
        .remaining(SystemTime::now())
        .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].0.to_string(), "203.0.113.9");
    assert!((580..=590).contains(&left[0].1.as_secs()), "{left:?}");
}

//! Property tests: the matcher and the engine facing hostile replies — huge, binary,
//! never-ending, slow-drip. No panic, bounded memory, bounded time (by deadline, not asserted
//! as wall-clock).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use portolan_fingerprint::engine::{read_reply, Stop};
use portolan_fingerprint::{detect, Options, ProbeDb};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn db() -> &'static ProbeDb {
    static DB: OnceLock<ProbeDb> = OnceLock::new();
    DB.get_or_init(|| ProbeDb::embedded().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn matcher_never_panics_on_binary(reply in proptest::collection::vec(any::<u8>(), 0..2048), sel in any::<u8>()) {
        let db = db();
        let probe = &db.probes[sel as usize % db.probes.len()].name;
        if let Some(m) = db.match_reply(probe, &reply, None) {
            prop_assert!(m.product.iter().chain(m.version.iter()).chain(m.info.iter()).all(|s| s.len() <= 200));
            prop_assert!(m.version.iter().all(|v| v.bytes().all(|b| (0x20..0x7f).contains(&b))));
        }
    }

    #[test]
    fn matcher_on_protocol_shaped_garbage(
        prefix in prop::sample::select(vec![
            &b"SSH-2.0-"[..], b"HTTP/1.1 200 OK\r\n", b"220 ", b"* OK ", b"+OK ", b"\x30\x84",
            b"E\x00\x00", b"R\x00\x00\x00", b"VERSION ", b"\x20\x02", b"\x05",
        ]),
        tail in proptest::collection::vec(any::<u8>(), 0..1024),
    ) {
        let mut reply = prefix.to_vec();
        reply.extend_from_slice(&tail);
        for p in &db().probes {
            let _ = db().match_reply(&p.name, &reply, None);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn probe_files_never_panic(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("Probe TCP X q|GET /\\r\\n|".to_string()),
                Just("match x m|^a(b)|s p/$1/ v/$2/ cpe:/a:x:$1/a".to_string()),
                Just("softmatch y m=^\\0{=".to_string()),
                Just("ports 1-2,x".to_string()),
                Just("rarity 99".to_string()),
                "[ -~]{0,40}",
            ],
            0..12,
        )
    ) {
        let text = lines.join("\n");
        if let Ok(db) = portolan_fingerprint::nmap::parse(&text, "prop") {
            for p in &db.probes {
                let _ = db.match_reply(&p.name, b"ab\x00\xff", None);
            }
        }
        let _ = ProbeDb::from_toml(&text);
    }
}

#[test]
fn huge_replies_are_matched_in_bounded_work() {
    // 4 MiB of header-like lines and of one unbroken line: the regex engine is linear, so
    // this completes; the engine never reads this much anyway (max_reply).
    let mut lines = b"HTTP/1.1 200 OK\r\n".to_vec();
    while lines.len() < 4 << 20 {
        lines.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let m = db().match_reply("http-get", &lines, None).unwrap();
    assert_eq!(m.service, "http");
    let one_line = vec![b'A'; 4 << 20];
    assert!(db().match_reply("http-get", &one_line, None).is_none());
}

async fn server(behaviour: fn(tokio::net::TcpStream) -> tokio::task::JoinHandle<()>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            behaviour(s);
        }
    });
    addr
}

fn quick() -> Options {
    let mut o = Options::new().unwrap();
    o.banner_wait = Duration::from_millis(200);
    o.banner_wait_likely = Duration::from_millis(100);
    o.probe_wait = Duration::from_millis(200);
    o.idle_gap = Duration::from_millis(50);
    o.intensity = 3;
    o.max_reply = 8192;
    o
}

#[tokio::test]
async fn never_ending_binary_stream_is_cut_at_the_cap() {
    let addr = server(|mut s| {
        tokio::spawn(async move {
            let junk: Vec<u8> = (0..65536u32).map(|i| (i * 7919 % 251) as u8).collect();
            while s.write_all(&junk).await.is_ok() {}
        })
    })
    .await;
    let o = quick();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (b, stop) = read_reply(
        &mut s,
        Duration::from_secs(10),
        o.idle_gap,
        o.max_reply,
        |_| false,
    )
    .await;
    assert_eq!((b.len(), stop), (o.max_reply, Stop::Cap));
    let r = detect(addr, &o).await;
    assert_eq!(r.state, "open");
    assert!(r.banner.unwrap().chars().count() <= 512);
}

#[tokio::test]
async fn slow_drip_banner_is_cut_by_the_deadline() {
    let addr = server(|mut s| {
        tokio::spawn(async move {
            for c in b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n"
                .iter()
                .cycle()
                .take(10_000)
            {
                if s.write_all(&[*c]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        })
    })
    .await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (b, stop) = read_reply(
        &mut s,
        Duration::from_millis(400),
        Duration::from_millis(200),
        1 << 20,
        |_| false,
    )
    .await;
    assert_eq!(stop, Stop::Deadline);
    assert!(b.len() < 40);
}

#[tokio::test]
async fn server_that_reads_forever_and_never_answers_is_open_and_unnamed_by_rules() {
    let addr = server(|mut s| {
        tokio::spawn(async move {
            let mut b = [0u8; 1024];
            while s.read(&mut b).await.is_ok_and(|n| n > 0) {}
        })
    })
    .await;
    let r = detect(addr, &quick()).await;
    assert_eq!(r.state, "open");
    assert!(r.banner.is_none());
    assert!(r.findings.is_empty());
    assert_ne!(r.confidence, portolan_fingerprint::Confidence::Matched);
}

#[tokio::test]
async fn server_that_resets_immediately_is_handled() {
    let addr = server(|s| {
        tokio::spawn(async move {
            drop(s);
        })
    })
    .await;
    let r = detect(addr, &quick()).await;
    assert_eq!(r.state, "open");
    assert!(r.name.is_none() || r.confidence != portolan_fingerprint::Confidence::Matched);
}

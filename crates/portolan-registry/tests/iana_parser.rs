//! The CSV parser on crafted inputs: every quirk of the export.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use portolan_registry::iana::{kind, parse, proto, split_records};

const HEADER: &str = "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\r\n";

#[test]
fn quoted_multiline_and_doubled_quotes() {
    let text = format!(
        "{HEADER}whois++,63,tcp,whois++,[A],[A],,,,,,\"This entry is an alias to \"\"whoispp\"\".\r\nSecond line, with a comma.\"\r\nssh,22,tcp,The Secure Shell (SSH) Protocol,,,,,[RFC4251],,,\r\n"
    );
    let r = parse(&text).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].kind, kind::ALIAS);
    assert_eq!(
        r[0].text[9],
        "This entry is an alias to \"whoispp\".\nSecond line, with a comma."
    );
    assert_eq!(r[1].line, 4, "line numbers count the embedded newline");
    assert_eq!(r[1].port, Some((22, 22)));
    assert_eq!(r[1].proto, proto::TCP);
}

#[test]
fn ranges_empty_protocol_unassigned_reserved_name_only() {
    let text = format!(
        "{HEADER},0,tcp,Reserved,,,,,,,,\n,4,,Unassigned,,,,,,,,\n,1-2,,unassigned,,,,,,,,\nx11,6000-6063,tcp,X Window System,,,,,,,,\nargus,,,ARGUS Protocol,,,,,,,,\n,10,udp,De-registered,,,,,,,,\n"
    );
    let r = parse(&text).unwrap();
    assert_eq!(r[0].kind, kind::RESERVED);
    assert_eq!(r[1].kind, kind::UNASSIGNED);
    assert_eq!(r[1].proto, proto::NONE);
    assert_eq!(r[2].port, Some((1, 2)));
    assert_eq!(r[3].port, Some((6000, 6063)));
    assert_eq!(r[3].kind, kind::ASSIGNED);
    assert_eq!(r[4].kind, kind::NAME_ONLY);
    assert_eq!(r[4].port, None);
    assert_eq!(r[5].kind, kind::OTHER);
}

#[test]
fn bad_inputs_say_where_and_what() {
    let e = parse("").unwrap_err().to_string();
    assert!(e.contains("empty"), "{e}");
    let e = parse(&format!("{HEADER}x,70000,tcp,d,,,,,,,,\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("70000"), "{e}");
    let e = parse(&format!("{HEADER}x,9-3,tcp,d,,,,,,,,\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("backwards"), "{e}");
    let e = parse(&format!("{HEADER}x,9,quic,d,,,,,,,,\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("quic"), "{e}");
    let e = parse(&format!("{HEADER}x,9,tcp,d\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("columns"), "{e}");
    let e = parse(&format!("{HEADER}x,9,tcp,\"never closed,,,,,,,,\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("never closed"), "{e}");
}

#[test]
fn split_handles_bom_crlf_and_missing_final_newline() {
    let r = split_records("\u{feff}a,b\r\nc,\"d\"").unwrap();
    assert_eq!(
        r,
        vec![
            (1, vec!["a".into(), "b".into()]),
            (2, vec!["c".into(), "d".into()])
        ]
    );
}

//! TLS to a real PostgreSQL server: a private cluster of its own (initdb, as
//! `.ci/services/store.sh` does, but listening on a loopback address with `ssl = on`), a CA
//! and a server certificate made here with the openssl command. Then: `verify-full` with the
//! right CA connects and stores a scan; `verify-ca` too; a wrong CA is refused with a message
//! that names the certificate problem; `require` against the server with `ssl = off` fails
//! clearly; a password in the URL is never printed; a user the server admits by client
//! certificate only (`cert` in pg_hba.conf) connects with `sslcert`/`sslkey` and is refused
//! without them, with a certificate of another CA, or with a key others can read; an
//! encrypted key (both of OpenSSL's formats) opens with `sslpassword`;
//! `sslrootcert=system` checks against the system's CA store (here `SSL_CERT_FILE`).
//!
//! Needs root (the cluster runs as `postgres`), the PostgreSQL server package and openssl;
//! skipped with a message without them, except under CI (`CI=true`), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on bad fixtures

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use portolan_model::{EventSink, PortEvent, PortState, Protocol, Reason, ScanStart};
use portolan_store::{Store, Targets};

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn skip(why: &str) {
    assert!(
        !in_ci(),
        "the PostgreSQL TLS test cannot run under CI: {why}"
    );
    eprintln!("skipping the PostgreSQL TLS test: {why}");
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The server's bin directory (the newest installed).
fn pg_bin() -> Option<PathBuf> {
    let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    bins.sort_by_key(|b| {
        b.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    bins.pop()
}

/// A CA (`NAME.crt`, `NAME.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN=portolan test {name}"))
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt"))));
}

/// `NAME.crt`/`NAME.key` with the subject `subject` and the extensions `ext` (an openssl
/// extension file's lines), signed by the CA `ca`.
fn make_leaf(dir: &Path, ca: &str, name: &str, subject: &str, ext: &str) {
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ])
        .args(["-subj", subject])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.csr"))));
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "2"])
        .arg("-in")
        .arg(dir.join(format!("{name}.csr")))
        .arg("-CA")
        .arg(dir.join(format!("{ca}.crt")))
        .arg("-CAkey")
        .arg(dir.join(format!("{ca}.key")))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(dir.join(format!("{name}.ext")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt"))));
}

/// `server.crt`/`server.key` for `ip`, signed by the CA `ca`.
fn make_server_cert(dir: &Path, ca: &str, ip: &str) {
    make_leaf(
        dir,
        ca,
        "server",
        "/CN=portolan test server",
        &format!(
            "subjectAltName=IP:{ip},DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        ),
    );
}

/// A client certificate `NAME.crt`/`NAME.key` for the database user `user`, signed by `ca`.
fn make_client_cert(dir: &Path, ca: &str, name: &str, user: &str) {
    make_leaf(
        dir,
        ca,
        name,
        &format!("/CN={user}"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=clientAuth\n",
    );
}

/// A private cluster, stopped (by its own pg_ctl) and removed when dropped.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["stop", "-m", "immediate"])
            .output();
    }
}

const IP: &str = "127.14.14.1";

fn start_cluster(bin: PathBuf) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_ca(d, "ca");
    make_ca(d, "other-ca");
    make_server_cert(d, "ca", IP);
    // Client certificates live apart (owned by root, as the test's user).
    let clients = d.join("clients");
    std::fs::create_dir(&clients).unwrap();
    make_client_cert(&clients, "../ca", "certuser", "certuser");
    make_client_cert(&clients, "../other-ca", "stranger", "certuser");
    run(Command::new("chown").arg("-R").arg("postgres:").arg(d));
    run(Command::new("chown").arg("-R").arg("root:").arg(&clients));
    for k in ["certuser.key", "stranger.key"] {
        run(Command::new("chmod").arg("600").arg(clients.join(k)));
    }
    run(Command::new("chmod").arg("700").arg(d));
    run(Command::new("chmod").arg("600").arg(d.join("server.key")));
    let data = d.join("data");
    run(Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]));
    // A free port on our loopback address (the server binds it right after).
    let port = TcpListener::bind((IP, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // TLS in the configuration file (not on the command line, which would win over the
    // ALTER SYSTEM that turns it off later).
    let conf = data.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(&format!(
        "\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nssl_ca_file = '{}'\n",
        d.join("server.crt").display(),
        d.join("server.key").display(),
        d.join("ca.crt").display()
    ));
    std::fs::write(&conf, text).unwrap();
    // The user certuser logs in with a client certificate only (the first line that matches
    // wins; the client's address over loopback is 127.0.0.1).
    let hba = data.join("pg_hba.conf");
    let rest = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(
        &hba,
        format!(
            "hostssl all certuser 127.0.0.1/32 cert\nhost all certuser 127.0.0.1/32 reject\n{rest}"
        ),
    )
    .unwrap();
    let opts = format!(
        "-c listen_addresses={IP} -c port={port} -c unix_socket_directories={} -c fsync=off",
        d.display(),
    );
    run(Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(d.join("server.log"))
        .args(["-w", "-t", "60", "-o", &opts, "start"])
        .stdin(std::process::Stdio::null()));
    Cluster {
        bin,
        data,
        port,
        _dir: dir,
    }
}

/// Run SQL statements as the superuser, over the cluster's Unix socket.
fn psql(c: &Cluster, statements: &[&str]) {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"])
        .arg(c.bin.join("psql"))
        .args(["-q", "-h"])
        .arg(c.data.parent().unwrap())
        .args(["-p", &c.port.to_string(), "-U", "postgres"]);
    for sql in statements {
        cmd.args(["-c", sql]);
    }
    run(&mut cmd);
}

fn url(c: &Cluster, query: &str) -> String {
    format!(
        "postgres://postgres:s3cret-pw@{IP}:{}/postgres?{query}",
        c.port
    )
}

/// Store one scan of one open port; read it back.
fn store_a_scan(url: &str) {
    let store = Store::open(Some(url)).unwrap_or_else(|e| panic!("{url}: {e}"));
    let mut sink = store.sink(Targets("192.0.2.0/24".into()));
    sink.start(&ScanStart {
        args: "portolan scan 192.0.2.0/24 -p 443".into(),
        num_ports: 1,
        ports: "443".into(),
        proto: Protocol::Tcp,
        resumed_from: None,
        scan_type: "connect".into(),
        scanner: "portolan".into(),
        seed: 1,
        shard: "0/1".into(),
        targets: 256,
        time: UNIX_EPOCH + Duration::from_secs(1000),
        version: "0".into(),
    })
    .unwrap();
    let ev = PortEvent {
        addr: "192.0.2.9".parse().unwrap(),
        port: 443,
        proto: Protocol::Tcp,
        state: PortState::Open,
        reason: Reason::SynAck,
        rtt: None,
        ttl: None,
        service: None,
    };
    sink.port(&ev, UNIX_EPOCH + Duration::from_secs(1001))
        .unwrap();
    sink.flush().unwrap();
    let id = sink.scan_id().unwrap();
    drop(sink);
    let got = Store::open(Some(url)).unwrap().scan(id).unwrap();
    assert_eq!(got.hosts.len(), 1);
    assert_eq!(got.hosts[0].ports, vec![ev]);
}

fn open_err(url: &str) -> String {
    Store::open(Some(url))
        .map(|_| ())
        .expect_err("the connection must be refused")
        .to_string()
}

#[test]
fn tls_to_a_real_server_as_libpq_does_it() {
    // libpq's variables would change what the URLs below mean.
    if std::env::var_os("PGSSLMODE").is_some() || std::env::var_os("PGSSLROOTCERT").is_some() {
        return skip("PGSSLMODE or PGSSLROOTCERT is set");
    }
    // Root (the cluster runs as postgres), the server package, openssl.
    if !Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    {
        return skip("not root (the cluster runs as the postgres user)");
    }
    let Some(bin) = pg_bin() else {
        return skip("no PostgreSQL server installed (package postgresql)");
    };
    if Command::new("openssl").arg("version").output().is_err() {
        return skip("no openssl command");
    }
    let c = start_cluster(bin);
    let dir = c.data.parent().unwrap().to_path_buf();
    let ca = dir.join("ca.crt").display().to_string();
    let other = dir.join("other-ca.crt").display().to_string();

    // The right CA: connects, and a scan is stored and read back.
    store_a_scan(&url(&c, &format!("sslmode=verify-full&sslrootcert={ca}")));
    store_a_scan(&url(&c, &format!("sslmode=verify-ca&sslrootcert={ca}")));
    // Encrypted without checking (require, and the default: prefer).
    store_a_scan(&url(&c, "sslmode=require"));
    store_a_scan(&url(&c, ""));

    // A CA that did not sign the server's certificate: refused, saying why.
    let e = open_err(&url(
        &c,
        &format!("sslmode=verify-full&sslrootcert={other}"),
    ));
    assert!(
        e.contains("certificate") && e.contains("UnknownIssuer"),
        "the message names the certificate problem: {e}"
    );
    assert!(!e.contains("s3cret-pw"), "the password is not printed: {e}");
    assert!(e.contains("postgres:***@"), "{e}");
    let e = open_err(&url(&c, &format!("sslmode=verify-ca&sslrootcert={other}")));
    assert!(e.contains("UnknownIssuer"), "{e}");
    // verify-full checks the name too: reached at its address under a name the certificate
    // does not carry, it is refused; verify-ca does not check the name.
    let other_name = |mode: &str| {
        format!(
            "postgres://postgres:s3cret-pw@db.invalid:{}/postgres?hostaddr={IP}&sslmode={mode}\
             &sslrootcert={ca}",
            c.port
        )
    };
    let e = open_err(&other_name("verify-full"));
    assert!(e.contains("not valid for name \"db.invalid\""), "{e}");
    store_a_scan(&other_name("verify-ca"));
    // A missing root file: refused before connecting, naming the file.
    let e = open_err(&url(
        &c,
        &format!("sslmode=verify-full&sslrootcert={}/none.crt", dir.display()),
    ));
    assert!(e.contains("none.crt"), "{e}");
    assert!(!e.contains("s3cret-pw"), "{e}");

    // sslrootcert=system: the system's CA store, here pointed at the test's CA through
    // SSL_CERT_FILE (which rustls-native-certs reads first, as OpenSSL does); verify-full by
    // default. With the other CA as the system's store, the server's certificate is refused.
    let saved = std::env::var_os("SSL_CERT_FILE");
    std::env::set_var("SSL_CERT_FILE", &ca);
    store_a_scan(&url(&c, "sslrootcert=system"));
    std::env::set_var("SSL_CERT_FILE", &other);
    let e = open_err(&url(&c, "sslrootcert=system"));
    assert!(e.contains("UnknownIssuer"), "{e}");
    let e = open_err(&url(&c, "sslrootcert=system&sslmode=require"));
    assert!(e.contains("needs sslmode=verify-full"), "{e}");
    match saved {
        Some(v) => std::env::set_var("SSL_CERT_FILE", v),
        None => std::env::remove_var("SSL_CERT_FILE"),
    }

    // Client certificates (pg_hba `cert` for the user certuser).
    psql(
        &c,
        &[
            "CREATE ROLE certuser LOGIN",
            "CREATE DATABASE certdb OWNER certuser",
        ],
    );
    let clients = dir.join("clients");
    let as_certuser = |query: &str| {
        format!(
            "postgres://certuser@{IP}:{}/certdb?sslmode=verify-full&sslrootcert={ca}{query}",
            c.port
        )
    };
    let cert = |name: &str| {
        format!(
            "&sslcert={}&sslkey={}",
            clients.join(format!("{name}.crt")).display(),
            clients.join(format!("{name}.key")).display()
        )
    };
    // The right certificate: the server takes it as certuser's login; a scan is stored.
    store_a_scan(&as_certuser(&cert("certuser")));
    // Without one, the server refuses certuser.
    let e = open_err(&as_certuser(""));
    assert!(
        e.contains("requires a valid client certificate") && e.contains("check sslcert and sslkey"),
        "the server asks for a certificate, and the hint says where to give it: {e}"
    );
    // A certificate from a CA the server does not trust is refused.
    let e = open_err(&as_certuser(&cert("stranger")));
    assert!(
        e.contains("UnknownCA") && e.contains("check sslcert and sslkey"),
        "{e}"
    );
    // A key others can read is refused before connecting, as libpq does; the certificate
    // without its key, or a key without a certificate, too.
    let key = clients.join("certuser.key");
    run(Command::new("chmod").arg("644").arg(&key));
    let e = open_err(&as_certuser(&cert("certuser")));
    assert!(e.contains("group or world access"), "{e}");
    run(Command::new("chmod").arg("600").arg(&key));
    let e = open_err(&as_certuser(&format!("&sslkey={}", key.display())));
    assert!(e.contains("without a certificate"), "{e}");
    let e = open_err(&as_certuser(&format!(
        "&sslcert={}&sslkey={}/none.key",
        clients.join("certuser.crt").display(),
        clients.display()
    )));
    assert!(e.contains("none.key"), "{e}");
    // The key of another certificate does not go with this one.
    let e = open_err(&as_certuser(&format!(
        "&sslcert={}&sslkey={}",
        clients.join("certuser.crt").display(),
        clients.join("stranger.key").display()
    )));
    assert!(
        e.contains("cannot be used") && e.contains("KeyMismatch"),
        "{e}"
    );

    // An encrypted key opens with its passphrase (sslpassword, percent-encoded): as OpenSSL 3
    // writes it (PKCS#8, PBES2, AES-256-CBC) and in OpenSSL's older format (`EC PRIVATE KEY`
    // with Proc-Type/DEK-Info, AES-256-CBC). Without it, or with another, the message says
    // what to do, and the passphrase is never printed.
    let pkcs8_key = clients.join("certuser.p8enc.key");
    run(Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:s3cret key",
        ])
        .arg("-in")
        .arg(&key)
        .arg("-out")
        .arg(&pkcs8_key));
    let older_key = clients.join("certuser.ecenc.key");
    run(Command::new("openssl")
        .args(["ec", "-aes256", "-passout", "pass:s3cret key"])
        .arg("-in")
        .arg(&key)
        .arg("-out")
        .arg(&older_key));
    for k in [&pkcs8_key, &older_key] {
        run(Command::new("chmod").arg("600").arg(k));
        let with = |pw: &str| {
            as_certuser(&format!(
                "&sslcert={}&sslkey={}{pw}",
                clients.join("certuser.crt").display(),
                k.display()
            ))
        };
        store_a_scan(&with("&sslpassword=s3cret%20key"));
        let e = open_err(&with(""));
        assert!(
            e.contains("is encrypted") && e.contains("sslpassword="),
            "{e}"
        );
        let e = open_err(&with("&sslpassword=s3cret%20lock"));
        assert!(e.contains("sslpassword is not its passphrase"), "{e}");
        assert!(!e.contains("s3cret"), "the passphrase is not printed: {e}");
    }

    // The server without TLS: require fails clearly; prefer and disable connect.
    psql(
        &c,
        &["ALTER SYSTEM SET ssl = off", "SELECT pg_reload_conf()"],
    );
    std::thread::sleep(Duration::from_millis(500));
    let e = open_err(&url(&c, "sslmode=require"));
    assert!(e.contains("does not support TLS"), "{e}");
    assert!(!e.contains("s3cret-pw"), "{e}");
    store_a_scan(&url(&c, "sslmode=prefer"));
    store_a_scan(&url(&c, "sslmode=disable"));
}

//! TLS to a PostgreSQL store, as libpq does it: `sslmode` (`disable`, `prefer` — the default —,
//! `require`, `verify-ca`, `verify-full`) and `sslrootcert=PATH` in the URL's query, else the
//! `PGSSLMODE` and `PGSSLROOTCERT` environment variables, over rustls (tokio-postgres-rustls).
//!
//! - `disable`: plain text. `prefer`: TLS if the server offers it, else plain text; the
//!   certificate is not checked. `require`: TLS or no connection; the certificate is not
//!   checked, unless a root certificate is given (`sslrootcert`, or `~/.postgresql/root.crt`
//!   exists), when it is checked as by `verify-ca` (as libpq does).
//! - `verify-ca`: TLS, and the server's certificate must be signed by a CA of `sslrootcert`
//!   (default `~/.postgresql/root.crt`). `verify-full`: that, and the certificate must name
//!   the host of the URL.
//! - `sslrootcert=system` (libpq 16): the operating system's trusted CAs
//!   (`SSL_CERT_FILE`/`SSL_CERT_DIR`, else the platform's store). `sslmode` is then
//!   `verify-full` unless given, and a weaker mode is refused: any public CA could otherwise
//!   vouch for any name.
//! - A Unix socket never uses TLS (neither libpq nor the server does it on one); its
//!   `sslmode` is ignored.
//! - A client certificate for the server's `cert` authentication (or `clientcert=verify-*` in
//!   `pg_hba.conf`): `sslcert=PATH` and `sslkey=PATH` (else `PGSSLCERT`, `PGSSLKEY`, else
//!   libpq's `~/.postgresql/postgresql.crt` and `.key` when the certificate file exists). As
//!   libpq, a key readable by the group or others is refused (at most 0600, or 0640 when
//!   owned by root). An encrypted key opens with `sslpassword=PASSPHRASE`
//!   ([`crate::client_key`]: OpenSSL's PKCS#8 and older PEM encryption).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::db::DbError;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Result<SslMode, DbError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(DbError(format!(
                    "sslmode={s:?} is not a TLS mode: write disable, prefer, require, verify-ca \
                     or verify-full"
                )))
            }
        })
    }
}

/// A URL's TLS settings, split off the rest of it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The URL without `sslmode`, `sslrootcert`, `sslcert` and `sslkey` (what tokio-postgres
    /// parses).
    pub url: String,
    pub mode: SslMode,
    pub rootcert: Option<PathBuf>,
    /// The client certificate (chain) and its key, as given.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// The key's passphrase (`sslpassword`), when it is encrypted.
    pub password: Option<Passphrase>,
}

/// A passphrase (its bytes, as given percent-encoded), never shown (`Debug` prints `***`).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Passphrase(pub Vec<u8>);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// `%XX` escapes decoded (a URL's query value).
fn percent_decode(s: &str) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s)).into_owned()
}

/// `%XX` escapes decoded, as bytes (a passphrase need not be UTF-8).
fn percent_decode_bytes(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(v as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Split `sslmode` and `sslrootcert` off `url`; `env` reads `PGSSLMODE` / `PGSSLROOTCERT` for
/// what the URL does not say.
pub(crate) fn settings(
    url: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Settings, DbError> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (mut mode, mut rootcert, mut cert, mut key) = (None, None, None, None);
    let mut password = None;
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = Some(percent_decode(v)),
            Some(("sslrootcert", v)) => rootcert = Some(percent_decode(v)),
            Some(("sslcert", v)) => cert = Some(percent_decode(v)),
            Some(("sslkey", v)) => key = Some(percent_decode(v)),
            Some(("sslpassword", v)) => password = Some(Passphrase(percent_decode_bytes(v))),
            _ if pair.is_empty() => {}
            _ => kept.push(pair),
        }
    }
    let path = |given: Option<String>, var: &str| {
        given
            .or_else(|| env(var))
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    };
    let (cert, key) = (path(cert, "PGSSLCERT"), path(key, "PGSSLKEY"));
    let rootcert = rootcert
        .or_else(|| env("PGSSLROOTCERT"))
        .filter(|r| !r.is_empty())
        .map(PathBuf::from);
    let system = rootcert.as_deref().is_some_and(is_system);
    let mode = match mode.or_else(|| env("PGSSLMODE")).filter(|m| !m.is_empty()) {
        Some(m) => SslMode::parse(&m)?,
        None if system => SslMode::VerifyFull,
        None => SslMode::Prefer,
    };
    if system && mode != SslMode::VerifyFull {
        return Err(DbError(
            "sslrootcert=system needs sslmode=verify-full (with the system's CAs, a weaker \
             mode would accept a certificate any public CA issued for any name): drop sslmode \
             or write sslmode=verify-full"
                .into(),
        ));
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok(Settings {
        url,
        mode,
        rootcert,
        cert,
        key,
        password,
    })
}

/// libpq's default root certificate file, `~/.postgresql/root.crt`.
fn default_rootcert() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".postgresql/root.crt"))
}

/// A client certificate chain and its key.
pub(crate) struct Identity {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        write!(f, "Identity({} certificates)", self.certs.len())
    }
}

/// The client certificate to present: `cert` (else libpq's `~/.postgresql/postgresql.crt`
/// when it exists) with `key` (else `~/.postgresql/postgresql.key`). None when neither is
/// given and the default certificate does not exist; a given file that cannot be read, a key
/// that is missing or readable by others, is an error before connecting.
pub(crate) fn identity(
    cert: Option<&Path>,
    key: Option<&Path>,
    password: Option<&[u8]>,
) -> Result<Option<Identity>, DbError> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
    let default = |name: &str| {
        home.as_ref()
            .map(|h| Path::new(h).join(".postgresql").join(name))
    };
    let cert = match cert {
        Some(c) => c.to_path_buf(),
        None => match default("postgresql.crt").filter(|p| p.is_file()) {
            Some(c) => c,
            None => {
                if let Some(k) = key {
                    return Err(DbError(format!(
                        "sslkey={} is given without a certificate: add sslcert=PATH (the \
                         client certificate the key belongs to)",
                        k.display()
                    )));
                }
                return Ok(None);
            }
        },
    };
    let certs = CertificateDer::pem_file_iter(&cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            DbError(format!(
                "cannot read the client certificate {}: {e}: sslcert must name a PEM file \
                 (-----BEGIN CERTIFICATE-----)",
                cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(DbError(format!(
            "the client certificate file {} holds no certificate (PEM, -----BEGIN \
             CERTIFICATE-----)",
            cert.display()
        )));
    }
    let key = match key {
        Some(k) => k.to_path_buf(),
        None => default("postgresql.key").ok_or_else(|| {
            DbError(format!(
                "the client certificate {} needs its key: add sslkey=PATH",
                cert.display()
            ))
        })?,
    };
    key_permissions(&key)?;
    let der = read_key(&key, &cert, password)?;
    Ok(Some(Identity { certs, key: der }))
}

/// The client key in the file `key` (of the certificate `cert`), opened with `password` when
/// it is encrypted ([`crate::client_key`]); at most [`crate::client_key::KEY_FILE_MAX`] bytes
/// are read.
fn read_key(
    key: &Path,
    cert: &Path,
    password: Option<&[u8]>,
) -> Result<PrivateKeyDer<'static>, DbError> {
    use crate::client_key::{self, KeyError, KEY_FILE_MAX};
    use std::io::Read;
    let mut pem = Vec::new();
    std::fs::File::open(key)
        .and_then(|f| f.take(KEY_FILE_MAX + 1).read_to_end(&mut pem))
        .map_err(|e| DbError(format!("cannot read the client key {}: {e}", key.display())))?;
    if pem.len() as u64 > KEY_FILE_MAX {
        return Err(DbError(format!(
            "the client key {} is over {} KiB: sslkey must name a PEM private key (a few \
             kilobytes)",
            key.display(),
            KEY_FILE_MAX / 1024
        )));
    }
    let k = key.display();
    client_key::parse(&pem, password).map_err(|e| {
        DbError(match e {
            KeyError::NeedsPassword => format!(
                "the client key {k} is encrypted: give its passphrase as sslpassword=... in the \
                 URL's query (percent-encoded), or decrypt the key (openssl pkey -in {k} -out \
                 PLAIN.key)"
            ),
            KeyError::WrongPassword => {
                format!("cannot decrypt the client key {k}: sslpassword is not its passphrase")
            }
            KeyError::Unsupported(what) => format!(
                "the client key {k} is encrypted with {what}: re-encrypt it as OpenSSL 3 does \
                 (openssl pkcs8 -topk8 -v2 aes-256-cbc -in {k} -out NEW.key)"
            ),
            KeyError::Malformed(what) => format!(
                "cannot read the client key {k}: {what}: sslkey must name the PEM private key \
                 of {} (PKCS#8, PKCS#1 or SEC1, encrypted or not)",
                cert.display()
            ),
        })
    })
}

/// libpq's rule for a private key file: no access for others, and none for the group unless
/// the file is owned by root (read at most: 0640).
fn key_permissions(key: &Path) -> Result<(), DbError> {
    let meta = std::fs::metadata(key).map_err(|e| {
        DbError(format!(
            "cannot read the client key {}: {e}: sslkey must name the client certificate's \
             private key",
            key.display()
        ))
    })?;
    if !meta.is_file() {
        return Err(DbError(format!(
            "the client key {} is not a regular file",
            key.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let mode = meta.mode() & 0o777;
        let allowed = if meta.uid() == 0 { 0o640 } else { 0o600 };
        if mode & !allowed != 0 {
            return Err(DbError(format!(
                "the client key {} has group or world access (mode {mode:04o}): it must be \
                 u=rw (0600) or less, or u=rw,g=r (0640) or less when owned by root; run \
                 chmod 600 on it",
                key.display()
            )));
        }
    }
    Ok(())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `sslrootcert=system`: the operating system's CA store, not a file.
fn is_system(path: &Path) -> bool {
    path.as_os_str() == "system"
}

/// The operating system's trusted CA certificates.
fn system_roots() -> Result<RootCertStore, DbError> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(DbError(format!(
            "sslrootcert=system found no CA certificate in the system's store{why}: install \
             the ca-certificates package, set SSL_CERT_FILE to a PEM bundle, or give \
             sslrootcert=PATH"
        )));
    }
    Ok(store)
}

/// The CA certificates of a PEM file (or the system's, for `system`).
fn roots(path: &Path) -> Result<RootCertStore, DbError> {
    let shown = path.display();
    if is_system(path) {
        return system_roots();
    }
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            DbError(format!(
                "cannot read the root certificates {shown}: {e}: sslrootcert must name a PEM \
                 file of CA certificates"
            ))
        })?;
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(DbError(format!(
            "the root certificate file {shown} holds no usable CA certificate (PEM, \
             -----BEGIN CERTIFICATE-----)"
        )));
    }
    Ok(store)
}

/// Accepts any certificate (`prefer`, `require` without a root certificate: libpq checks
/// none), but still checks that the server holds its key (the handshake's signatures).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a given CA; the name in the certificate is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The rustls configuration of a mode: what is checked of the server's certificate.
fn client_config(
    mode: SslMode,
    rootcert: Option<&Path>,
    identity: Option<Identity>,
) -> Result<rustls::ClientConfig, DbError> {
    // The client certificate, when there is one, goes with every mode (as libpq's).
    let auth = |b: rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert>| {
        match identity {
            Some(id) => b.with_client_auth_cert(id.certs, id.key).map_err(|e| {
                DbError(format!(
                    "the client certificate and key cannot be used: {e}: check that sslkey is \
                     the key of sslcert"
                ))
            }),
            None => Ok(b.with_no_client_auth()),
        }
    };
    let provider = provider();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| DbError(format!("cannot set up TLS: {e}")))?;
    // The root certificates: the one given, else libpq's default file if it exists (which
    // `require` then checks against, as libpq does); `verify-*` need one.
    let given = rootcert.map(Path::to_path_buf);
    let root_file = given
        .clone()
        .or_else(|| default_rootcert().filter(|p| p.is_file()));
    let verify = match mode {
        SslMode::VerifyCa | SslMode::VerifyFull => true,
        SslMode::Require => root_file.is_some(),
        _ => false,
    };
    if !verify {
        return auth(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unchecked(provider))),
        );
    }
    let Some(file) = root_file else {
        let default = default_rootcert()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.postgresql/root.crt".into());
        return Err(DbError(format!(
            "sslmode={} checks the server's certificate, but no root certificate was given and \
             {default} does not exist: add sslrootcert=PATH (the CA's PEM file) to the URL or \
             set PGSSLROOTCERT, or use sslmode=require to encrypt without checking",
            if mode == SslMode::VerifyCa {
                "verify-ca"
            } else {
                "verify-full"
            }
        )));
    };
    let roots = Arc::new(roots(&file)?);
    let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
        .build()
        .map_err(|e| DbError(format!("cannot set up TLS with {}: {e}", file.display())))?;
    let config = if mode == SslMode::VerifyFull {
        builder.with_webpki_verifier(webpki)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(webpki)))
    };
    auth(config)
}

/// Connect to the server `url` names, with TLS as its `sslmode` says.
pub(crate) fn connect(url: &str) -> Result<postgres::Client, DbError> {
    let s = settings(url, |k| std::env::var(k).ok())?;
    let mut config: postgres::Config = s.url.parse().map_err(DbError::from)?;
    // TLS only over TCP: a Unix socket never has it (libpq ignores sslmode there).
    let tcp = !config.get_hostaddrs().is_empty()
        || config
            .get_hosts()
            .iter()
            .any(|h| matches!(h, postgres::config::Host::Tcp(_)));
    if s.mode == SslMode::Disable || !tcp {
        config.ssl_mode(postgres::config::SslMode::Disable);
        return config.connect(postgres::NoTls).map_err(DbError::from);
    }
    config.ssl_mode(if s.mode == SslMode::Prefer {
        postgres::config::SslMode::Prefer
    } else {
        postgres::config::SslMode::Require
    });
    let id = identity(
        s.cert.as_deref(),
        s.key.as_deref(),
        s.password.as_ref().map(|p| p.0.as_slice()),
    )?;
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_config(
        s.mode,
        s.rootcert.as_deref(),
        id,
    )?);
    config.connect(tls).map_err(DbError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn tls_options_are_split_off_the_url() {
        let s = settings(
            "postgres://u:pw@db:5432/p?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
            no_env,
        )
        .unwrap();
        assert_eq!(s.url, "postgres://u:pw@db:5432/p?application_name=x");
        assert_eq!(s.mode, SslMode::VerifyFull);
        assert_eq!(s.rootcert, Some(PathBuf::from("/etc/ca.pem")));
        let plain = settings("postgres://db/p", no_env).unwrap();
        assert_eq!(plain.url, "postgres://db/p");
        assert_eq!(plain.mode, SslMode::Prefer, "libpq's default");
        assert_eq!(plain.rootcert, None);
        assert!(settings("postgres://db/p?sslmode=bogus", no_env).is_err());
    }

    #[test]
    fn the_environment_fills_what_the_url_does_not_say() {
        let env = |k: &str| match k {
            "PGSSLMODE" => Some("require".to_string()),
            "PGSSLROOTCERT" => Some("/ca.pem".to_string()),
            _ => None,
        };
        let s = settings("postgres://db/p", env).unwrap();
        assert_eq!(s.mode, SslMode::Require);
        assert_eq!(s.rootcert, Some(PathBuf::from("/ca.pem")));
        // The URL wins.
        let s = settings("postgres://db/p?sslmode=disable", env).unwrap();
        assert_eq!(s.mode, SslMode::Disable);
    }

    #[test]
    fn sslrootcert_system_means_verify_full() {
        let s = settings("postgres://db/p?sslrootcert=system", no_env).unwrap();
        assert_eq!(
            s.mode,
            SslMode::VerifyFull,
            "libpq 16's default with system"
        );
        let s = settings(
            "postgres://db/p?sslrootcert=system&sslmode=verify-full",
            no_env,
        );
        assert_eq!(s.unwrap().mode, SslMode::VerifyFull);
        for weak in ["disable", "prefer", "require", "verify-ca"] {
            let e = settings(
                &format!("postgres://db/p?sslrootcert=system&sslmode={weak}"),
                no_env,
            )
            .unwrap_err();
            assert!(e.0.contains("needs sslmode=verify-full"), "{weak}: {}", e.0);
        }
        // From the environment too.
        let env = |k: &str| (k == "PGSSLROOTCERT").then(|| "system".to_string());
        assert_eq!(
            settings("postgres://db/p", env).unwrap().mode,
            SslMode::VerifyFull
        );
    }

    #[test]
    fn client_certificate_options_are_split_off_too() {
        let s = settings(
            "postgres://u@db/p?sslcert=%2Fc.crt&connect_timeout=5&sslkey=/c.key",
            no_env,
        )
        .unwrap();
        assert_eq!(s.url, "postgres://u@db/p?connect_timeout=5");
        assert_eq!(s.cert, Some(PathBuf::from("/c.crt")));
        assert_eq!(s.key, Some(PathBuf::from("/c.key")));
        let env = |k: &str| match k {
            "PGSSLCERT" => Some("/e.crt".to_string()),
            "PGSSLKEY" => Some("/e.key".to_string()),
            _ => None,
        };
        let s = settings("postgres://u@db/p?sslkey=/u.key", env).unwrap();
        assert_eq!(s.cert, Some(PathBuf::from("/e.crt")));
        assert_eq!(s.key, Some(PathBuf::from("/u.key")), "the URL wins");
        // The key's passphrase: split off, percent-decoded to its bytes (UTF-8 or not), and
        // never shown.
        let s = settings(
            "postgres://u@db/p?sslkey=/u.key&sslpassword=pa%20ss%FF%26&application_name=x",
            no_env,
        )
        .unwrap();
        assert_eq!(s.url, "postgres://u@db/p?application_name=x");
        assert_eq!(s.password, Some(Passphrase(b"pa ss\xff&".to_vec())));
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("pa ss") && !shown.contains("pa%20ss"),
            "{shown}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_client_key_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.crt");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let key = dir.path().join("c.key");
        std::fs::write(&key, "not a key\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o604)).unwrap();
        let e = identity(Some(&cert), Some(&key), None).unwrap_err();
        assert!(e.0.contains("group or world access"), "{}", e.0);
        assert!(e.0.contains("c.key"), "{}", e.0);
        // Private now, but not a key: named as such.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let e = identity(Some(&cert), Some(&key), None).unwrap_err();
        assert!(e.0.contains("cannot read the client key"), "{}", e.0);
        // A certificate file that is not there, or holds no certificate.
        let e = identity(Some(&dir.path().join("none.crt")), Some(&key), None).unwrap_err();
        assert!(e.0.contains("none.crt"), "{}", e.0);
        let e = identity(Some(&key), Some(&key), None).unwrap_err();
        assert!(e.0.contains("holds no certificate"), "{}", e.0);
    }

    #[test]
    fn verify_modes_need_a_root_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let e = client_config(SslMode::VerifyFull, Some(&missing), None).unwrap_err();
        assert!(e.0.contains("none.pem"), "{}", e.0);
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(SslMode::VerifyCa, Some(&empty), None).unwrap_err();
        assert!(e.0.contains("no usable CA certificate"), "{}", e.0);
        // Nothing is checked by prefer: no root needed.
        assert!(client_config(SslMode::Prefer, None, None).is_ok());
    }
}

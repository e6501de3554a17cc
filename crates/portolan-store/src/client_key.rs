//! A PostgreSQL client certificate's private key as libpq reads it (`sslkey`), encrypted or
//! not, opened with libpq's `sslpassword`.
//!
//! - Plain keys: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`).
//! - PKCS#8 encrypted (`ENCRYPTED PRIVATE KEY`): PBES2 with PBKDF2 (HMAC-SHA1/SHA-2) or scrypt,
//!   and AES-128/192/256-CBC. This is what OpenSSL 3 writes (`openssl pkcs8 -topk8`,
//!   `openssl genpkey -aes256`, `openssl genrsa -aes256`).
//! - OpenSSL's older encrypted PEM (`Proc-Type: 4,ENCRYPTED` and `DEK-Info:` headers on an
//!   `RSA`/`EC PRIVATE KEY`): AES-128/192/256-CBC or DES-EDE3-CBC, key from the passphrase by
//!   `EVP_BytesToKey` (MD5, one round, the IV's first 8 bytes as salt). This is what `openssl
//!   genrsa -des3 -traditional`, `openssl ec -aes256` and OpenSSL 1.x write.
//!
//! Other schemes (PBES1, DES-CBC) are refused with how to re-encrypt the key.

use aes::{Aes128, Aes192, Aes256};
use base64ct::{Base64, Encoding};
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, KeyIvInit};
use md5::{Digest, Md5};
use pkcs8::der::{self, Decode, Tag, Tagged};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

/// The largest client key file read: a PEM private key is a few kilobytes.
pub const KEY_FILE_MAX: u64 = 64 * 1024;

/// Why a key file's text gave no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The key is encrypted and no passphrase was given.
    NeedsPassword,
    /// The passphrase does not open the key.
    WrongPassword,
    /// Encrypted with a scheme this build cannot open: which.
    Unsupported(String),
    /// Not a PEM private key: what is wrong.
    Malformed(String),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::NeedsPassword => write!(f, "the key is encrypted and no passphrase is given"),
            KeyError::WrongPassword => write!(f, "the passphrase does not open the key"),
            KeyError::Unsupported(s) => write!(f, "the key is encrypted with {s}"),
            KeyError::Malformed(s) => write!(f, "{s}"),
        }
    }
}

/// One PEM block: its label, its `Name: value` headers (OpenSSL's older encrypted keys) and
/// its body as base64.
struct Block {
    label: String,
    headers: Vec<(String, String)>,
    b64: String,
}

impl Block {
    /// The body, decoded (only an encrypted key's: a plain one is rustls' to read, as before).
    fn body(&self) -> Result<Vec<u8>, KeyError> {
        Base64::decode_vec(&self.b64).map_err(|e| {
            KeyError::Malformed(format!(
                "the PEM block {} is not valid base64 ({e})",
                self.label
            ))
        })
    }
}

/// The first PEM block whose label ends in `PRIVATE KEY`, or None.
fn private_key_block(text: &str) -> Result<Option<Block>, KeyError> {
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        if !label.ends_with("PRIVATE KEY") {
            continue;
        }
        let end = format!("-----END {label}-----");
        let mut headers = Vec::new();
        let mut b64 = String::new();
        let mut in_headers = true;
        let mut closed = false;
        for l in lines.by_ref() {
            if l == end {
                closed = true;
                break;
            }
            if in_headers {
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_string(), v.trim().to_string()));
                    continue;
                }
                in_headers = false;
                if l.is_empty() {
                    continue;
                }
            }
            b64.push_str(l);
        }
        if !closed {
            return Err(KeyError::Malformed(format!(
                "the PEM block {label} has no end line ({end})"
            )));
        }
        return Ok(Some(Block {
            label: label.to_string(),
            headers,
            b64,
        }));
    }
    Ok(None)
}

/// The private key in `pem` (a key file's bytes), decrypted with `password` when it is
/// encrypted. A passphrase given for a key that is not encrypted is ignored, as libpq does.
pub fn parse(pem: &[u8], password: Option<&[u8]>) -> Result<PrivateKeyDer<'static>, KeyError> {
    let text = String::from_utf8_lossy(pem);
    let block = private_key_block(&text)?;
    let Some(block) = block else {
        return Err(KeyError::Malformed(
            "no private key in it (a PEM block -----BEGIN ... PRIVATE KEY-----)".into(),
        ));
    };
    let encrypted_pem = block
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("Proc-Type") && v.ends_with("ENCRYPTED"));
    if block.label == "ENCRYPTED PRIVATE KEY" {
        let password = password.ok_or(KeyError::NeedsPassword)?;
        return pkcs8_encrypted(&block.body()?, password);
    }
    if encrypted_pem {
        let password = password.ok_or(KeyError::NeedsPassword)?;
        return openssl_encrypted(&block, password);
    }
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| KeyError::Malformed(format!("{e} (PKCS#8, PKCS#1 or SEC1 PEM)")))
}

/// A PKCS#8 `EncryptedPrivateKeyInfo` (DER) opened with `password`.
fn pkcs8_encrypted(der: &[u8], password: &[u8]) -> Result<PrivateKeyDer<'static>, KeyError> {
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der).map_err(|e| {
        // PBES1 and PKCS#12's schemes (OpenSSL 1.0's default, `-v1`) do not parse as PBES2.
        match scheme_of(der) {
            Some(oid) => KeyError::Unsupported(format!("the scheme {}", scheme_name(&oid))),
            None => KeyError::Malformed(format!("the ENCRYPTED PRIVATE KEY is not PKCS#8 ({e})")),
        }
    })?;
    let plain = info.decrypt(password).map_err(|e| match e {
        // (pkcs5 0.7 reports a bad padding as EncryptFailed.)
        pkcs8::Error::EncryptedPrivateKey(
            pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed,
        ) => KeyError::WrongPassword,
        // Decrypted (the padding happened to check out) to bytes that are not a key.
        pkcs8::Error::Asn1(_) | pkcs8::Error::KeyMalformed => KeyError::WrongPassword,
        other => KeyError::Unsupported(format!("a scheme this build cannot open ({other})")),
    })?;
    // A wrong passphrase whose padding happens to check out decrypts to noise.
    pkcs8::PrivateKeyInfo::try_from(plain.as_bytes()).map_err(|_| KeyError::WrongPassword)?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

/// The encryption scheme's OID of a DER `EncryptedPrivateKeyInfo` (SEQUENCE { SEQUENCE { OID,
/// ... }, OCTET STRING }), whatever the scheme's parameters.
fn scheme_of(der: &[u8]) -> Option<String> {
    use der::Reader;
    let outer = der::AnyRef::from_der(der).ok()?;
    if outer.tag() != Tag::Sequence {
        return None;
    }
    let mut r = der::SliceReader::new(outer.value()).ok()?;
    let alg: pkcs8::spki::AlgorithmIdentifierRef<'_> = r.decode().ok()?;
    Some(alg.oid.to_string())
}

/// A scheme's OID as OpenSSL names it, where it is one this build does not open.
fn scheme_name(oid: &str) -> String {
    let name = match oid {
        "1.2.840.113549.1.5.3" => "PBES1 pbeWithMD5AndDES-CBC",
        "1.2.840.113549.1.5.10" => "PBES1 pbeWithSHA1AndDES-CBC",
        "1.2.840.113549.1.12.1.3" => "PKCS#12 PBE-SHA1-3DES",
        "1.2.840.113549.1.12.1.6" => "PKCS#12 PBE-SHA1-RC2-40",
        _ => return format!("{oid}, which this build does not open"),
    };
    format!("{name} ({oid}), which this build does not open")
}

/// OpenSSL's key from a passphrase (`EVP_BytesToKey`, MD5, one round): `len` bytes.
fn bytes_to_key(password: &[u8], salt: &[u8], len: usize) -> Vec<u8> {
    let mut key = Vec::with_capacity(len + 16);
    let mut prev: Vec<u8> = Vec::new();
    while key.len() < len {
        let mut h = Md5::new();
        h.update(&prev);
        h.update(password);
        h.update(salt);
        prev = h.finalize().to_vec();
        key.extend_from_slice(&prev);
    }
    key.truncate(len);
    key
}

/// CBC-decrypt `buf` in place with cipher `C`; the plaintext's length.
fn cbc_decrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8]) -> Result<usize, KeyError>
where
    cbc::Decryptor<C>: KeyIvInit + BlockDecryptMut,
    C: cbc::cipher::BlockDecryptMut + cbc::cipher::BlockCipher,
{
    let d = cbc::Decryptor::<C>::new_from_slices(key, iv)
        .map_err(|_| KeyError::Malformed("the DEK-Info IV has the wrong length".into()))?;
    d.decrypt_padded_mut::<Pkcs7>(buf)
        .map(|p| p.len())
        .map_err(|_| KeyError::WrongPassword)
}

/// The ciphers of OpenSSL's older encrypted PEM that this build opens.
enum Cipher {
    Aes128,
    Aes192,
    Aes256,
    TdesEde3,
}

/// An older OpenSSL encrypted PEM key (`Proc-Type: 4,ENCRYPTED`) opened with `password`.
fn openssl_encrypted(block: &Block, password: &[u8]) -> Result<PrivateKeyDer<'static>, KeyError> {
    let dek = block
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("DEK-Info"))
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| KeyError::Malformed("an encrypted PEM key without DEK-Info".into()))?;
    let (cipher, iv_hex) = dek
        .split_once(',')
        .ok_or_else(|| KeyError::Malformed(format!("DEK-Info {dek:?} is not CIPHER,IV")))?;
    let iv = hex(iv_hex.trim())
        .ok_or_else(|| KeyError::Malformed(format!("the DEK-Info IV {iv_hex:?} is not hex")))?;
    // (The cipher, its key's length and its IV's.)
    let (which, key_len, iv_len) = match cipher.trim().to_ascii_uppercase().as_str() {
        "AES-128-CBC" => (Cipher::Aes128, 16, 16),
        "AES-192-CBC" => (Cipher::Aes192, 24, 16),
        "AES-256-CBC" => (Cipher::Aes256, 32, 16),
        "DES-EDE3-CBC" => (Cipher::TdesEde3, 24, 8),
        other => {
            return Err(KeyError::Unsupported(format!(
                "the cipher {other}, which this build does not open"
            )))
        }
    };
    if iv.len() != iv_len {
        return Err(KeyError::Malformed(format!(
            "the DEK-Info IV is {} bytes, {cipher} needs {iv_len}",
            iv.len()
        )));
    }
    let key = bytes_to_key(password, &iv[..8], key_len);
    let mut buf = block.body()?;
    let n = match which {
        Cipher::Aes128 => cbc_decrypt::<Aes128>(&key, &iv, &mut buf)?,
        Cipher::Aes192 => cbc_decrypt::<Aes192>(&key, &iv, &mut buf)?,
        Cipher::Aes256 => cbc_decrypt::<Aes256>(&key, &iv, &mut buf)?,
        Cipher::TdesEde3 => cbc_decrypt::<des::TdesEde3>(&key, &iv, &mut buf)?,
    };
    buf.truncate(n);
    // One DER SEQUENCE, nothing after it, or the passphrase was wrong.
    let whole = der::AnyRef::from_der(&buf).map_err(|_| KeyError::WrongPassword)?;
    if whole.tag() != Tag::Sequence {
        return Err(KeyError::WrongPassword);
    }
    match block.label.as_str() {
        "RSA PRIVATE KEY" => Ok(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(buf))),
        "EC PRIVATE KEY" => Ok(PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(buf))),
        "PRIVATE KEY" => Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(buf))),
        other => Err(KeyError::Unsupported(format!(
            "a {other} block, which this build does not read"
        ))),
    }
}

/// Hex digits as bytes (an even number of them), or None.
fn hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cbc::cipher::BlockEncryptMut;
    use proptest::prelude::*;

    const PW: &[u8] = b"correct horse";

    macro_rules! key {
        ($name:literal) => {
            include_bytes!(concat!("../tests/fixtures/keys/", $name)).as_slice()
        };
    }

    fn plain(pem: &[u8]) -> PrivateKeyDer<'static> {
        parse(pem, None).unwrap()
    }

    #[test]
    fn keys_openssl_encrypted_open_with_their_passphrase() {
        let p8 = plain(key!("ec.p8.pem"));
        let sec1 = plain(key!("ec.sec1.pem"));
        let rsa = plain(key!("rsa.pkcs1.pem"));
        assert!(matches!(p8, PrivateKeyDer::Pkcs8(_)));
        assert!(matches!(sec1, PrivateKeyDer::Sec1(_)));
        assert!(matches!(rsa, PrivateKeyDer::Pkcs1(_)));
        for (file, pem, want) in [
            ("ec.p8.aes256.pem", key!("ec.p8.aes256.pem"), &p8),
            ("ec.p8.aes128-sha1.pem", key!("ec.p8.aes128-sha1.pem"), &p8),
            ("ec.p8.scrypt.pem", key!("ec.p8.scrypt.pem"), &p8),
            ("ec.sec1.aes256.pem", key!("ec.sec1.aes256.pem"), &sec1),
            ("rsa.pkcs1.des3.pem", key!("rsa.pkcs1.des3.pem"), &rsa),
            ("rsa.pkcs1.aes128.pem", key!("rsa.pkcs1.aes128.pem"), &rsa),
        ] {
            assert_eq!(&parse(pem, Some(PW)).unwrap(), want, "{file}");
            assert_eq!(parse(pem, None), Err(KeyError::NeedsPassword), "{file}");
            assert_eq!(
                parse(pem, Some(b"wrong horse")),
                Err(KeyError::WrongPassword),
                "{file}"
            );
        }
        // A passphrase for a plain key is ignored, as libpq does.
        assert_eq!(parse(key!("ec.p8.pem"), Some(PW)).unwrap(), p8);
    }

    #[test]
    fn a_scheme_not_supported_says_so() {
        let e = parse(key!("ec.p8.pbes1.pem"), Some(PW)).unwrap_err();
        assert!(matches!(e, KeyError::Unsupported(_)), "{e:?}");
        let pem =
            String::from_utf8_lossy(key!("ec.sec1.aes256.pem")).replace("AES-256-CBC", "DES-CBC");
        let e = parse(pem.as_bytes(), Some(PW)).unwrap_err();
        assert!(e.to_string().contains("DES-CBC"), "{e}");
    }

    #[test]
    fn what_is_not_a_key_is_named() {
        for (text, says) in [
            ("", "no private key"),
            ("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", "no private key"),
            ("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n", "no end line"),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\n!!!!\n-----END ENCRYPTED PRIVATE KEY-----\n",
                "not valid base64",
            ),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
                "not PKCS#8",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nMAA=\n\
                 -----END RSA PRIVATE KEY-----\n",
                "without DEK-Info",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,XY\n\n\
                 MAA=\n-----END RSA PRIVATE KEY-----\n",
                "not hex",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n\
                 MAA=\n-----END RSA PRIVATE KEY-----\n",
                "needs 16",
            ),
        ] {
            let e = parse(text.as_bytes(), Some(PW)).unwrap_err();
            assert!(e.to_string().contains(says), "{text:?}: {e}");
        }
    }

    /// `der` PKCS#7-padded and CBC-encrypted with cipher `C`.
    fn cbc_encrypt<C>(key: &[u8], iv: &[u8], der: &[u8]) -> Vec<u8>
    where
        cbc::Encryptor<C>: KeyIvInit + BlockEncryptMut,
        C: cbc::cipher::BlockEncryptMut + cbc::cipher::BlockCipher,
    {
        let mut buf = der.to_vec();
        buf.resize(der.len() + 16, 0);
        let n = cbc::Encryptor::<C>::new_from_slices(key, iv)
            .unwrap()
            .encrypt_padded_mut::<Pkcs7>(&mut buf, der.len())
            .unwrap()
            .len();
        buf.truncate(n);
        buf
    }

    fn pem(label: &str, headers: &str, body: &[u8]) -> String {
        let b64 = Base64::encode_string(body);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{headers}{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any bytes, with or without a passphrase: an answer, never a panic.
        #[test]
        fn any_bytes_give_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..600),
                                    pw in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20))) {
            let _ = parse(&bytes, pw.as_deref());
            let framed = pem("RSA PRIVATE KEY", "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,000102030405060708090A0B0C0D0E0F\n\n", &bytes);
            let _ = parse(framed.as_bytes(), pw.as_deref());
            let framed = pem("ENCRYPTED PRIVATE KEY", "", &bytes);
            let _ = parse(framed.as_bytes(), pw.as_deref());
        }

        /// OpenSSL's older format, each cipher, any passphrase and IV: the key comes back, and
        /// another passphrase does not open it.
        #[test]
        fn older_openssl_pem_round_trips(pw in proptest::collection::vec(any::<u8>(), 1..24),
                                         other in proptest::collection::vec(any::<u8>(), 1..24),
                                         iv in proptest::array::uniform16(any::<u8>()),
                                         cipher in 0usize..4) {
            prop_assume!(pw != other);
            let PrivateKeyDer::Sec1(der) = plain(key!("ec.sec1.pem")) else { panic!() };
            let der = der.secret_sec1_der().to_vec();
            let (name, iv) = match cipher {
                0 => ("AES-128-CBC", &iv[..]),
                1 => ("AES-192-CBC", &iv[..]),
                2 => ("AES-256-CBC", &iv[..]),
                _ => ("DES-EDE3-CBC", &iv[..8]),
            };
            let key_len = [16, 24, 32, 24][cipher];
            let key = bytes_to_key(&pw, &iv[..8], key_len);
            let body = match cipher {
                0 => cbc_encrypt::<Aes128>(&key, iv, &der),
                1 => cbc_encrypt::<Aes192>(&key, iv, &der),
                2 => cbc_encrypt::<Aes256>(&key, iv, &der),
                _ => cbc_encrypt::<des::TdesEde3>(&key, iv, &der),
            };
            let iv_hex: String = iv.iter().map(|b| format!("{b:02X}")).collect();
            let text = pem("EC PRIVATE KEY", &format!("Proc-Type: 4,ENCRYPTED\nDEK-Info: {name},{iv_hex}\n\n"), &body);
            let got = parse(text.as_bytes(), Some(&pw)).unwrap();
            prop_assert_eq!(got, PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)));
            prop_assert!(parse(text.as_bytes(), Some(&other)).is_err());
        }

        /// PKCS#8 PBES2 (PBKDF2-SHA256, AES-256-CBC), any passphrase, salt and IV.
        #[test]
        fn pkcs8_encrypted_round_trips(pw in proptest::collection::vec(any::<u8>(), 1..24),
                                       other in proptest::collection::vec(any::<u8>(), 1..24),
                                       salt in proptest::array::uniform16(any::<u8>()),
                                       iv in proptest::array::uniform16(any::<u8>())) {
            prop_assume!(pw != other);
            let PrivateKeyDer::Pkcs8(der) = plain(key!("ec.p8.pem")) else { panic!() };
            let info = pkcs8::PrivateKeyInfo::try_from(der.secret_pkcs8_der()).unwrap();
            let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(1000, &salt, &iv).unwrap();
            let enc = info.encrypt_with_params(params, &pw).unwrap();
            let text = pem("ENCRYPTED PRIVATE KEY", "", enc.as_bytes());
            prop_assert_eq!(parse(text.as_bytes(), Some(&pw)).unwrap(), PrivateKeyDer::Pkcs8(der.clone_key()));
            prop_assert_eq!(parse(text.as_bytes(), Some(&other)), Err(KeyError::WrongPassword));
        }
    }
}

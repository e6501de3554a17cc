//! Importing feed files into a [`VulnStore`]: NVD CVE API 2.0 JSON (files, directories of
//! them, `.gz`), CISA KEV (JSON or CSV) and FIRST EPSS CSV (possibly `.gz`).
//!
//! Each file's kind is recognised from its first bytes (after decompression): a KEV CSV header
//! (`cveID,vendorProject,…`), an EPSS header (`#model_version` or `cve,epss`), KEV JSON (a
//! `"cveID"` key or `"catalogVersion"` early on), else NVD JSON. Files are streamed: NVD records
//! and EPSS rows go to the store in batches of [`BATCH`], so memory is bounded by a batch, not
//! by the file. Every input is capped ([`LIMITS`]): a decompression bomb or `/dev/zero` is an
//! error, and only regular files are read (a FIFO or device is refused).

use crate::db::{StoreError, UpsertCounts, VulnStore};
use crate::feeds::{self, FeedError};
use crate::nvd::{self, NvdError, StreamError};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Records written per transaction.
pub const BATCH: usize = 2000;

/// The most bytes (after decompression) read from one file of each kind.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub nvd: u64,
    pub kev: u64,
    pub epss: u64,
}

/// Defaults: NVD 2 GiB a file (the largest yearly 2.0 feed is a few hundred MiB), KEV 64 MiB
/// (about 1.5 MiB today), EPSS 256 MiB (about 10 MiB today).
pub const LIMITS: Limits = Limits {
    nvd: 2 << 30,
    kev: 64 << 20,
    epss: 256 << 20,
};

/// What kind of feed a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Nvd,
    KevJson,
    KevCsv,
    Epss,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Nvd => "NVD CVE JSON",
            Kind::KevJson => "CISA KEV JSON",
            Kind::KevCsv => "CISA KEV CSV",
            Kind::Epss => "FIRST EPSS CSV",
        }
    }
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path} is not a regular file or directory: give the feed file itself")]
    NotAFile { path: String },
    #[error("{path} is larger than {} MiB once decompressed, the most read for {kind}: is it the right file?", limit >> 20)]
    TooLarge {
        path: String,
        kind: &'static str,
        limit: u64,
    },
    #[error("{path}: {source}")]
    Nvd { path: String, source: NvdError },
    #[error("{path}: {source}")]
    Feed { path: String, source: FeedError },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one file contributed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReport {
    pub path: PathBuf,
    pub kind: Kind,
    /// Records read from the file.
    pub read: u64,
    /// For NVD files, what they did to the store.
    pub cves: UpsertCounts,
}

/// A reader that fails once more than `limit` bytes have come through.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.left = 0;
            return Err(io::Error::other(CAP_HIT));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

const CAP_HIT: &str = "portolan-vuln input cap";

fn is_cap(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|i| i.to_string() == CAP_HIT)
}

/// Open a regular file, transparently gunzipping `.gz` (or anything starting with the gzip
/// magic), capped at `limit` decompressed bytes.
fn open(path: &Path, limit: u64) -> Result<BufReader<Capped<Box<dyn Read>>>, ImportError> {
    let name = path.display().to_string();
    let io_err = |source| ImportError::Io {
        path: name.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(ImportError::NotAFile { path: name });
    }
    let mut f = BufReader::new(File::open(path).map_err(io_err)?);
    let gz = f.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
    let inner: Box<dyn Read> = if gz {
        Box::new(flate2::bufread::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    Ok(BufReader::with_capacity(
        1 << 16,
        Capped {
            inner,
            left: limit.saturating_add(1),
        },
    ))
}

/// Recognise a file's kind from its first (decompressed) bytes.
pub fn sniff(head: &[u8]) -> Kind {
    let text = String::from_utf8_lossy(head);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    if t.starts_with("cveID,") || t.starts_with("\"cveID\",") {
        Kind::KevCsv
    } else if t.starts_with("#model_version") || t.starts_with("cve,epss") {
        Kind::Epss
    } else if t.contains("\"catalogVersion\"") || t.contains("\"cveID\"") {
        Kind::KevJson
    } else {
        Kind::Nvd
    }
}

/// Every file to import under `path`: itself, or the regular files of a directory (recursively,
/// sorted, hidden files skipped; `.json`, `.json.gz`, `.csv`, `.csv.gz` only).
pub fn expand(path: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let meta = std::fs::metadata(path).map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|source| ImportError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for entry in rd {
            let entry = entry.map_err(|source| ImportError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().to_lowercase();
            if name.starts_with('.') {
                continue;
            }
            let ft = entry.file_type().map_err(|source| ImportError::Io {
                path: p.display().to_string(),
                source,
            })?;
            if ft.is_dir() {
                stack.push(p);
            } else if [".json", ".json.gz", ".csv", ".csv.gz"]
                .iter()
                .any(|e| name.ends_with(e))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read_error(path: &Path, kind: Kind, limit: u64, e: io::Error) -> ImportError {
    if is_cap(&e) {
        ImportError::TooLarge {
            path: path.display().to_string(),
            kind: kind.name(),
            limit,
        }
    } else {
        ImportError::Io {
            path: path.display().to_string(),
            source: e,
        }
    }
}

fn nvd_error(path: &Path, limit: u64, e: NvdError) -> ImportError {
    if matches!(&e, NvdError::Json(j) if j.io_error_kind().is_some() && j.to_string().contains(CAP_HIT))
    {
        return ImportError::TooLarge {
            path: path.display().to_string(),
            kind: Kind::Nvd.name(),
            limit,
        };
    }
    ImportError::Nvd {
        path: path.display().to_string(),
        source: e,
    }
}

/// Import one file (not a directory) into `store`.
pub fn import_file(
    store: &mut dyn VulnStore,
    path: &Path,
    limits: Limits,
) -> Result<FileReport, ImportError> {
    let kind = {
        let mut r = open(path, limits.nvd.max(limits.kev).max(limits.epss))?;
        let head = r
            .fill_buf()
            .map_err(|e| read_error(path, Kind::Nvd, limits.nvd, e))?;
        sniff(&head[..head.len().min(4096)])
    };
    let name = path.display().to_string();
    let feed_err = |source| ImportError::Feed {
        path: name.clone(),
        source,
    };
    let mut report = FileReport {
        path: path.to_path_buf(),
        kind,
        read: 0,
        cves: UpsertCounts::default(),
    };
    match kind {
        Kind::Nvd => {
            let r = open(path, limits.nvd)?;
            let mut batch = Vec::with_capacity(BATCH);
            let mut counts = UpsertCounts::default();
            let res = nvd::read_records(r, &mut |rec| {
                batch.push(rec);
                if batch.len() >= BATCH {
                    counts += store.write_cves(&batch)?;
                    batch.clear();
                }
                Ok::<(), StoreError>(())
            });
            match res {
                Ok(n) => report.read = n,
                Err(StreamError::Sink(e)) => return Err(e.into()),
                Err(StreamError::Parse(e)) => return Err(nvd_error(path, limits.nvd, e)),
            }
            counts += store.write_cves(&batch)?;
            report.cves = counts;
        }
        Kind::KevJson | Kind::KevCsv => {
            let mut r = open(path, limits.kev)?;
            let mut bytes = Vec::new();
            r.read_to_end(&mut bytes)
                .map_err(|e| read_error(path, kind, limits.kev, e))?;
            let entries = if kind == Kind::KevJson {
                feeds::parse_kev_json(&bytes)
            } else {
                feeds::parse_kev_csv(bytes.as_slice())
            }
            .map_err(feed_err)?;
            report.read = store.write_kev(&entries)?;
        }
        Kind::Epss => {
            let r = open(path, limits.epss)?;
            let mut batch = Vec::with_capacity(BATCH);
            let res = feeds::read_epss(r, &mut |s| {
                batch.push(s);
                if batch.len() >= BATCH {
                    store.write_epss(&batch)?;
                    batch.clear();
                }
                Ok::<(), StoreError>(())
            });
            match res {
                Ok(Ok(n)) => report.read = n,
                Ok(Err(e)) => return Err(e.into()),
                Err(FeedError::Io(e)) => return Err(read_error(path, kind, limits.epss, e)),
                Err(e) => return Err(feed_err(e)),
            }
            store.write_epss(&batch)?;
        }
    }
    Ok(report)
}

/// Import files and directories, in order; stops at the first error (what was committed
/// before it stays: each batch is a transaction, and a rerun is idempotent).
pub fn import_paths(
    store: &mut dyn VulnStore,
    paths: &[PathBuf],
    limits: Limits,
    progress: &mut dyn FnMut(&FileReport),
) -> Result<Vec<FileReport>, ImportError> {
    let mut out = Vec::new();
    for p in paths {
        for f in expand(p)? {
            let r = import_file(store, &f, limits)?;
            progress(&r);
            out.push(r);
        }
    }
    Ok(out)
}

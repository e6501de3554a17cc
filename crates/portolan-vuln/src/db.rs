//! Where the imported records live: the [`VulnStore`] trait, and [`SqliteStore`], its SQLite
//! implementation in a file of its own (`vulns.sqlite3` in the user data directory).
//!
//! The trait is the whole storage API the importers and the matcher use, so the data can move
//! into `portolan-store` (the project's result store) later without touching them.

use crate::feeds::{EpssScore, KevEntry};
use crate::nvd::CveRecord;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// A storage error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("vulnerability database {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("vulnerability database {path}: a stored record is damaged ({why}); import the feeds again into a new file")]
    Corrupt { path: String, why: String },
    #[error("cannot create the directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
}

/// What a batch of CVE records did to the store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// Records not stored before.
    pub added: u64,
    /// Records that replaced an older `lastModified`.
    pub updated: u64,
    /// Records whose stored copy was as new or newer (kept).
    pub unchanged: u64,
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, o: UpsertCounts) {
        self.added += o.added;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
    }
}

/// Counts of what is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub cves: u64,
    pub unanalysed: u64,
    pub kev: u64,
    pub epss: u64,
    /// Newest `lastModified` of any CVE record.
    pub newest: Option<String>,
}

/// The storage API of vulnerability data.
pub trait VulnStore {
    /// Store CVE records; a record replaces the stored one only when its `lastModified` is
    /// newer. One call is one transaction.
    fn write_cves(&mut self, batch: &[CveRecord]) -> Result<UpsertCounts, StoreError>;
    /// Store KEV entries (a later import replaces an entry).
    fn write_kev(&mut self, batch: &[KevEntry]) -> Result<u64, StoreError>;
    /// Store EPSS scores (a later import replaces a score).
    fn write_epss(&mut self, batch: &[EpssScore]) -> Result<u64, StoreError>;
    /// Records with a `vulnerable: true` criterion naming (vendor, product).
    fn cves_for_product(&self, vendor: &str, product: &str) -> Result<Vec<CveRecord>, StoreError>;
    /// The vendors whose `vulnerable: true` criteria name `product` (NVD's CPE product name):
    /// the alias table from product names to CPE names, built from the imported records.
    fn vendors_of(&self, product: &str) -> Result<Vec<String>, StoreError>;
    /// Records without any CPE configuration whose description names `word` (lowercase).
    fn unanalysed_naming(&self, word: &str) -> Result<Vec<CveRecord>, StoreError>;
    fn cve(&self, id: &str) -> Result<Option<CveRecord>, StoreError>;
    fn kev(&self, id: &str) -> Result<Option<KevEntry>, StoreError>;
    fn epss(&self, id: &str) -> Result<Option<EpssScore>, StoreError>;
    fn stats(&self) -> Result<StoreStats, StoreError>;

    /// [`VulnStore::cves_for_product`] with each record's KEV entry and EPSS score (an
    /// implementation can read them in the same query).
    fn enriched_for_product(
        &self,
        vendor: &str,
        product: &str,
    ) -> Result<Vec<EnrichedRecord>, StoreError> {
        let mut out = Vec::new();
        for r in self.cves_for_product(vendor, product)? {
            let (k, e) = (self.kev(&r.id)?, self.epss(&r.id)?);
            out.push((r, k, e));
        }
        Ok(out)
    }

    /// [`VulnStore::unanalysed_naming`] with each record's KEV entry and EPSS score.
    fn enriched_naming(&self, word: &str) -> Result<Vec<EnrichedRecord>, StoreError> {
        let mut out = Vec::new();
        for r in self.unanalysed_naming(word)? {
            let (k, e) = (self.kev(&r.id)?, self.epss(&r.id)?);
            out.push((r, k, e));
        }
        Ok(out)
    }
}

/// A CVE record with its KEV entry and EPSS score, when they exist.
pub type EnrichedRecord = (CveRecord, Option<KevEntry>, Option<EpssScore>);

/// [`VulnStore`] in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
    path: String,
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cve (
    id TEXT PRIMARY KEY,
    last_modified TEXT NOT NULL,
    configured INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cpe_product (
    vendor TEXT NOT NULL, product TEXT NOT NULL, cve TEXT NOT NULL,
    PRIMARY KEY (vendor, product, cve)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cpe_product_by_cve ON cpe_product (cve);
CREATE INDEX IF NOT EXISTS cpe_product_by_product ON cpe_product (product, vendor);
CREATE TABLE IF NOT EXISTS unanalysed_word (
    word TEXT NOT NULL, cve TEXT NOT NULL, PRIMARY KEY (word, cve)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS unanalysed_word_by_cve ON unanalysed_word (cve);
CREATE TABLE IF NOT EXISTS kev (cve TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS epss (
    cve TEXT PRIMARY KEY, score REAL NOT NULL, percentile REAL NOT NULL, date TEXT NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');
";

/// The words of a description an unanalysed record is found by: lowercase runs of letters,
/// digits, `_`, `-` and `.`, trimmed of trailing dots, at least 3 characters, at most 64 words.
pub fn description_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .map(|w| w.trim_matches('.').to_lowercase())
        .filter(|w| w.len() >= 3 && w.chars().any(char::is_alphabetic))
        .collect();
    words.sort();
    words.dedup();
    words.truncate(64);
    words
}

/// The default file: `vulns.sqlite3` in `portolan_registry::user_data_dir()`.
pub fn default_path() -> Option<PathBuf> {
    portolan_registry::user_data_dir().map(|d| d.join("vulns.sqlite3"))
}

impl SqliteStore {
    /// Open (creating it and its directory if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let name = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: name.clone(),
            source,
        })?;
        let s = SqliteStore { conn, path: name };
        s.conn.execute_batch(SCHEMA).map_err(|e| s.err(e))?;
        Ok(s)
    }

    /// Open an existing store read-only; an absent file is `None`.
    pub fn open_existing(path: &Path) -> Result<Option<SqliteStore>, StoreError> {
        if !path.exists() {
            return Ok(None);
        }
        SqliteStore::open(path).map(Some)
    }

    /// The file it lives in.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, text: &str) -> Result<T, StoreError> {
        serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            why: e.to_string(),
        })
    }

    /// Rows of (record, KEV record, EPSS score, percentile, date) from a query with one or two
    /// text parameters.
    fn enriched(
        &self,
        sql: &str,
        a: &str,
        b: Option<&str>,
    ) -> Result<Vec<EnrichedRecord>, StoreError> {
        type Row = (
            String,
            Option<String>,
            Option<f64>,
            Option<f64>,
            Option<String>,
        );
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let get = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Row> {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        };
        let rows: Vec<Row> = match b {
            Some(b) => st
                .query_map(params![a, b], get)
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>()),
            None => st
                .query_map(params![a], get)
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>()),
        }
        .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(rec, kev, score, percentile, date)| {
                let rec: CveRecord = self.decode(&rec)?;
                let kev: Option<KevEntry> = kev.map(|k| self.decode(&k)).transpose()?;
                let epss = match (score, percentile) {
                    (Some(score), Some(percentile)) => Some(EpssScore {
                        cve: rec.id.clone(),
                        score,
                        percentile,
                        date: date.unwrap_or_default(),
                    }),
                    _ => None,
                };
                Ok((rec, kev, epss))
            })
            .collect()
    }

    fn records(&self, sql: &str, a: &str, b: Option<&str>) -> Result<Vec<CveRecord>, StoreError> {
        let mut st = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let get = |r: &rusqlite::Row<'_>| r.get::<_, String>(0);
        let rows: Vec<String> = match b {
            Some(b) => st
                .query_map(params![a, b], get)
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>()),
            None => st
                .query_map(params![a], get)
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>()),
        }
        .map_err(|e| self.err(e))?;
        rows.iter().map(|t| self.decode(t)).collect()
    }
}

impl VulnStore for SqliteStore {
    fn write_cves(&mut self, batch: &[CveRecord]) -> Result<UpsertCounts, StoreError> {
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        let mut counts = UpsertCounts::default();
        {
            let mut get = tx
                .prepare_cached("SELECT last_modified FROM cve WHERE id = ?1")
                .map_err(e)?;
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO cve (id, last_modified, configured, record) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(e)?;
            let mut del_cpe = tx
                .prepare_cached("DELETE FROM cpe_product WHERE cve = ?1")
                .map_err(e)?;
            let mut del_word = tx
                .prepare_cached("DELETE FROM unanalysed_word WHERE cve = ?1")
                .map_err(e)?;
            let mut put_cpe = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO cpe_product (vendor, product, cve) VALUES (?1, ?2, ?3)",
                )
                .map_err(e)?;
            let mut put_word = tx
                .prepare_cached("INSERT OR IGNORE INTO unanalysed_word (word, cve) VALUES (?1, ?2)")
                .map_err(e)?;
            for rec in batch {
                let old: Option<String> = get
                    .query_row(params![rec.id], |r| r.get(0))
                    .optional()
                    .map_err(e)?;
                match &old {
                    Some(old) if old.as_str() >= rec.last_modified.as_str() => {
                        counts.unchanged += 1;
                        continue;
                    }
                    Some(_) => {
                        counts.updated += 1;
                        del_cpe.execute(params![rec.id]).map_err(e)?;
                        del_word.execute(params![rec.id]).map_err(e)?;
                    }
                    None => counts.added += 1,
                }
                let configured = rec.has_configuration();
                let json = serde_json::to_string(rec).map_err(|err| StoreError::Corrupt {
                    path: path.clone(),
                    why: err.to_string(),
                })?;
                put.execute(params![rec.id, rec.last_modified, configured, json])
                    .map_err(e)?;
                if configured {
                    for (v, p) in rec.vulnerable_products() {
                        put_cpe.execute(params![v, p, rec.id]).map_err(e)?;
                    }
                } else {
                    for w in description_words(&rec.description) {
                        put_word.execute(params![w, rec.id]).map_err(e)?;
                    }
                }
            }
        }
        tx.commit().map_err(e)?;
        Ok(counts)
    }

    fn write_kev(&mut self, batch: &[KevEntry]) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut put = tx
                .prepare_cached("INSERT OR REPLACE INTO kev (cve, record) VALUES (?1, ?2)")
                .map_err(e)?;
            for k in batch {
                let json = serde_json::to_string(k).map_err(|err| StoreError::Corrupt {
                    path: path.clone(),
                    why: err.to_string(),
                })?;
                put.execute(params![k.cve, json]).map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(batch.len() as u64)
    }

    fn write_epss(&mut self, batch: &[EpssScore]) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let e = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO epss (cve, score, percentile, date) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(e)?;
            for s in batch {
                put.execute(params![s.cve, s.score, s.percentile, s.date])
                    .map_err(e)?;
            }
        }
        tx.commit().map_err(e)?;
        Ok(batch.len() as u64)
    }

    fn cves_for_product(&self, vendor: &str, product: &str) -> Result<Vec<CveRecord>, StoreError> {
        self.records(
            "SELECT c.record FROM cpe_product p JOIN cve c ON c.id = p.cve \
             WHERE p.vendor = ?1 AND p.product = ?2 ORDER BY c.id",
            vendor,
            Some(product),
        )
    }

    fn enriched_for_product(
        &self,
        vendor: &str,
        product: &str,
    ) -> Result<Vec<EnrichedRecord>, StoreError> {
        self.enriched(
            "SELECT c.record, k.record, e.score, e.percentile, e.date FROM cpe_product p \
             JOIN cve c ON c.id = p.cve LEFT JOIN kev k ON k.cve = p.cve \
             LEFT JOIN epss e ON e.cve = p.cve \
             WHERE p.vendor = ?1 AND p.product = ?2 ORDER BY c.id",
            vendor,
            Some(product),
        )
    }

    fn enriched_naming(&self, word: &str) -> Result<Vec<EnrichedRecord>, StoreError> {
        self.enriched(
            "SELECT c.record, k.record, e.score, e.percentile, e.date FROM unanalysed_word w \
             JOIN cve c ON c.id = w.cve LEFT JOIN kev k ON k.cve = w.cve \
             LEFT JOIN epss e ON e.cve = w.cve \
             WHERE w.word = ?1 ORDER BY c.id",
            word,
            None,
        )
    }

    fn vendors_of(&self, product: &str) -> Result<Vec<String>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT vendor FROM cpe_product WHERE product = ?1 ORDER BY vendor LIMIT 16",
            )
            .map_err(|e| self.err(e))?;
        st.query_map(params![product], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.err(e))
    }

    fn unanalysed_naming(&self, word: &str) -> Result<Vec<CveRecord>, StoreError> {
        self.records(
            "SELECT c.record FROM unanalysed_word w JOIN cve c ON c.id = w.cve \
             WHERE w.word = ?1 ORDER BY c.id",
            word,
            None,
        )
    }

    fn cve(&self, id: &str) -> Result<Option<CveRecord>, StoreError> {
        Ok(self
            .records("SELECT record FROM cve WHERE id = ?1", id, None)?
            .into_iter()
            .next())
    }

    fn kev(&self, id: &str) -> Result<Option<KevEntry>, StoreError> {
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT record FROM kev WHERE cve = ?1")
            .and_then(|mut st| st.query_row(params![id], |r| r.get(0)).optional())
            .map_err(|e| self.err(e))?;
        text.map(|t| self.decode(&t)).transpose()
    }

    fn epss(&self, id: &str) -> Result<Option<EpssScore>, StoreError> {
        self.conn
            .prepare_cached("SELECT cve, score, percentile, date FROM epss WHERE cve = ?1")
            .and_then(|mut st| {
                st.query_row(params![id], |r| {
                    Ok(EpssScore {
                        cve: r.get(0)?,
                        score: r.get(1)?,
                        percentile: r.get(2)?,
                        date: r.get(3)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let count = |sql: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0) as u64)
                .map_err(|e| self.err(e))
        };
        Ok(StoreStats {
            cves: count("SELECT count(*) FROM cve")?,
            unanalysed: count("SELECT count(*) FROM cve WHERE configured = 0")?,
            kev: count("SELECT count(*) FROM kev")?,
            epss: count("SELECT count(*) FROM epss")?,
            newest: self
                .conn
                .query_row("SELECT max(last_modified) FROM cve", [], |r| r.get(0))
                .map_err(|e| self.err(e))?,
        })
    }
}

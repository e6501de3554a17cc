//! The two backends every store test runs on: an SQLite file in a temporary directory, and a
//! fresh database on the PostgreSQL server `PORTOLAN_TEST_PG` names (dropped afterwards).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use portolan_store::Store;

/// Where one test's store lives.
pub struct Backend {
    /// What `Store::open` takes.
    pub spec: String,
    pub name: &'static str,
    _dir: Option<tempfile::TempDir>,
    /// The admin URL and the database to drop at the end (PostgreSQL).
    pg: Option<(String, String)>,
}

impl Backend {
    pub fn open(&self) -> Store {
        Store::open(Some(&self.spec))
            .unwrap_or_else(|e| panic!("{}: cannot open {}: {e}", self.name, self.spec))
    }
    pub fn is_pg(&self) -> bool {
        self.pg.is_some()
    }
    /// The one number `sql` selects, read behind the library's back.
    pub fn count(&self, sql: &str) -> i64 {
        if self.is_pg() {
            let mut c = postgres::Client::connect(&self.spec, postgres::NoTls).unwrap();
            c.query_one(sql, &[]).unwrap().get(0)
        } else {
            let c = rusqlite::Connection::open(&self.spec).unwrap();
            c.query_row(sql, [], |r| r.get(0)).unwrap()
        }
    }
    /// What the database's schema is, one line per column, index, key and constraint, in
    /// a fixed order: two stores with the same lines have the same schema, however it was
    /// built (SQLite: what its PRAGMAs say of each table; PostgreSQL: its catalogue).
    pub fn schema(&self) -> Vec<String> {
        if self.is_pg() {
            let mut c = postgres::Client::connect(&self.spec, postgres::NoTls).unwrap();
            let mut out = Vec::new();
            for sql in [
                "SELECT concat_ws('|', table_name, column_name, data_type, is_nullable, \
                 column_default, is_identity, identity_generation) FROM \
                 information_schema.columns WHERE table_schema = 'public' \
                 ORDER BY table_name, ordinal_position",
                "SELECT concat_ws('|', indexname, indexdef) FROM pg_indexes \
                 WHERE schemaname = 'public' ORDER BY indexname",
                "SELECT concat_ws('|', conrelid::regclass::text, conname, \
                 pg_get_constraintdef(oid)) FROM pg_constraint \
                 WHERE connamespace = 'public'::regnamespace ORDER BY 1",
            ] {
                for r in c.query(sql, &[]).unwrap() {
                    out.push(r.get::<_, String>(0));
                }
            }
            return out;
        }
        let c = rusqlite::Connection::open(&self.spec).unwrap();
        let text = |v: rusqlite::types::Value| format!("{v:?}");
        let rows = |sql: &str| -> Vec<String> {
            let mut st = c.prepare(sql).unwrap();
            let n = st.column_count();
            st.query_map([], |r| {
                Ok((0..n)
                    .map(|i| text(r.get(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        let mut out = Vec::new();
        let mut tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        tables.sort();
        for t in tables {
            for r in rows(&format!("PRAGMA table_xinfo({t})")) {
                out.push(format!("{t}|column|{r}"));
            }
            for r in rows(&format!("PRAGMA foreign_key_list({t})")) {
                out.push(format!("{t}|foreign key|{r}"));
            }
            let mut indexes = rows(&format!("SELECT name FROM pragma_index_list('{t}')"));
            indexes.sort();
            for r in rows(&format!(
                "SELECT name, \"unique\", origin, partial FROM pragma_index_list('{t}') \
                 ORDER BY name"
            )) {
                out.push(format!("{t}|index|{r}"));
            }
            for i in indexes {
                let name = i.trim_start_matches("Text(\"").trim_end_matches("\")");
                for r in rows(&format!("PRAGMA index_xinfo({name})")) {
                    out.push(format!("{t}|index {name}|{r}"));
                }
            }
        }
        out.push(format!("user_version|{:?}", rows("PRAGMA user_version")));
        out
    }

    /// Set the store's schema version behind the library's back, as a newer Portolan would.
    pub fn set_schema_version(&self, v: i64) {
        match &self.pg {
            Some(_) => {
                let mut c = postgres::Client::connect(&self.spec, postgres::NoTls).unwrap();
                c.execute("UPDATE portolan_schema SET version = $1", &[&v])
                    .unwrap();
            }
            None => {
                // user_version: offset 60 of the SQLite header, big-endian.
                let mut bytes = std::fs::read(&self.spec).unwrap();
                bytes[60..64].copy_from_slice(&(v as u32).to_be_bytes());
                std::fs::write(&self.spec, bytes).unwrap();
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some((admin, db)) = &self.pg {
            if let Ok(mut c) = postgres::Client::connect(admin, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
            }
        }
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

static N: AtomicU32 = AtomicU32::new(0);

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    Backend {
        spec: dir.path().join("store.db").display().to_string(),
        name: "sqlite",
        _dir: Some(dir),
        pg: None,
    }
}

/// A fresh database on the test server, or `None` (skipped outside CI; a failure under CI).
pub fn postgres() -> Option<Backend> {
    let Some(admin) = std::env::var("PORTOLAN_TEST_PG")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        assert!(
            !in_ci(),
            "PORTOLAN_TEST_PG is not set: under CI the store's tests must run on PostgreSQL too \
             (.ci/services/store.sh starts a server and sets it)"
        );
        eprintln!(
            "skipping the PostgreSQL half of this test: set PORTOLAN_TEST_PG (source \
             .ci/services/store.sh as root to start a throw-away server)"
        );
        return None;
    };
    let db = format!(
        "portolan_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let mut c = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("PORTOLAN_TEST_PG={admin}: cannot connect: {e}"));
    c.batch_execute(&format!("CREATE DATABASE {db}")).unwrap();
    let (base, _) = admin
        .rsplit_once('/')
        .expect("PORTOLAN_TEST_PG ends with /DBNAME");
    Some(Backend {
        spec: format!("{base}/{db}"),
        name: "postgres",
        _dir: None,
        pg: Some((admin, db)),
    })
}

/// Run `f` on two stores of each backend in turn.
pub fn each_backend_twice(f: impl Fn(&Backend, &Backend)) {
    f(&sqlite(), &sqlite());
    if let (Some(a), Some(b)) = (postgres(), postgres()) {
        f(&a, &b);
    }
}

/// Run `f` on each backend in turn.
pub fn each_backend(f: impl Fn(&Backend)) {
    let b = sqlite();
    f(&b);
    if let Some(b) = postgres() {
        f(&b);
    }
}

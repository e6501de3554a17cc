//! The two database backends behind one small interface: SQLite (embedded) and PostgreSQL.
//!
//! Statements are written once, in the SQL both understand, with `$1`, `$2`… placeholders
//! (rewritten to SQLite's `?1`, `?2`…); values travel as [`Val`] (null, integer, real, text,
//! bytes) and come back as rows of them. Only the schema (its DDL) is written per backend.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{IsNull, ToSql, Type};

/// A value bound to a statement or read from a row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::Real(v)
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_string())
    }
}
impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Val {
        Val::Blob(v)
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// The values of one column for many rows ([`Conn::insert_rows`]).
#[derive(Clone, Debug)]
pub(crate) enum Col {
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
    Text(Vec<Option<String>>),
    Blob(Vec<Option<Vec<u8>>>),
}

impl Col {
    /// Append a cell (of the column's type, or null).
    fn push(&mut self, cell: Cell<'_>) -> Result<(), DbError> {
        match (self, cell) {
            (Col::Int(v), Cell::Null) => v.push(None),
            (Col::Real(v), Cell::Null) => v.push(None),
            (Col::Text(v), Cell::Null) => v.push(None),
            (Col::Blob(v), Cell::Null) => v.push(None),
            (Col::Int(v), Cell::Int(x)) => v.push(Some(x)),
            (Col::Real(v), Cell::Real(x)) => v.push(Some(x)),
            (Col::Text(v), Cell::Text(x)) => v.push(Some(x.to_string())),
            (Col::Blob(v), Cell::Blob(x)) => v.push(Some(x.to_vec())),
            (col, cell) => {
                return Err(DbError(format!(
                    "internal error: {cell:?} in a column of {}",
                    col.pg_array()
                )))
            }
        }
        Ok(())
    }

    /// The PostgreSQL array type of the column.
    fn pg_array(&self) -> &'static str {
        match self {
            Col::Int(_) => "BIGINT[]",
            Col::Real(_) => "DOUBLE PRECISION[]",
            Col::Text(_) => "TEXT[]",
            Col::Blob(_) => "BYTEA[]",
        }
    }

    fn pg(&self) -> &(dyn ToSql + Sync) {
        match self {
            Col::Int(v) => v,
            Col::Real(v) => v,
            Col::Text(v) => v,
            Col::Blob(v) => v,
        }
    }
}

/// One value of a row to insert, borrowed from what is written ([`Conn::insert_rows`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a, T: Into<Cell<'a>>> From<Option<T>> for Cell<'a> {
    fn from(v: Option<T>) -> Cell<'a> {
        v.map_or(Cell::Null, Into::into)
    }
}
impl From<i64> for Cell<'_> {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}
impl From<f64> for Cell<'_> {
    fn from(v: f64) -> Self {
        Cell::Real(v)
    }
}
impl<'a> From<&'a str> for Cell<'a> {
    fn from(v: &'a str) -> Self {
        Cell::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Cell<'a> {
    fn from(v: &'a [u8]) -> Self {
        Cell::Blob(v)
    }
}

impl rusqlite::ToSql for Cell<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Cell::Null => ValueRef::Null,
            Cell::Int(v) => ValueRef::Integer(v),
            Cell::Real(v) => ValueRef::Real(v),
            Cell::Text(s) => ValueRef::Text(s.as_bytes()),
            Cell::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// The type of a column of rows to insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Real,
    Text,
    Blob,
}

impl Kind {
    /// An empty column of this type, with room for `n` rows.
    fn col(self, n: usize) -> Col {
        match self {
            Kind::Int => Col::Int(Vec::with_capacity(n)),
            Kind::Real => Col::Real(Vec::with_capacity(n)),
            Kind::Text => Col::Text(Vec::with_capacity(n)),
            Kind::Blob => Col::Blob(Vec::with_capacity(n)),
        }
    }
}

/// A database error, as text (the backends' error types differ).
#[derive(Debug)]
pub(crate) struct DbError(pub String);

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError(e.to_string())
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> DbError {
        // The server's own message (with its detail) says more than the client's summary.
        match e.as_db_error() {
            Some(d) => DbError(format!("{}: {}", d.severity(), d.message())),
            None => {
                // With its causes (a TLS handshake's error says which certificate check
                // failed only in its source).
                let mut msg = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    let c_msg = c.to_string();
                    if !msg.contains(&c_msg) {
                        msg.push_str(": ");
                        msg.push_str(&c_msg);
                    }
                    cause = c.source();
                }
                DbError(msg)
            }
        }
    }
}

/// One row of a result.
pub(crate) struct Row(pub Vec<Val>);

impl Row {
    fn at(&self, i: usize) -> Result<&Val, DbError> {
        self.0
            .get(i)
            .ok_or_else(|| DbError(format!("column {i} missing")))
    }
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, DbError> {
        match self.at(i)? {
            Val::Null => Ok(None),
            Val::Int(v) => Ok(Some(*v)),
            Val::Real(v) => Ok(Some(*v as i64)),
            v => Err(DbError(format!(
                "column {i}: expected an integer, found {v:?}"
            ))),
        }
    }
    pub fn int(&self, i: usize) -> Result<i64, DbError> {
        self.opt_int(i)?
            .ok_or_else(|| DbError(format!("column {i}: expected an integer, found null")))
    }
    pub fn opt_real(&self, i: usize) -> Result<Option<f64>, DbError> {
        match self.at(i)? {
            Val::Null => Ok(None),
            Val::Int(v) => Ok(Some(*v as f64)),
            Val::Real(v) => Ok(Some(*v)),
            v => Err(DbError(format!(
                "column {i}: expected a number, found {v:?}"
            ))),
        }
    }
    pub fn real(&self, i: usize) -> Result<f64, DbError> {
        self.opt_real(i)?
            .ok_or_else(|| DbError(format!("column {i}: expected a number, found null")))
    }
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, DbError> {
        match self.at(i)? {
            Val::Null => Ok(None),
            Val::Text(s) => Ok(Some(s.clone())),
            v => Err(DbError(format!("column {i}: expected text, found {v:?}"))),
        }
    }
    pub fn blob(&self, i: usize) -> Result<&[u8], DbError> {
        match self.at(i)? {
            Val::Blob(b) => Ok(b),
            v => Err(DbError(format!("column {i}: expected bytes, found {v:?}"))),
        }
    }
    pub fn text(&self, i: usize) -> Result<String, DbError> {
        self.opt_text(i)?
            .ok_or_else(|| DbError(format!("column {i}: expected text, found null")))
    }
}

/// `$N` placeholders to SQLite's `?N` (outside string literals).
fn sqlite_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_str = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_str = !in_str;
        }
        if c == '$' && !in_str && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Val::Null => ValueRef::Null,
            Val::Int(v) => ValueRef::Integer(*v),
            Val::Real(v) => ValueRef::Real(*v),
            Val::Text(s) => ValueRef::Text(s.as_bytes()),
            Val::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Val::Real(v) => match *ty {
                Type::INT8 => (*v as i64).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Val::Text(s) => s.as_str().to_sql(ty, out),
            Val::Blob(b) => b.as_slice().to_sql(ty, out),
        }
    }
    fn accepts(_ty: &Type) -> bool {
        true
    }
    postgres::types::to_sql_checked!();
}

fn pg_val(row: &postgres::Row, i: usize) -> Result<Val, DbError> {
    let ty = row.columns()[i].type_().clone();
    let v = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Val::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Val::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map(|v| Val::Int(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)?
            .map(|v| Val::Int(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Val::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)?
            .map(|v| Val::Real(v.into())),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Val::Blob),
        Type::NUMERIC => {
            return Err(DbError(format!(
                "column {i}: NUMERIC is not read (cast it to BIGINT or DOUBLE PRECISION)"
            )))
        }
        _ => row.try_get::<_, Option<String>>(i)?.map(Val::Text),
    };
    Ok(v.unwrap_or(Val::Null))
}

/// A request to the PostgreSQL worker thread.
enum PgReq {
    Batch(String, mpsc::Sender<Result<(), DbError>>),
    Exec(String, Vec<Val>, mpsc::Sender<Result<u64, DbError>>),
    Query(String, Vec<Val>, mpsc::Sender<Result<Vec<Row>, DbError>>),
    /// One statement with array parameters (prepared once per connection).
    Arrays(String, Vec<Col>, mpsc::Sender<Result<u64, DbError>>),
    /// New rows by a binary `COPY` (no upsert: none of them can exist yet).
    Copy(CopyIn, mpsc::Sender<Result<u64, DbError>>),
}

/// Rows an SQLite `INSERT` takes at once ([`Conn::insert_rows`]). A statement opens its
/// cursors on the table and each of its indexes once for all its rows. The end of a /17
/// scan's write (`cargo run --release -p portolan-store --example write_scan -- STORE 32768
/// 8`: the writer's commit of 32,768 ports and the end's comparison, 8 scans into one store,
/// twice) took 73-114 ms one row a statement and 49-62 ms 16 rows a statement; 32 rows were
/// about the same as 16, 8 and 64 a little slower (another measurement, the same rows). With
/// temporary storage in memory (`open_sqlite`), 71-81 ms against 55-60; an import of 100,000
/// nmap hosts took the same time either way (1.41-1.66 s against 1.50-1.68).
pub(crate) const SQLITE_ROWS_PER_INSERT: usize = 16;

/// What [`PgReq::Copy`] writes: `table`'s columns `names`, rows already in the binary `COPY`
/// format ([`CopyData`]).
struct CopyIn {
    table: String,
    names: String,
    data: Vec<u8>,
}

/// Rows in PostgreSQL's binary `COPY` format, encoded straight from the cells: a header, per
/// row the number of fields and per field its length (-1: null) and bytes (BIGINT and DOUBLE
/// PRECISION 8 bytes big-endian, TEXT its UTF-8, BYTEA itself), and a trailer. One buffer for
/// the batch: no allocation per cell, nothing checked per value that the columns' kinds have
/// not already settled (through `postgres`' `BinaryCopyInWriter`, which took a copy of each
/// text and blob and a type check of each value, the /17 bench scan's process used 0.61 s of
/// CPU instead of 0.59).
struct CopyData {
    buf: Vec<u8>,
}

impl CopyData {
    const SIGNATURE: &'static [u8; 11] = b"PGCOPY\n\xff\r\n\0";

    fn new(rows: usize, cols: usize) -> CopyData {
        let mut buf = Vec::with_capacity(19 + rows * (2 + cols * 12) + 2);
        buf.extend_from_slice(Self::SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        CopyData { buf }
    }

    /// One row: `cells` in the columns' order, each of its column's kind or null.
    fn row(&mut self, kinds: &[Kind], cells: &[Cell<'_>]) -> Result<(), DbError> {
        let fields = i16::try_from(cells.len())
            .ok()
            .filter(|_| cells.len() == kinds.len())
            .ok_or_else(|| {
                DbError(format!(
                    "internal error: a COPY row of {} cells for {} columns",
                    cells.len(),
                    kinds.len()
                ))
            })?;
        self.buf.extend_from_slice(&fields.to_be_bytes());
        for (kind, cell) in kinds.iter().zip(cells) {
            let bytes: &[u8] = match (kind, cell) {
                (_, Cell::Null) => {
                    self.buf.extend_from_slice(&(-1i32).to_be_bytes());
                    continue;
                }
                (Kind::Int, Cell::Int(v)) => &v.to_be_bytes(),
                (Kind::Real, Cell::Real(v)) => &v.to_bits().to_be_bytes(),
                (Kind::Text, Cell::Text(t)) => t.as_bytes(),
                (Kind::Blob, Cell::Blob(b)) => b,
                (kind, cell) => {
                    return Err(DbError(format!(
                        "internal error: {cell:?} in a column of {}",
                        kind.col(0).pg_array()
                    )))
                }
            };
            let len = i32::try_from(bytes.len())
                .map_err(|_| DbError("a value of over 2 GiB cannot be stored".into()))?;
            self.buf.extend_from_slice(&len.to_be_bytes());
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

/// `COPY {table} ({names}) FROM STDIN (FORMAT BINARY)` of `req`'s rows: the server parses
/// no statement and no arrays and checks no conflict (a /17 scan's 32,768 ports took about
/// a quarter less of the server's time than by `INSERT … SELECT FROM UNNEST … ON CONFLICT`;
/// through a staging table, to keep the upsert, it took more).
fn pg_copy_in(c: &mut postgres::Client, req: &CopyIn) -> Result<u64, DbError> {
    use std::io::Write;
    let mut w = c.copy_in(&format!(
        "COPY {} ({}) FROM STDIN (FORMAT BINARY)",
        req.table, req.names
    ))?;
    // (An error of the server's shows at `finish`, with its message; one of the connection's
    // here.)
    w.write_all(&req.data)
        .map_err(|e| DbError(format!("cannot send the rows to the server: {e}")))?;
    Ok(w.finish()?)
}

/// The synchronous `postgres` client drives a Tokio runtime of its own, which must not run
/// inside another one (the scan engines are Tokio tasks, and call their sinks from there). So
/// the client lives on a thread of its own and is asked through a channel.
pub(crate) struct PgWorker {
    tx: Option<mpsc::Sender<PgReq>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PgWorker {
    fn connect(url: &str) -> Result<PgWorker, DbError> {
        let (tx, rx) = mpsc::channel::<PgReq>();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), DbError>>();
        let url = url.to_string();
        let thread = std::thread::Builder::new()
            .name("portolan-store-pg".into())
            .spawn(move || {
                let mut c = match crate::pg_tls::connect(&url) {
                    Ok(c) => {
                        let _ = ready_tx.send(Ok(()));
                        c
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut prepared: HashMap<String, postgres::Statement> = HashMap::new();
                for req in rx {
                    match req {
                        PgReq::Copy(req, r) => {
                            let _ = r.send(pg_copy_in(&mut c, &req));
                        }
                        PgReq::Arrays(sql, cols, r) => {
                            let st = match prepared.get(&sql) {
                                Some(st) => Ok(st.clone()),
                                None => c.prepare(&sql).inspect(|st| {
                                    prepared.insert(sql.clone(), st.clone());
                                }),
                            };
                            let refs: Vec<&(dyn ToSql + Sync)> = cols.iter().map(Col::pg).collect();
                            let _ =
                                r.send(st.and_then(|st| c.execute(&st, &refs)).map_err(Into::into));
                        }
                        PgReq::Batch(sql, r) => {
                            let _ = r.send(c.batch_execute(&sql).map_err(Into::into));
                        }
                        PgReq::Exec(sql, args, r) => {
                            let refs: Vec<&(dyn ToSql + Sync)> =
                                args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
                            let _ = r.send(c.execute(sql.as_str(), &refs).map_err(Into::into));
                        }
                        PgReq::Query(sql, args, r) => {
                            let refs: Vec<&(dyn ToSql + Sync)> =
                                args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
                            let rows = c.query(sql.as_str(), &refs).map_err(DbError::from);
                            let _ = r.send(rows.and_then(|rows| {
                                rows.iter()
                                    .map(|r| {
                                        (0..r.len())
                                            .map(|i| pg_val(r, i))
                                            .collect::<Result<Vec<Val>, DbError>>()
                                            .map(Row)
                                    })
                                    .collect()
                            }));
                        }
                    }
                }
            })
            .map_err(|e| DbError(format!("cannot start the PostgreSQL client thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| DbError("the PostgreSQL client thread ended".into()))??;
        Ok(PgWorker {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn ask<T>(
        &self,
        make: impl FnOnce(mpsc::Sender<Result<T, DbError>>) -> PgReq,
    ) -> Result<T, DbError> {
        let gone = || DbError("the PostgreSQL connection is gone".into());
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .as_ref()
            .ok_or_else(gone)?
            .send(make(rtx))
            .map_err(|_| gone())?;
        rrx.recv().map_err(|_| gone())?
    }
}

impl Drop for PgWorker {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop, which closes the connection.
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A connection to either backend.
pub(crate) enum Conn {
    Sqlite(rusqlite::Connection),
    Pg(PgWorker),
}

/// How long an SQLite writer waits for another (a scan's batch, an import) before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(60);

impl Conn {
    pub fn open_sqlite(path: &std::path::Path) -> Result<Conn, DbError> {
        let c = rusqlite::Connection::open(path)?;
        c.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
        // The multi-row statements of the writer (one per chunk size) beside the queries.
        c.set_prepared_statement_cache_capacity(64);
        // A scan inserts into indexes in random address order: every commit rewrites most of
        // their pages into the WAL, and each checkpoint syncs the database file, which on a
        // busy disk takes long. So: a page cache that holds the indexes of a large store
        // (32 MiB), and checkpoints every 32 MiB of WAL instead of 4. Once a checkpoint has
        // copied the WAL, the commit that starts it over cuts the file down to its own frames
        // (journal_size_limit 0): the file's length is then what it holds, which is how
        // `checkpoint_if_wal_over` measures it, and not the longest the WAL ever was. SQLite's
        // temporary tables and sorts stay in memory (`temp_store`): a multi-row upsert
        // (`insert_rows`) went through a temporary file, and an import of 100,000 nmap hosts
        // spent twice the system time in it (0.35 s against 0.70). Every query's rows are
        // collected in memory anyway.
        c.execute_batch(
            "PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; \
             PRAGMA wal_autocheckpoint = 8192; PRAGMA journal_size_limit = 0;",
        )?;
        Ok(Conn::Sqlite(c))
    }

    /// Put an SQLite store in WAL mode and return the mode it is in. SQLite does not call the
    /// busy handler for this switch, which needs the file to itself: when several processes
    /// open a new store at once, the others get "database is locked" at once while the first
    /// creates it. So a busy switch is retried for as long as the busy timeout (the mode is
    /// kept in the file: an existing store is already in WAL mode and switches nothing).
    pub fn sqlite_wal(&mut self) -> Result<String, DbError> {
        let Conn::Sqlite(c) = self else {
            return Err(DbError("not an SQLite store".into()));
        };
        let deadline = std::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            match c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if matches!(
                        e.code,
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                    ) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                r => return Ok(r?),
            }
        }
    }

    pub fn open_pg(url: &str) -> Result<Conn, DbError> {
        Ok(Conn::Pg(PgWorker::connect(url)?))
    }

    /// Run several statements without parameters (DDL, pragmas).
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(c) => c.execute_batch(sql)?,
            Conn::Pg(w) => w.ask(|r| PgReq::Batch(sql.to_string(), r))?,
        }
        Ok(())
    }

    /// Run one statement; the number of rows it changed.
    pub fn exec(&mut self, sql: &str, args: &[Val]) -> Result<u64, DbError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(&sqlite_sql(sql))?;
                Ok(st.execute(rusqlite::params_from_iter(args.iter()))? as u64)
            }
            Conn::Pg(w) => w.ask(|r| PgReq::Exec(sql.to_string(), args.to_vec(), r)),
        }
    }

    /// `INSERT INTO {table} ({names}) … {tail}` of `n` rows, row `i` given by `row(i)` as
    /// borrowed cells (`tail`: an `ON CONFLICT` clause or nothing; `kinds`: each column's type,
    /// for a column of nulls; `fresh`: none of the rows can exist yet, so `tail` cannot
    /// apply). SQLite: cached statements of [`SQLITE_ROWS_PER_INSERT`] rows (and one of one
    /// row for the rest), bound straight from the cells (nothing parsed, nothing copied per
    /// row). PostgreSQL: fresh rows by a
    /// binary `COPY`; others by one statement over arrays (`SELECT * FROM UNNEST($1::BIGINT[],
    /// …)`, prepared once per connection); one round trip for all the rows either way.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_rows<'a, const N: usize>(
        &mut self,
        table: &str,
        names: &[&str; N],
        kinds: &[Kind; N],
        tail: &str,
        fresh: bool,
        n: usize,
        mut row: impl FnMut(usize) -> [Cell<'a>; N],
    ) -> Result<(), DbError> {
        if n == 0 {
            return Ok(());
        }
        let names_sql = names.join(", ");
        match self {
            Conn::Sqlite(c) => {
                let k_rows = SQLITE_ROWS_PER_INSERT;
                // `(?1, …, ?N), (?N+1, …), …`: `rows` rows of N parameters.
                let group = |rows: usize| -> String {
                    (0..rows)
                        .map(|r| {
                            let p: Vec<String> =
                                (1..=N).map(|i| format!("?{}", r * N + i)).collect();
                            format!("({})", p.join(", "))
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                // Rows `from..to` by a statement of `per` rows each (`to - from` a multiple).
                let mut insert = |per: usize, from: usize, to: usize| -> Result<(), DbError> {
                    if from == to {
                        return Ok(());
                    }
                    let sql = format!(
                        "INSERT INTO {table} ({names_sql}) VALUES {} {tail}",
                        group(per)
                    );
                    let mut st = c.prepare_cached(&sql)?;
                    for start in (from..to).step_by(per) {
                        for r in 0..per {
                            for (k, cell) in row(start + r).into_iter().enumerate() {
                                st.raw_bind_parameter(r * N + k + 1, cell)?;
                            }
                        }
                        st.raw_execute()?;
                    }
                    Ok(())
                };
                // Groups of rows by one statement, the rest one by one.
                let full = n / k_rows * k_rows;
                insert(k_rows, 0, full)?;
                insert(1, full, n)
            }
            Conn::Pg(w) => {
                if fresh {
                    let mut data = CopyData::new(n, N);
                    for i in 0..n {
                        data.row(kinds, &row(i))?;
                    }
                    let req = CopyIn {
                        table: table.to_string(),
                        names: names_sql,
                        data: data.finish(),
                    };
                    return w.ask(|r| PgReq::Copy(req, r)).map(|_| ());
                }
                let mut cols: Vec<Col> = kinds.iter().map(|k| k.col(n)).collect();
                for i in 0..n {
                    for (col, cell) in cols.iter_mut().zip(row(i)) {
                        col.push(cell)?;
                    }
                }
                let arrays: Vec<String> = cols
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("${}::{}", i + 1, c.pg_array()))
                    .collect();
                let sql = format!(
                    "INSERT INTO {table} ({names_sql}) SELECT * FROM UNNEST({}) {tail}",
                    arrays.join(", ")
                );
                w.ask(|r| PgReq::Arrays(sql, cols, r)).map(|_| ())
            }
        }
    }

    /// Run one query; every row.
    pub fn query(&mut self, sql: &str, args: &[Val]) -> Result<Vec<Row>, DbError> {
        match self {
            Conn::Sqlite(c) => {
                let mut st = c.prepare_cached(&sqlite_sql(sql))?;
                let n = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    let mut vals = Vec::with_capacity(n);
                    for i in 0..n {
                        use rusqlite::types::ValueRef;
                        vals.push(match r.get_ref(i)? {
                            ValueRef::Null => Val::Null,
                            ValueRef::Integer(v) => Val::Int(v),
                            ValueRef::Real(v) => Val::Real(v),
                            ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into()),
                            ValueRef::Blob(b) => Val::Blob(b.to_vec()),
                        });
                    }
                    out.push(Row(vals));
                }
                Ok(out)
            }
            Conn::Pg(w) => w.ask(|r| PgReq::Query(sql.to_string(), args.to_vec(), r)),
        }
    }

    /// Run `f` in one transaction that takes the write lock at once (SQLite: `BEGIN
    /// IMMEDIATE`, so two writers queue instead of failing to upgrade a read lock): committed
    /// when `f` succeeds, rolled back when it fails.
    pub fn tx<T>(&mut self, f: impl FnOnce(&mut Conn) -> Result<T, DbError>) -> Result<T, DbError> {
        self.batch(match self {
            Conn::Sqlite(_) => "BEGIN IMMEDIATE",
            Conn::Pg(_) => "BEGIN",
        })?;
        match f(self) {
            Ok(v) => {
                self.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// When the WAL has grown to `over` bytes or more, copy what it holds into the database
    /// file, without waiting for readers or writers (SQLite's `PASSIVE` checkpoint): the next
    /// commit then starts the WAL over from its beginning. Each process that opens the store
    /// first reads the whole WAL (to rebuild its index): about 0.3 ms a MB here, 10 ms for the
    /// 32 MiB the automatic checkpoint lets it reach. A checkpoint costs its writes and a sync
    /// of the database file: 15-75 ms of a writer's time for one /17 scan's 8 MB, which on a
    /// saturated machine is time the scan loses too, so a short WAL is left as it is. The WAL
    /// is measured by its file's length, which is what it holds: the commit that starts it
    /// over after a checkpoint cuts the file down (`journal_size_limit`, set as it opens).
    /// Returns whether it ran. (PostgreSQL: nothing to do, `false`.)
    pub fn checkpoint_if_wal_over(&mut self, over: u64) -> Result<bool, DbError> {
        let Conn::Sqlite(c) = self else {
            return Ok(false);
        };
        let wal = c.path().map(|p| format!("{p}-wal"));
        let size = wal
            .and_then(|w| std::fs::metadata(w).ok())
            .map_or(0, |m| m.len());
        if size < over {
            return Ok(false);
        }
        c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(true)
    }

    /// Leave the WAL as it is when this connection closes, instead of copying it into the
    /// database file and syncing it (which can take long on a busy disk, at the end of a
    /// scan): the next writer's checkpoint copies it. Nothing is lost: under
    /// `synchronous = NORMAL` a commit in the WAL is as durable as a checkpointed one, and
    /// readers read through the WAL. (PostgreSQL: nothing to do.)
    pub fn skip_checkpoint_on_close(&mut self) -> Result<(), DbError> {
        if let Conn::Sqlite(c) = self {
            c.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                true,
            )?;
        }
        Ok(())
    }

    /// Whether SQLite opened the file read-only (this user may not write it; SQLite then opens
    /// it for reading without an error, and the first write fails). PostgreSQL: `false` (what a
    /// role may write is known when it writes).
    pub fn read_only(&self) -> bool {
        match self {
            Conn::Sqlite(c) => c.is_readonly(rusqlite::MAIN_DB).unwrap_or(false),
            Conn::Pg(_) => false,
        }
    }

    pub fn is_pg(&self) -> bool {
        matches!(self, Conn::Pg(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            sqlite_sql("SELECT $1, '$2', $10 WHERE a = $2"),
            "SELECT ?1, '$2', ?10 WHERE a = ?2"
        );
    }

    /// SQLite's rows go in groups of [`SQLITE_ROWS_PER_INSERT`] and one by one for the rest:
    /// every row lands once, in its columns, inserted and then upserted (the `tail`).
    #[test]
    fn sqlite_rows_go_in_groups_and_the_rest_one_by_one() {
        let mut c = Conn::open_sqlite(std::path::Path::new(":memory:")).unwrap();
        // (A multi-row upsert's temporary table stays in memory: 2 is MEMORY.)
        let temp = c.query("PRAGMA temp_store", &[]).unwrap();
        assert_eq!(temp[0].int(0).unwrap(), 2);
        c.batch("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT, b BLOB, r REAL)")
            .unwrap();
        let n = SQLITE_ROWS_PER_INSERT * 2 + 5;
        let names = ["k", "v", "b", "r"];
        let kinds = [Kind::Int, Kind::Text, Kind::Blob, Kind::Real];
        let texts: Vec<String> = (0..n).map(|i| format!("v{i}")).collect();
        let upsert = "ON CONFLICT (k) DO UPDATE SET v = excluded.v, r = excluded.r";
        for (round, fresh) in [(0.0, true), (1.0, false)] {
            c.insert_rows("t", &names, &kinds, upsert, fresh, n, |i| {
                [
                    Cell::Int(i as i64),
                    Cell::Text(&texts[i]),
                    if i % 3 == 0 {
                        Cell::Null
                    } else {
                        Cell::Blob(&[7])
                    },
                    Cell::Real(i as f64 + round),
                ]
            })
            .unwrap();
        }
        let rows = c.query("SELECT k, v, b, r FROM t ORDER BY k", &[]).unwrap();
        assert_eq!(rows.len(), n);
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(r.int(0).unwrap(), i as i64);
            assert_eq!(r.0[1], Val::Text(format!("v{i}")));
            assert_eq!(
                r.0[2],
                if i % 3 == 0 {
                    Val::Null
                } else {
                    Val::Blob(vec![7])
                }
            );
            assert_eq!(r.real(3).unwrap(), i as f64 + 1.0, "row {i} upserted");
        }
    }

    /// The binary COPY format, byte by byte, as PostgreSQL's documentation of COPY spells
    /// it (the server's own reading of it is tested by every store test on PostgreSQL).
    #[test]
    fn copy_rows_are_encoded_as_postgresql_reads_them() {
        let kinds = [Kind::Int, Kind::Int, Kind::Text, Kind::Blob, Kind::Real];
        let mut d = CopyData::new(2, 5);
        d.row(
            &kinds,
            &[
                Cell::Int(-2),
                Cell::Null,
                Cell::Text("ab"),
                Cell::Blob(&[0xff]),
                Cell::Real(1.5),
            ],
        )
        .unwrap();
        d.row(
            &kinds,
            &[
                Cell::Int(1),
                Cell::Int(0),
                Cell::Text(""),
                Cell::Null,
                Cell::Null,
            ],
        )
        .unwrap();
        let mut want: Vec<u8> = b"PGCOPY\n\xff\r\n\0".to_vec();
        want.extend([0, 0, 0, 0, 0, 0, 0, 0]);
        want.extend([0, 5]);
        want.extend([0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        want.extend([0xff, 0xff, 0xff, 0xff]);
        want.extend([0, 0, 0, 2, b'a', b'b']);
        want.extend([0, 0, 0, 1, 0xff]);
        want.extend([0, 0, 0, 8, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
        want.extend([0, 5]);
        want.extend([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
        want.extend([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
        want.extend([0, 0, 0, 0]);
        want.extend([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        want.extend([0xff, 0xff]);
        assert_eq!(d.finish(), want);
        // A cell of another kind than its column's is refused, not sent.
        let mut d = CopyData::new(1, 1);
        let e = d.row(&[Kind::Int], &[Cell::Text("x")]).unwrap_err();
        assert!(e.0.contains("internal error"), "{}", e.0);
        let e = d
            .row(&[Kind::Int], &[Cell::Int(1), Cell::Int(2)])
            .unwrap_err();
        assert!(e.0.contains("2 cells for 1 columns"), "{}", e.0);
    }
}

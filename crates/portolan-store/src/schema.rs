//! The schema and its versioned migrations.
//!
//! Migration `i` (1-based) brings a store from version `i - 1` to `i`; the version is SQLite's
//! `PRAGMA user_version`. Every migration runs in one transaction with the version bump, so a
//! store is always at a version the code knows. A store whose version is above
//! [`VERSION`] was written by a newer Portolan and is refused (reading it could misread it;
//! writing could corrupt it).

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// The migrations, in order.
pub const MIGRATIONS: &[&str] = &[
    // 1: scans, hosts, ports, exposures.
    "
    CREATE TABLE scans (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        -- connect, syn, udp (what ran)
        kind          TEXT NOT NULL,
        proto         TEXT NOT NULL,
        -- running (still writing, or the writer died), done, interrupted, failed
        status        TEXT NOT NULL,
        args          TEXT NOT NULL,
        -- the targets as given (addresses, blocks, ranges, names, -iL files, excludes): the key
        -- that finds earlier scans of the same targets
        targets       TEXT NOT NULL,
        targets_count INTEGER NOT NULL,
        ports         TEXT NOT NULL,
        num_ports     INTEGER NOT NULL,
        seed          INTEGER NOT NULL,
        shard         TEXT NOT NULL,
        resumed_from  INTEGER,
        scanner       TEXT NOT NULL,
        version       TEXT NOT NULL,
        -- seconds since the Unix epoch
        started       REAL NOT NULL,
        ended         REAL,
        planned       INTEGER NOT NULL DEFAULT 0,
        completed     INTEGER NOT NULL DEFAULT 0,
        sent          INTEGER NOT NULL DEFAULT 0,
        retries       INTEGER NOT NULL DEFAULT 0,
        open          INTEGER NOT NULL DEFAULT 0,
        closed        INTEGER NOT NULL DEFAULT 0,
        filtered      INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX scans_targets ON scans (targets, id);
    CREATE INDEX scans_started ON scans (started);

    CREATE TABLE hosts (
        scan_id   INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
        addr      TEXT NOT NULL,
        -- family byte + 16 address bytes: a network is a range of keys
        addr_key  BLOB NOT NULL,
        hostname  TEXT,
        up        INTEGER NOT NULL,
        up_reason TEXT,
        srtt_us   INTEGER,
        -- ports too numerous to list: [{state, count, reasons}] as JSON
        extra     TEXT NOT NULL DEFAULT '[]',
        PRIMARY KEY (scan_id, addr_key)
    );
    CREATE INDEX hosts_addr ON hosts (addr_key, scan_id);

    -- Every port a scan found that is not closed.
    CREATE TABLE ports (
        scan_id   INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
        addr      TEXT NOT NULL,
        addr_key  BLOB NOT NULL,
        proto     TEXT NOT NULL,
        port      INTEGER NOT NULL,
        state     TEXT NOT NULL,
        reason    TEXT NOT NULL,
        rtt_us    INTEGER,
        ttl       INTEGER,
        service   TEXT,
        product   TEXT,
        version   TEXT,
        extrainfo TEXT,
        -- space-separated CPE names
        cpe       TEXT,
        -- the whole service record (method, confidence, tunnel, details, exposures) as JSON
        service_json TEXT,
        seen      REAL NOT NULL,
        PRIMARY KEY (scan_id, addr_key, proto, port)
    );
    CREATE INDEX ports_addr ON ports (addr_key, proto, port, scan_id);
    CREATE INDEX ports_port ON ports (port, proto);
    CREATE INDEX ports_service ON ports (service);

    CREATE TABLE exposures (
        scan_id  INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
        addr_key BLOB NOT NULL,
        proto    TEXT NOT NULL,
        port     INTEGER NOT NULL,
        id       TEXT NOT NULL,
        severity TEXT NOT NULL,
        title    TEXT NOT NULL,
        evidence TEXT NOT NULL,
        PRIMARY KEY (scan_id, addr_key, proto, port, id)
    );
    ",
];

//! The catalog's schema and its migrations. `PRAGMA user_version` holds the format;
//! each migration moves it up by one, inside a transaction.

use anyhow::Result;
use rusqlite::Connection;

/// SQL that brings format N-1 to N: `MIGRATIONS[N-1]`.
const MIGRATIONS: &[&str] = &[
    // 1: the first format.
    "
    CREATE TABLE sources(
        vpath BLOB PRIMARY KEY,           -- normalised virtual path: '/' or '/a/b'
        path BLOB NOT NULL,               -- absolute physical folder
        follow_symlinks INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE rules(
        vpath BLOB PRIMARY KEY,           -- applies to this virtual path and below
        excludes TEXT NOT NULL DEFAULT '[]', -- JSON list of gitignore-style globs
        copies INTEGER,                   -- wanted copies (NULL: inherit, default 2)
        priority INTEGER                  -- higher first (NULL: inherit, default 0)
    );
    CREATE TABLE scans(
        id INTEGER PRIMARY KEY,
        started INTEGER NOT NULL,         -- unix seconds
        finished INTEGER                  -- NULL while running or interrupted
    );
    -- A path of the virtual tree. Its id never changes and serves as the inode number.
    CREATE TABLE entries(
        id INTEGER PRIMARY KEY,
        parent INTEGER NOT NULL,
        name BLOB NOT NULL,
        UNIQUE(parent, name)
    );
    INSERT INTO entries(id, parent, name) VALUES (1, 0, X'');
    CREATE TABLE objects(
        id INTEGER PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,        -- 32-byte SHA-256
        size INTEGER NOT NULL
    );
    -- What a path was, from the scan that first saw it to the last scan that saw it
    -- (end_scan NULL: still current).
    CREATE TABLE versions(
        id INTEGER PRIMARY KEY,
        entry INTEGER NOT NULL REFERENCES entries(id),
        first_scan INTEGER NOT NULL,
        end_scan INTEGER,
        kind INTEGER NOT NULL,            -- 1 folder, 2 file, 3 symlink
        mode INTEGER NOT NULL,            -- permission bits
        uid INTEGER NOT NULL,
        gid INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        size INTEGER NOT NULL,
        object INTEGER REFERENCES objects(id), -- files with content
        target BLOB,                      -- symlink target bytes
        dev INTEGER NOT NULL DEFAULT 0,   -- change detection and hard links
        ino INTEGER NOT NULL DEFAULT 0,
        nlink INTEGER NOT NULL DEFAULT 1,
        ctime_ns INTEGER NOT NULL DEFAULT 0,
        copies INTEGER NOT NULL DEFAULT 2,   -- wanted copies, from the rules
        priority INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX versions_entry ON versions(entry, first_scan);
    CREATE INDEX versions_current ON versions(entry) WHERE end_scan IS NULL;
    CREATE INDEX versions_object ON versions(object) WHERE object IS NOT NULL;
    CREATE TABLE disks(
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        uuid TEXT NOT NULL UNIQUE,
        path BLOB NOT NULL,               -- where it was last seen
        mount_rel BLOB NOT NULL,          -- the same folder relative to its filesystem's mount point
        cap INTEGER,                      -- bytes dsbfs may use; NULL: free space less a reserve
        added INTEGER NOT NULL,
        last_backup INTEGER,
        last_verify INTEGER
    );
    CREATE TABLE copies(
        object INTEGER NOT NULL REFERENCES objects(id),
        disk INTEGER NOT NULL REFERENCES disks(id),
        PRIMARY KEY(object, disk)
    ) WITHOUT ROWID;
    CREATE INDEX copies_disk ON copies(disk, object);
    ",
    // 2: `verify` resumes where it stopped; `status` plans for disks that are offline.
    "ALTER TABLE disks ADD COLUMN verify_cursor BLOB;
     ALTER TABLE disks ADD COLUMN last_free INTEGER;",
    // 3: history. Every finished scan is a snapshot; `forget` deletes snapshots (rows of
    // `scans`) and the versions no kept snapshot holds. The counts describe each snapshot
    // against the one before it (NULL for snapshots taken before this format: counted on
    // demand). `settings` holds the retention policy and the mass-change guard.
    "ALTER TABLE scans ADD COLUMN files INTEGER;
     ALTER TABLE scans ADD COLUMN bytes INTEGER;
     ALTER TABLE scans ADD COLUMN new_files INTEGER;
     ALTER TABLE scans ADD COLUMN changed_files INTEGER;
     ALTER TABLE scans ADD COLUMN deleted_files INTEGER;
     CREATE TABLE settings(
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL              -- JSON
     );",
    // 4: a compact catalog, for history and millions of files. Objects are found by an
    // index of their hash's first 6 bytes (the full hash is compared), not by a unique
    // index of all 32. Versions are keyed by (entry, first_scan) without a rowid (that key
    // was an index of its own), keep ctime as its distance from mtime (0 for most files,
    // stored in no bytes), and lose the index of current versions (an entry's versions
    // are few, and found through the key). Versions are indexed by content only where a
    // file has hard links (the mount counts its names); what else looks for the versions
    // of a content (forget, flagging sources for a re-hash) reads them all in one pass.
    "CREATE TABLE objects_compact(
        id INTEGER PRIMARY KEY,
        hash BLOB NOT NULL,               -- 32-byte SHA-256, found through objects_prefix
        size INTEGER NOT NULL
     );
     INSERT INTO objects_compact(id, hash, size) SELECT id, hash, size FROM objects;
     DROP TABLE objects;
     ALTER TABLE objects_compact RENAME TO objects;
     CREATE INDEX objects_prefix ON objects(substr(hash, 1, 6));
     CREATE TABLE versions_compact(
        entry INTEGER NOT NULL REFERENCES entries(id),
        first_scan INTEGER NOT NULL,
        end_scan INTEGER,
        kind INTEGER NOT NULL,
        mode INTEGER NOT NULL,
        uid INTEGER NOT NULL,
        gid INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        size INTEGER NOT NULL,
        object INTEGER,                   -- objects(id); not a declared foreign key, whose
                                          -- checks would need versions indexed by content
        target BLOB,
        dev INTEGER NOT NULL DEFAULT 0,
        ino INTEGER NOT NULL DEFAULT 0,
        nlink INTEGER NOT NULL DEFAULT 1,
        ctime_after_mtime INTEGER NOT NULL DEFAULT 0, -- ctime_ns - mtime_ns
        copies INTEGER NOT NULL DEFAULT 2,
        priority INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY(entry, first_scan)
     ) WITHOUT ROWID;
     INSERT OR REPLACE INTO versions_compact SELECT entry, first_scan, end_scan, kind, mode,
        uid, gid, mtime_ns, size, object, target, dev, ino, nlink,
        CASE WHEN abs(ctime_ns / 2 - mtime_ns / 2) < 4000000000000000000
             THEN ctime_ns - mtime_ns ELSE -1 - mtime_ns END,
        copies, priority FROM versions ORDER BY id;
     DROP TABLE versions;
     ALTER TABLE versions_compact RENAME TO versions;
     CREATE INDEX versions_links ON versions(object, dev, ino) WHERE nlink > 1;",
    // 5: the hash (BLAKE3) of each block of every object of more than one block, so that
    // any part of a file can be checked when it is read (an object of one block is
    // checked against its own SHA-256). Recorded by backup (from the bytes it writes)
    // and verify.
    "CREATE TABLE object_blocks(
        object INTEGER PRIMARY KEY REFERENCES objects(id) ON DELETE CASCADE,
        block_size INTEGER NOT NULL,     -- bytes per block (1 MiB); the last may be shorter
        hashes BLOB NOT NULL             -- the 32-byte BLAKE3 hash of each block, in order
     );",
    // 6: run history. A row per scan, backup, verify, restore and forget, written when the
    // run starts and completed when it ends; `result` NULL: running, or killed (the next
    // run that holds the catalog's lock marks it interrupted).
    "CREATE TABLE runs(
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,               -- scan, backup, verify, restore, forget
        started INTEGER NOT NULL,         -- unix seconds
        finished INTEGER,
        origin TEXT NOT NULL,             -- hand or watch
        host TEXT NOT NULL,               -- the machine it ran on
        disk INTEGER,                     -- disks.id, no reference: a disk may be forgotten
        disk_name TEXT,                   -- its name then
        result TEXT,                      -- ok, attention, failed, interrupted
        files INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        summary TEXT NOT NULL DEFAULT '', -- one line for people
        errors TEXT NOT NULL DEFAULT '[]',-- JSON: the first errors
        copies TEXT                       -- JSON: [files, bytes] with 0, 1, 2, 3+ copies after it
     );
     CREATE INDEX runs_started ON runs(started);
     CREATE INDEX runs_disk ON runs(disk, kind, started);",
];

/// The format this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current >= VERSION {
        return Ok(());
    }
    // Tables are rebuilt by copy, drop and rename: references to them must not be
    // checked (or cascade) half way. The pragma only works outside a transaction.
    conn.execute_batch("PRAGMA foreign_keys=OFF")?;
    let result = run_migrations(conn, current);
    conn.execute_batch("PRAGMA foreign_keys=ON")?;
    result
}

fn run_migrations(conn: &Connection, current: i64) -> Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let next = i as i64 + 1;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA application_id = {}; PRAGMA user_version = {next}; COMMIT;",
            super::APPLICATION_ID
        ))
        .inspect_err(|_| {
            let _ = conn.execute_batch("ROLLBACK");
        })?;
    }
    Ok(())
}

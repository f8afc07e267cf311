//! Designs stored in an embedded SQLite database (`<data-dir>/netloom.db`).
//!
//! Every design carries a revision that each save increments. A save names the
//! revision it was based on; when someone else saved in between, the save is
//! refused ([`StoreError::Conflict`]) instead of overwriting their work. WAL
//! journaling with `synchronous=FULL` means a save that was answered survives
//! a crash. Only the latest revision's text is kept, and the store has a
//! quota ([`MAX_DESIGNS`], [`MAX_STORE_BYTES`]) so that no client can fill
//! the disk.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

/// Most designs stored.
pub const MAX_DESIGNS: usize = 1_000;
/// Most bytes the database may hold (its pages in use), all designs together;
/// a design's text is at most `netloom_core::limits::MAX_FILE_BYTES`.
pub const MAX_STORE_BYTES: usize = 256 * 1024 * 1024;

pub use netloom_core::api::{Design, DesignInfo};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no design with id {0}")]
    NotFound(i64),
    #[error("design {id} was saved elsewhere since you opened it (you had revision {yours}, it is now at revision {current}); reload it, or save yours as a copy")]
    Conflict { id: i64, yours: i64, current: i64 },
    /// The save would take the store over its quota; says which limit.
    #[error("{0}")]
    Quota(String),
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

/// How much a store may hold; [`MAX_DESIGNS`] and [`MAX_STORE_BYTES`] unless a test says less.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub designs: usize,
    pub bytes: usize,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            designs: MAX_DESIGNS,
            bytes: MAX_STORE_BYTES,
        }
    }
}

/// Take group's and others' access away from `path` (keeping at most `mode`).
fn private(path: &Path, mode: u32) -> Result<(), String> {
    let m = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if m.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("cannot make {} private: {e}", path.display()))?;
    }
    Ok(())
}

/// The database; cheap to clone, one connection behind a lock (saves are small).
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    quota: Quota,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Open (or create) `netloom.db` in `dir`, creating the directory. The
    /// directory and the database's files are made private (0700, 0600) if
    /// they were not; SQLite gives the journals it makes later the
    /// database's mode.
    pub fn open(dir: &Path) -> Result<Store, String> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        private(dir, 0o700)?;
        let path = dir.join("netloom.db");
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let f = dir.join(format!("netloom.db{suffix}"));
            if f.exists() {
                private(&f, 0o600)?;
            }
        }
        if !path.exists() {
            // Made here, not by SQLite: private from the start, whatever the umask.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        }
        let conn =
            Connection::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        Self::init(conn).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A private database in memory (tests).
    #[cfg(test)]
    pub fn in_memory() -> Store {
        Self::init(Connection::open_in_memory().expect("sqlite in memory")).expect("schema")
    }

    fn init(conn: Connection) -> rusqlite::Result<Store> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS designs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL,
                text TEXT NOT NULL,
                revision INTEGER NOT NULL,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL
            );",
        )?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            quota: Quota::default(),
        })
    }

    #[cfg(test)]
    pub fn with_quota(self, quota: Quota) -> Store {
        Store { quota, ..self }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written
        // (transactions roll back), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn list(&self) -> Result<Vec<DesignInfo>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, name, revision, updated FROM designs ORDER BY updated DESC, id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(DesignInfo {
                id: r.get(0)?,
                name: r.get(1)?,
                revision: r.get(2)?,
                updated: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn get(&self, id: i64) -> Result<Design, StoreError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT id, name, revision, updated, text FROM designs WHERE id = ?1",
            [id],
            |r| {
                Ok(Design {
                    info: DesignInfo {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        revision: r.get(2)?,
                        updated: r.get(3)?,
                    },
                    text: r.get(4)?,
                })
            },
        )
        .optional()?
        .ok_or(StoreError::NotFound(id))
    }

    pub fn create(&self, name: &str, text: &str) -> Result<DesignInfo, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let (count, bytes) = usage(&tx)?;
        if count >= self.quota.designs {
            return Err(StoreError::Quota(format!(
                "the server stores {count} designs; the limit is {}: delete one first",
                self.quota.designs
            )));
        }
        self.check_bytes(bytes + name.len() + text.len())?;
        let t = now();
        tx.execute(
            "INSERT INTO designs (name, text, revision, created, updated) VALUES (?1, ?2, 1, ?3, ?3)",
            params![name, text, t],
        )?;
        let id = tx.last_insert_rowid();
        tx.commit()?;
        Ok(DesignInfo {
            id,
            name: name.to_string(),
            revision: 1,
            updated: t,
        })
    }

    /// Save a new text and/or name on top of revision `base`.
    pub fn update(
        &self,
        id: i64,
        base: i64,
        name: Option<&str>,
        text: Option<&str>,
    ) -> Result<DesignInfo, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let current: Option<(i64, String, usize)> = tx
            .query_row(
                "SELECT revision, name, length(CAST(text AS BLOB)) FROM designs WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (current, old_name, old_text) = current.ok_or(StoreError::NotFound(id))?;
        if current != base {
            return Err(StoreError::Conflict {
                id,
                yours: base,
                current,
            });
        }
        let (_, bytes) = usage(&tx)?;
        let new_name = name.map_or(old_name.len(), str::len);
        let new_text = text.map_or(old_text, str::len);
        // What this design holds now is replaced by what it will hold.
        self.check_bytes((bytes + new_name + new_text).saturating_sub(old_name.len() + old_text))?;
        let name = name.map(str::to_string).unwrap_or(old_name);
        let t = now();
        tx.execute(
            "UPDATE designs SET name = ?1, text = COALESCE(?2, text), revision = revision + 1, updated = ?3
             WHERE id = ?4",
            params![name, text, t, id],
        )?;
        tx.commit()?;
        Ok(DesignInfo {
            id,
            name,
            revision: current + 1,
            updated: t,
        })
    }

    fn check_bytes(&self, bytes: usize) -> Result<(), StoreError> {
        if bytes > self.quota.bytes {
            return Err(StoreError::Quota(format!(
                "the design database would hold {bytes} bytes; the limit is {}: delete designs first",
                self.quota.bytes
            )));
        }
        Ok(())
    }

    pub fn delete(&self, id: i64) -> Result<(), StoreError> {
        let conn = self.lock();
        match conn.execute("DELETE FROM designs WHERE id = ?1", [id])? {
            0 => Err(StoreError::NotFound(id)),
            _ => Ok(()),
        }
    }
}

/// Designs stored, and the bytes of the database's pages in use (read from
/// its header: no scan of the texts).
fn usage(conn: &Connection) -> rusqlite::Result<(usize, usize)> {
    conn.query_row(
        "SELECT (SELECT count(*) FROM designs),
                (p.page_count - f.freelist_count) * s.page_size
         FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_refuse_stale_saves() {
        let s = Store::in_memory();
        let d = s.create("lab", "a").unwrap();
        assert_eq!(d.revision, 1);
        let d2 = s.update(d.id, 1, None, Some("b")).unwrap();
        assert_eq!(d2.revision, 2);
        // A second tab still on revision 1 must not overwrite "b".
        let err = s.update(d.id, 1, None, Some("c")).unwrap_err();
        assert!(matches!(
            err,
            StoreError::Conflict {
                yours: 1,
                current: 2,
                ..
            }
        ));
        assert_eq!(s.get(d.id).unwrap().text, "b");
        let renamed = s.update(d.id, 2, Some("lab2"), None).unwrap();
        assert_eq!((renamed.name.as_str(), renamed.revision), ("lab2", 3));
        assert_eq!(s.get(d.id).unwrap().text, "b");
    }

    #[test]
    fn survives_reopen() {
        let dir = std::env::temp_dir().join(format!("netloom-store-{}", std::process::id()));
        let id = Store::open(&dir).unwrap().create("x", "text").unwrap().id;
        assert_eq!(Store::open(&dir).unwrap().get(id).unwrap().text, "text");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_quota_refuses_saves_and_keeps_what_was_stored() {
        let s = Store::in_memory().with_quota(Quota {
            designs: 2,
            bytes: 1 << 20,
        });
        let a = s.create("a", "x").unwrap();
        s.create("b", "y").unwrap();
        let e = s.create("c", "z").unwrap_err();
        assert!(
            matches!(&e, StoreError::Quota(m) if m.contains("2 designs; the limit is 2")),
            "{e}"
        );
        // Bytes: a text that would take the database over is refused, the old one stays.
        let big = "#".repeat(1 << 20);
        let e = s.update(a.id, 1, None, Some(&big)).unwrap_err();
        assert!(
            matches!(&e, StoreError::Quota(m) if m.contains(&format!("the limit is {}", 1 << 20))),
            "{e}"
        );
        assert_eq!(
            (s.get(a.id).unwrap().text.as_str(), s.list().unwrap().len()),
            ("x", 2)
        );
        // Deleting makes room again.
        s.delete(a.id).unwrap();
        s.create("c", &big[..1000]).unwrap();
    }

    #[test]
    fn the_data_directory_and_database_files_are_private() {
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = std::env::temp_dir().join(format!("netloom-store-modes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let s = Store::open(&dir).unwrap();
        s.create("x", "text").unwrap();
        assert_eq!(mode(&dir), 0o700);
        for f in ["netloom.db", "netloom.db-wal", "netloom.db-shm"] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        drop(s);
        // Made by an older netloom: opening makes them private.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(
            dir.join("netloom.db"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let s = Store::open(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("netloom.db")), 0o600);
        s.create("y", "text").unwrap();
        assert_eq!(s.list().unwrap().len(), 2);
        // SQLite makes its journals again with the database's mode.
        for f in ["netloom.db-wal", "netloom.db-shm"] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn delete_and_missing() {
        let s = Store::in_memory();
        let d = s.create("x", "t").unwrap();
        s.delete(d.id).unwrap();
        assert!(matches!(s.delete(d.id), Err(StoreError::NotFound(_))));
        assert!(matches!(s.get(d.id), Err(StoreError::NotFound(_))));
        assert!(s.list().unwrap().is_empty());
    }
}

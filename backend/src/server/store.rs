//! Designs stored in an embedded SQLite database (`<data-dir>/netloom.db`).
//!
//! Every design carries a revision that each save increments. A save names the
//! revision it was based on; when someone else saved in between, the save is
//! refused ([`StoreError::Conflict`]) instead of overwriting their work. WAL
//! journaling with `synchronous=FULL` means a save that was answered survives
//! a crash.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// A design without its text, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesignInfo {
    pub id: i64,
    pub name: String,
    pub revision: i64,
    /// Seconds since the Unix epoch.
    pub updated: i64,
}

/// A design with its topology text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Design {
    #[serde(flatten)]
    pub info: DesignInfo,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no design with id {0}")]
    NotFound(i64),
    #[error("design {id} was saved elsewhere since you opened it (you had revision {yours}, it is now at revision {current}); reload it, or save yours as a copy")]
    Conflict { id: i64, yours: i64, current: i64 },
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
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
        })
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
        let conn = self.lock();
        let t = now();
        conn.execute(
            "INSERT INTO designs (name, text, revision, created, updated) VALUES (?1, ?2, 1, ?3, ?3)",
            params![name, text, t],
        )?;
        Ok(DesignInfo {
            id: conn.last_insert_rowid(),
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
        let current: Option<(i64, String)> = tx
            .query_row(
                "SELECT revision, name FROM designs WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (current, old_name) = current.ok_or(StoreError::NotFound(id))?;
        if current != base {
            return Err(StoreError::Conflict {
                id,
                yours: base,
                current,
            });
        }
        let t = now();
        let name = name.map(str::to_string).unwrap_or(old_name);
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

    pub fn delete(&self, id: i64) -> Result<(), StoreError> {
        let conn = self.lock();
        match conn.execute("DELETE FROM designs WHERE id = ?1", [id])? {
            0 => Err(StoreError::NotFound(id)),
            _ => Ok(()),
        }
    }
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

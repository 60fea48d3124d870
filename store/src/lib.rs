//! troop-store: the SQLite implementation of [`troop_core::Store`].
//!
//! Invariants:
//! - Schema changes only through the numbered migrations in [`migrations`],
//!   tracked in `PRAGMA user_version`.
//! - A monkey pass is committed in exactly one transaction (`commit_pass`);
//!   WAL journaling means readers never see half a pass and a process killed
//!   at any point leaves the previous state intact.
//! - A pass's finding events enter the alert log in the pass's transaction;
//!   a gateway round (cursor, groups, outbox) is one transaction too, so no
//!   event is lost or queued twice.
//! - A revision is written only when an item's canonical content hash changes;
//!   items are marked deleted only inside a scope the pass covered completely.

mod alerts;
#[cfg(test)]
mod conformance;
mod migrations;
mod sqlite;

pub use sqlite::SqliteStore;
pub use troop_core::store::StoreHandle;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported store URL `{0}`: use sqlite://PATH")]
    Unsupported(String),
    #[error("postgres stores are not available in this build; use sqlite://PATH")]
    Postgres,
    #[error("cannot open store {path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("store {path} has schema version {found}, newer than this troop understands ({known}); upgrade troop")]
    TooNew { path: String, found: i64, known: i64 },
    #[error(
        "no store at {path}: nothing has been recorded there. Run `troop scan` (or `troop run`) first, \
         or name the config whose store you mean with -c/--config or TROOP_CONFIG"
    )]
    Missing { path: String },
}

/// Open the store named by an `[agent] store` URL for reading: a store that
/// does not exist yet is [`OpenError::Missing`], never created empty (an
/// empty answer from the wrong directory would read as all-clear).
pub fn open_existing(url: &str) -> Result<StoreHandle, OpenError> {
    if let Some(path) = url.strip_prefix("sqlite://")
        && !std::path::Path::new(path).exists()
    {
        return Err(OpenError::Missing { path: path.to_string() });
    }
    open(url)
}

/// Whether this build can open the store a URL names, without opening it
/// (`troop config check`): the reason when it cannot.
pub fn supported(url: &str) -> Result<(), String> {
    match url {
        u if u.starts_with("sqlite://") => {
            let path = std::path::Path::new(&u["sqlite://".len()..]);
            match path.parent().filter(|d| !d.as_os_str().is_empty()) {
                Some(dir) if !dir.is_dir() => {
                    Err(format!("cannot open store {}: the directory {} does not exist", path.display(), dir.display()))
                }
                _ => Ok(()),
            }
        }
        u if u.starts_with("postgres://") => Err(OpenError::Postgres.to_string()),
        other => Err(OpenError::Unsupported(other.to_string()).to_string()),
    }
}

/// Open the store named by an `[agent] store` URL, creating it if needed:
/// the one place that names a concrete backend.
pub fn open(url: &str) -> Result<StoreHandle, OpenError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(std::sync::Arc::new(SqliteStore::open(path)?))
    } else if url.starts_with("postgres://") {
        Err(OpenError::Postgres)
    } else {
        Err(OpenError::Unsupported(url.to_string()))
    }
}

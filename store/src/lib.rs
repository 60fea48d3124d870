//! troop-store: the store contract ([`troop_core::store::Backend`]) on
//! SQLite (embedded, one host) and PostgreSQL (shared by processes).
//!
//! Invariants:
//! - Schema changes only through numbered, append-only migrations: SQLite's
//!   in `migrations` (tracked in `PRAGMA user_version`), PostgreSQL's in
//!   `postgres::schema` (table `troop_schema`, applied under a lock).
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
pub mod copy;
mod migrations;
mod postgres;
mod sqlite;
#[doc(hidden)]
pub mod testing;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use troop_core::store::StoreHandle;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported store URL `{0}`: use sqlite://PATH or postgres://USER@HOST/DB")]
    Unsupported(String),
    #[error("cannot open store {url}: {reason}")]
    Postgres { url: String, reason: String },
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
pub fn open_existing(url: &str, password: Option<&str>) -> Result<StoreHandle, OpenError> {
    // a file that is not there, or empty, holds no store
    if let Some(path) = url.strip_prefix("sqlite://")
        && std::fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true)
    {
        return Err(OpenError::Missing { path: path.to_string() });
    }
    if is_postgres(url) {
        return Ok(std::sync::Arc::new(PgStore::open_existing(url, password)?));
    }
    open(url, password)
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
        u if is_postgres(u) => {
            postgres::connect::check(u).map_err(|reason| OpenError::Postgres { url: shown(u), reason }.to_string())
        }
        other => Err(OpenError::Unsupported(shown(other)).to_string()),
    }
}

/// A store URL as troop shows it: its user kept, its password never (even
/// one with an un-encoded `@`, `:` or `/`: everything between `://` and the
/// last `@` before the query is the user information).
pub fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let main = match main.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if user.is_empty() { host.to_string() } else { format!("{user}@{host}") }
        }
        None => main.to_string(),
    };
    // a password may sit in the query too (`?password=`)
    let query = query.map(|q| {
        q.split('&')
            .map(|kv| if kv.starts_with("password=") { "password=<redacted>" } else { kv })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(q) => format!("{scheme}://{main}?{q}"),
        None => format!("{scheme}://{main}"),
    }
}

/// Whether a store URL names PostgreSQL (`postgres://`, `postgresql://`).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Open the store named by an `[agent] store` URL, creating it if needed
/// (`password`: `[agent] store_password`, for PostgreSQL): the one place
/// that names a concrete backend.
pub fn open(url: &str, password: Option<&str>) -> Result<StoreHandle, OpenError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(std::sync::Arc::new(SqliteStore::open(path)?))
    } else if is_postgres(url) {
        Ok(std::sync::Arc::new(PgStore::open(url, password)?))
    } else {
        Err(OpenError::Unsupported(url.to_string()))
    }
}

/// Every table of the store, in an order that copies respect foreign keys.
pub const TABLES: &[&str] = &[
    "passes",
    "items",
    "revisions",
    "findings",
    "observations",
    "alert_events",
    "alert_meta",
    "alert_groups",
    "alert_group_members",
    "outbox",
    "outbox_payloads",
    "silences",
    "alert_lease",
    "pass_lease",
    "sink_health",
    "replicas",
    "change_events",
    "alert_transitions",
];

#[cfg(test)]
mod shown_tests {
    #[test]
    fn a_url_is_shown_with_its_user_and_never_its_password() {
        let cases = [
            ("postgres://troop@db/t", "postgres://troop@db/t"),
            ("postgres://troop:s3cret@db:5432/t?sslmode=require", "postgres://troop@db:5432/t?sslmode=require"),
            ("postgres://spec:p@ss:w/rd%1@127.0.0.1:55432/pwdb", "postgres://spec@127.0.0.1:55432/pwdb"),
            ("postgresql://:pw@db/t", "postgresql://db/t"),
            ("postgres://u@h/d?password=x&sslmode=disable", "postgres://u@h/d?password=<redacted>&sslmode=disable"),
            ("sqlite:///var/lib/troop.db", "sqlite:///var/lib/troop.db"),
        ];
        for (url, want) in cases {
            assert_eq!(super::shown(url), want, "{url}");
        }
    }
}

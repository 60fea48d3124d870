//! `troop store migrate`: copy a whole store into an empty PostgreSQL one —
//! every table ([`crate::TABLES`]: revisions with their history, findings,
//! the alert log with its cursor, groups, outboxes, silences, observations,
//! leases) — in one transaction, then check every table's row count.
//!
//! The two schemas have the same tables and columns (the PostgreSQL one is
//! the SQLite one at its current version); values keep their meaning and
//! unit, only the column types differ (booleans, integers' widths), and are
//! converted by the target column's type.

use crate::postgres::pe;
use crate::{OpenError, PgStore, SqliteStore};
use std::collections::BTreeMap;
use tokio_postgres::types::ToSql;
use troop_core::store::StoreError;

/// Rows read and written at a time.
const BATCH: i64 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// What the user asked cannot be done (a target that is not empty, or
    /// not PostgreSQL): nothing was copied.
    #[error("{0}")]
    Refused(String),
    /// The copy's counts did not match: nothing was kept.
    #[error("{0}")]
    Mismatch(String),
}

/// Per table: rows in the source and in the target after the copy.
pub type Counts = BTreeMap<String, (i64, i64)>;

/// Copy the store at `from` into the empty store at `to` (`to_password`
/// for it), reporting progress per table through `progress(table, rows
/// so far)`. Refuses a target that holds anything, and fails (the target
/// left empty: one transaction) when any table's count differs after.
pub fn migrate(
    from: &str,
    to: &str,
    from_password: Option<&str>,
    to_password: Option<&str>,
    progress: &dyn Fn(&str, i64),
) -> Result<Counts, CopyError> {
    if !crate::is_postgres(to) {
        return Err(CopyError::Refused(format!(
            "the target must be a PostgreSQL store (postgres://…), not {}",
            crate::shown(to)
        )));
    }
    let source = Source::open(from, from_password)?;
    let target = PgStore::open(to, to_password)?;
    let before = target.counts()?;
    if let Some((table, n)) = before.iter().find(|(_, n)| **n > 0) {
        return Err(CopyError::Refused(format!(
            "the target store is not empty ({table} has {n} rows); migrate copies into an empty database only"
        )));
    }
    // One transaction on the target; the source is read between its
    // statements (each side blocks on its own runtime, never one inside the other).
    let mut client = target.client()?;
    let tx = target.block(client.transaction()).map_err(pe)?;
    let mut counts = Counts::new();
    for table in crate::TABLES {
        let types: Vec<(String, String)> = target
            .block(tx.query(
                "SELECT column_name, data_type FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                &[table],
            ))
            .map_err(pe)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let (mut after, mut copied) = (0i64, 0i64);
        loop {
            let (rows, last) = source.batch(table, &types, after)?;
            if rows.is_empty() {
                break;
            }
            after = last;
            copied += rows.len() as i64;
            target.block(insert(&tx, table, &types, &rows))?;
            progress(table, copied);
        }
        // serial columns continue after the copied ids
        let serial = types.iter().find(|(c, _)| {
            matches!(
                (*table, c.as_str()),
                ("passes", "id")
                    | ("alert_events", "seq")
                    | ("outbox", "id")
                    | ("change_events", "seq")
                    | ("alert_transitions", "seq")
            )
        });
        if let Some((col, _)) = serial {
            target
                .block(tx.execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{col}'), COALESCE((SELECT MAX({col}) FROM {table}), 0) + 1, false)"
                    ),
                    &[],
                ))
                .map_err(pe)?;
        }
        let n: i64 = target.block(tx.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])).map_err(pe)?.get(0);
        counts.insert(table.to_string(), (source.count(table)?, n));
    }
    if let Some((table, (a, b))) = counts.iter().find(|(_, (a, b))| a != b) {
        return Err(CopyError::Mismatch(format!(
            "{table}: {a} rows in the source, {b} copied; nothing was kept (the copy is one transaction)"
        )));
    }
    target.block(tx.commit()).map_err(pe)?;
    Ok(counts)
}

/// One value of a row, as the source held it.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
}

enum Source {
    Sqlite(SqliteStore),
    Pg(PgStore),
}

impl Source {
    fn open(url: &str, password: Option<&str>) -> Result<Source, CopyError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if !std::path::Path::new(path).exists() {
                return Err(OpenError::Missing { path: path.to_string() }.into());
            }
            Ok(Source::Sqlite(SqliteStore::open(path)?))
        } else if crate::is_postgres(url) {
            Ok(Source::Pg(PgStore::open_existing(url, password)?))
        } else {
            Err(OpenError::Unsupported(url.to_string()).into())
        }
    }

    fn count(&self, table: &str) -> Result<i64, StoreError> {
        match self {
            Source::Sqlite(s) => s
                .lock()
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .map_err(crate::sqlite::be),
            Source::Pg(p) => p.count(table),
        }
    }

    /// Up to [`BATCH`] rows of `table` after row number `after`, in the
    /// target's column order; and the last row number read.
    fn batch(
        &self,
        table: &str,
        columns: &[(String, String)],
        after: i64,
    ) -> Result<(Vec<Vec<Value>>, i64), StoreError> {
        let cols: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        match self {
            Source::Sqlite(s) => {
                let conn = s.lock();
                let sql = format!(
                    "SELECT rowid, {} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT {BATCH}",
                    cols.join(", ")
                );
                let mut st = conn.prepare(&sql).map_err(crate::sqlite::be)?;
                let mut rows = st.query([after]).map_err(crate::sqlite::be)?;
                let (mut out, mut last) = (Vec::new(), after);
                while let Some(r) = rows.next().map_err(crate::sqlite::be)? {
                    last = r.get(0).map_err(crate::sqlite::be)?;
                    let mut row = Vec::with_capacity(cols.len());
                    for i in 0..cols.len() {
                        use rusqlite::types::ValueRef;
                        row.push(match r.get_ref(i + 1).map_err(crate::sqlite::be)? {
                            ValueRef::Null => Value::Null,
                            ValueRef::Integer(n) => Value::Int(n),
                            ValueRef::Real(f) => Value::Int(f as i64),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                Value::Text(String::from_utf8_lossy(t).into_owned())
                            }
                        });
                    }
                    out.push(row);
                }
                Ok((out, last))
            }
            Source::Pg(p) => {
                let client = p.client()?;
                let select: Vec<String> = columns
                    .iter()
                    .map(|(c, t)| match t.as_str() {
                        "boolean" => format!("{c}::int::bigint"),
                        "integer" => format!("{c}::bigint"),
                        _ => c.clone(),
                    })
                    .collect();
                let sql =
                    format!("SELECT {} FROM {table} ORDER BY ctid OFFSET {after} LIMIT {BATCH}", select.join(", "));
                let rows = p.block(client.query(&sql, &[])).map_err(pe)?;
                let out: Vec<Vec<Value>> = rows
                    .iter()
                    .map(|r| {
                        columns
                            .iter()
                            .enumerate()
                            .map(|(i, (_, t))| match t.as_str() {
                                "text" => r.get::<_, Option<String>>(i).map_or(Value::Null, Value::Text),
                                _ => r.get::<_, Option<i64>>(i).map_or(Value::Null, Value::Int),
                            })
                            .collect()
                    })
                    .collect();
                let last = after + out.len() as i64;
                Ok((out, last))
            }
        }
    }
}

/// Insert rows into `table` with one statement (`UNNEST` of one array per
/// column, each converted to the column's type).
async fn insert(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    columns: &[(String, String)],
    rows: &[Vec<Value>],
) -> Result<(), StoreError> {
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut casts = Vec::new();
    for (i, (_, ty)) in columns.iter().enumerate() {
        let col = rows.iter().map(|r| r[i].clone());
        match ty.as_str() {
            "bigint" => {
                params.push(Box::new(col.map(|v| as_int(&v)).collect::<Vec<Option<i64>>>()));
                casts.push(format!("${}::bigint[]", i + 1));
            }
            "integer" => {
                params.push(Box::new(col.map(|v| as_int(&v).map(|n| n as i32)).collect::<Vec<Option<i32>>>()));
                casts.push(format!("${}::integer[]", i + 1));
            }
            "boolean" => {
                params.push(Box::new(col.map(|v| as_int(&v).map(|n| n != 0)).collect::<Vec<Option<bool>>>()));
                casts.push(format!("${}::boolean[]", i + 1));
            }
            _ => {
                params.push(Box::new(
                    col.map(|v| match v {
                        Value::Null => None,
                        Value::Int(n) => Some(n.to_string()),
                        Value::Text(t) => Some(t),
                    })
                    .collect::<Vec<Option<String>>>(),
                ));
                casts.push(format!("${}::text[]", i + 1));
            }
        }
    }
    let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
    let sql = format!("INSERT INTO {table} ({}) SELECT * FROM UNNEST({})", names.join(", "), casts.join(", "));
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
    tx.execute(&sql, &refs).await.map_err(pe).map(|_| ())
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Null => None,
        Value::Int(n) => Some(*n),
        Value::Text(t) => t.parse().ok(),
    }
}

//! `PgStore`: the store contract on PostgreSQL (tokio-postgres, pooled by
//! deadpool-postgres, TLS by rustls), for several processes sharing one
//! estate's store.
//!
//! The traits are synchronous (see [`troop_core::store::Backend`]); this
//! backend owns a small runtime of its own that drives the connections, and
//! each call blocks its (blocking) caller thread on it. Called from a
//! runtime worker it panics: the invariant that no store call runs there is
//! enforced, not just stated.
//!
//! Invariants beyond the contract's:
//! - migrations ([`schema::MIGRATIONS`]) run at open under a session
//!   advisory lock, each once, whoever starts first;
//! - leases are decided under a transaction-scoped advisory lock per shard
//!   (and one for the gateway lease), so two processes never both win;
//! - the alert log's sequence numbers commit in order: a commit takes
//!   [`schema::ALERT_LOG_LOCK`] before appending its events and holds it to
//!   its end, so no reader can see event n+1 before event n is committed and
//!   move its cursor past it;
//! - a shard's writes are bulk statements (`UNNEST` of arrays), and what the
//!   planner asks of each item of a pass is read in one query up front.

mod alerts;
pub(crate) mod connect;
pub(crate) mod schema;
#[cfg(test)]
mod tests;

use crate::OpenError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use troop_core::alerting::millis;
use troop_core::canonical;
use troop_core::clock::rfc3339_unix;
use troop_core::finding::{FindingState, Severity, StoredFinding};
use troop_core::lifecycle::{Change, FindingRow, Held, HeldItem, LiveItem, Plan};
use troop_core::monkey::{Attribution, Report, Written};
use troop_core::store::{CommitOutcome, FindingFilter, HeldLease, PassLease, PassMeta, Revision, Store, StoreError};

/// Rows per bulk statement.
const CHUNK: usize = 10_000;

pub struct PgStore {
    pool: Pool,
    /// Drives the connections; `None` only while dropping.
    rt: Option<tokio::runtime::Runtime>,
    fault_commit_delay: Mutex<Option<Duration>>,
}

pub(crate) type Client = deadpool_postgres::Object;

pub(crate) fn pe(e: tokio_postgres::Error) -> StoreError {
    // the server's own message (with its detail) when there is one
    match e.as_db_error() {
        Some(db) => StoreError::Backend(format!("postgres: {}", db.message())),
        None => StoreError::Backend(format!("postgres: {e}")),
    }
}

fn pool_err(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        // the connection's own error (refused, authentication, TLS)
        deadpool_postgres::PoolError::Backend(e) => match e.as_db_error() {
            Some(_) => pe(e),
            None => {
                let text = format!("{e}{}", source_chain(&e));
                let hint = if text.contains("password missing") {
                    "; give it as [agent] store_password, in the URL, or in PGPASSWORD"
                } else {
                    ""
                };
                StoreError::Backend(format!("postgres: {text}{hint}"))
            }
        },
        deadpool_postgres::PoolError::Timeout(deadpool_postgres::TimeoutType::Create) => StoreError::Backend(
            "postgres: the server did not complete a connection within connect_timeout + 5 s \
             (a listener that accepts but does not answer?)"
                .into(),
        ),
        deadpool_postgres::PoolError::Timeout(_) => {
            StoreError::Backend("postgres: timed out waiting for a free connection of the pool".into())
        }
        other => StoreError::Backend(format!("postgres: {other}")),
    }
}

/// `: cause: cause…` of an error's sources (tokio-postgres's own message
/// is often just "error connecting to server").
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // allowed anywhere, unlike dropping a runtime
            rt.shutdown_background();
        }
    }
}

impl PgStore {
    /// Connect to the database `url` names (see [`connect::parse`];
    /// `password` from the config's secret wins over one in the URL),
    /// apply the migrations it lacks, and check it is not newer than this
    /// troop. Errors name the URL without its password.
    pub fn open(url: &str, password: Option<&str>) -> Result<PgStore, OpenError> {
        Self::open_as(url, password, true)
    }

    /// As [`Self::open`] for a store that must exist already: a database
    /// troop never wrote to is [`OpenError::Missing`] (read verbs never
    /// create a store).
    pub fn open_existing(url: &str, password: Option<&str>) -> Result<PgStore, OpenError> {
        Self::open_as(url, password, false)
    }

    fn open_as(url: &str, password: Option<&str>, create: bool) -> Result<PgStore, OpenError> {
        let shown = crate::shown(url);
        let err = |reason: String| OpenError::Postgres { url: shown.clone(), reason };
        let mut target = connect::parse(url, password).map_err(err)?;
        // as libpq: PGPASSWORD when neither the config nor the URL gives one
        if target.config.get_password().is_none()
            && let Ok(p) = std::env::var("PGPASSWORD")
        {
            target.config.password(p);
        }
        let tls = connect::connector(&target).map_err(err)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("troop-postgres")
            .enable_all()
            .build()
            .map_err(|e| err(e.to_string()))?;
        let connect_timeout = target.config.get_connect_timeout().copied().unwrap_or(Duration::from_secs(10));
        let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        // without TLS no connector at all (rustls refuses a Unix socket's
        // path as a server name before the mode is even looked at)
        let manager = if target.tls == connect::TlsMode::Disable {
            Manager::from_config(target.config, tokio_postgres::NoTls, recycling)
        } else {
            Manager::from_config(target.config, tls, recycling)
        };
        let pool = {
            let _in = rt.enter();
            Pool::builder(manager)
                .max_size(16)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                // the URL's connect_timeout (default 10 s) bounds the TCP
                // connect; TLS and the startup get 5 s more
                .create_timeout(Some(connect_timeout + Duration::from_secs(5)))
                .wait_timeout(Some(Duration::from_secs(120)))
                .build()
                .map_err(|e| err(e.to_string()))?
        };
        let store = PgStore {
            pool,
            rt: Some(rt),
            fault_commit_delay: Mutex::new(
                std::env::var(crate::sqlite::FAULT_COMMIT_DELAY_ENV)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_millis),
            ),
        };
        if !create {
            let client = store.client().map_err(|e| err(e.to_string()))?;
            if store.version(&client).map_err(|e| err(e.to_string()))?.is_none() {
                return Err(OpenError::Missing { path: shown });
            }
        }
        store.migrate().map_err(|e| match e {
            MigrateError::TooNew { found, known } => OpenError::TooNew { path: shown.clone(), found, known },
            MigrateError::Store(e) => err(e.to_string()),
        })?;
        Ok(store)
    }

    /// Run `f` to its end on this store's runtime, blocking the caller.
    pub(crate) fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.as_ref().expect("runtime present until drop").block_on(f)
    }

    pub(crate) fn client(&self) -> Result<Client, StoreError> {
        self.block(self.pool.get()).map_err(pool_err)
    }

    /// The schema version recorded (`None`: troop never set this database
    /// up).
    fn version(&self, client: &Client) -> Result<Option<i64>, StoreError> {
        self.block(async {
            let exists: bool =
                client.query_one("SELECT to_regclass('troop_schema') IS NOT NULL", &[]).await.map_err(pe)?.get(0);
            if !exists {
                return Ok(None);
            }
            let v = client.query_opt("SELECT version FROM troop_schema", &[]).await.map_err(pe)?;
            Ok(v.map(|r| r.get::<_, i64>(0)).filter(|v| *v > 0))
        })
    }

    /// Bring the schema up to this troop's: nothing (no lock, no DDL: a
    /// read-only role can read) when it is already; otherwise, under the
    /// migration lock, each missing migration in its own transaction. A
    /// migration that fails is rolled back and its own error returned.
    fn migrate(&self) -> Result<(), MigrateError> {
        let client = self.client()?;
        let known = schema::MIGRATIONS.len() as i64;
        match self.version(&client)? {
            Some(v) if v == known => return Ok(()),
            Some(v) if v > known => return Err(MigrateError::TooNew { found: v, known }),
            _ => {}
        }
        self.block(async {
            client.execute("SELECT pg_advisory_lock($1)", &[&schema::MIGRATION_LOCK]).await.map_err(pe)?;
            let applied = async {
                client
                    .batch_execute("CREATE TABLE IF NOT EXISTS troop_schema (version BIGINT NOT NULL)")
                    .await
                    .map_err(pe)?;
                let current: i64 = client
                    .query_opt("SELECT version FROM troop_schema", &[])
                    .await
                    .map_err(pe)?
                    .map(|r| r.get(0))
                    .unwrap_or(0);
                if current > known {
                    return Err(MigrateError::TooNew { found: current, known });
                }
                for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(current as usize) {
                    let version = i as i64 + 1;
                    let sql = format!(
                        "BEGIN; {sql}; DELETE FROM troop_schema; INSERT INTO troop_schema (version) VALUES ({version}); COMMIT;"
                    );
                    if let Err(e) = client.batch_execute(&sql).await {
                        let _ = client.batch_execute("ROLLBACK").await;
                        let e = pe(e);
                        return Err(MigrateError::Store(StoreError::Backend(format!(
                            "could not set up troop's tables (schema version {version}): {e}; \
                             give troop a database (or schema) of its own"
                        ))));
                    }
                }
                Ok(())
            }
            .await;
            let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&schema::MIGRATION_LOCK]).await;
            applied?;
            unlocked.map_err(pe)?;
            Ok(())
        })
    }

    /// Rows in one table of the store (`troop store migrate`'s check).
    pub fn count(&self, table: &str) -> Result<i64, StoreError> {
        let client = self.client()?;
        self.block(client.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[])).map_err(pe).map(|r| r.get(0))
    }

    /// Every table's row count.
    pub fn counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        crate::TABLES.iter().map(|t| Ok((t.to_string(), self.count(t)?))).collect()
    }
}

enum MigrateError {
    TooNew { found: i64, known: i64 },
    Store(StoreError),
}

impl From<StoreError> for MigrateError {
    fn from(e: StoreError) -> Self {
        MigrateError::Store(e)
    }
}

pub(crate) const FINDING_COLS: &str = "fingerprint, monkey, kind, severity, state, account, region, resource, scope, title, details, labels, first_seen, last_seen, resolved_at, item";

pub(crate) fn finding_row(r: &Row) -> FindingRow {
    let sev: String = r.get(3);
    let state: String = r.get(4);
    let details: String = r.get(10);
    let labels: String = r.get(11);
    FindingRow {
        fingerprint: r.get(0),
        monkey: r.get(1),
        kind: r.get(2),
        severity: Severity::parse(&sev).unwrap_or(Severity::Warning),
        state: FindingState::parse(&state).unwrap_or(FindingState::Open),
        account: r.get(5),
        region: r.get(6),
        resource: r.get(7),
        scope: r.get(8),
        title: r.get(9),
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        first_seen: r.get(12),
        last_seen: r.get(13),
        resolved_at: r.get(14),
        item: r.get(15),
    }
}

const REVISION_SELECT: &str = "SELECT r.item, i.technology, i.account, i.region, i.name, r.revision, r.at, r.summary, r.content, r.change, r.who FROM revisions r JOIN items i ON i.item = r.item";

fn revision(r: &Row) -> Revision {
    let summary: String = r.get(7);
    let content: Option<String> = r.get(8);
    let who: Option<String> = r.get(10);
    Revision {
        item: r.get(0),
        technology: r.get(1),
        account: r.get(2),
        region: r.get(3),
        name: r.get(4),
        revision: r.get(5),
        at: rfc3339_unix(r.get(6)),
        summary: serde_json::from_str(&summary).unwrap_or_default(),
        change: r.get(9),
        content: content.and_then(|c| serde_json::from_str(&c).ok()),
        who: who.and_then(|w| serde_json::from_str(&w).ok()),
    }
}

/// What the planner reads, inside the shard's transaction. The rows of the
/// items the report names are read in one query up front (a round trip per
/// item would cost more than the whole SQLite commit).
pub(crate) struct TxHeld<'a, 't> {
    store: &'a PgStore,
    tx: &'a tokio_postgres::Transaction<'t>,
    /// Every item the report names: its row, or `None` when it has none.
    items: HashMap<String, Option<HeldItem>>,
    /// (item, revision) → canonical content, of the items whose hash changed.
    contents: HashMap<(String, i64), Option<String>>,
}

impl<'a, 't> TxHeld<'a, 't> {
    pub(crate) fn new(
        store: &'a PgStore,
        tx: &'a tokio_postgres::Transaction<'t>,
        report: &Report,
    ) -> Result<Self, StoreError> {
        let ids: Vec<&str> = report.snapshots.iter().map(|s| s.item.as_str()).collect();
        let mut items: HashMap<String, Option<HeldItem>> = ids.iter().map(|i| (i.to_string(), None)).collect();
        for chunk in ids.chunks(CHUNK) {
            let rows = store
                .block(tx.query("SELECT item, revision, hash, deleted FROM items WHERE item = ANY($1)", &[&chunk]))
                .map_err(pe)?;
            for r in rows {
                items.insert(r.get(0), Some(HeldItem { revision: r.get(1), hash: r.get(2), deleted: r.get(3) }));
            }
        }
        // The current content of the items whose hash changed: the planner
        // compares it with the new one (its reviewer sentences).
        let changed: Vec<(&str, i64)> = report
            .snapshots
            .iter()
            .filter_map(|s| match items.get(&s.item) {
                Some(Some(h)) if !h.deleted && h.hash.as_deref() != Some(s.hash.as_str()) => {
                    Some((s.item.as_str(), h.revision))
                }
                _ => None,
            })
            .collect();
        let mut contents = HashMap::new();
        for chunk in changed.chunks(CHUNK) {
            let (ids, revs): (Vec<&str>, Vec<i64>) = chunk.iter().copied().unzip();
            let rows = store
                .block(tx.query(
                    "SELECT r.item, r.revision, r.content FROM revisions r
                     JOIN UNNEST($1::text[], $2::bigint[]) AS u(i, n) ON r.item = u.i AND r.revision = u.n",
                    &[&ids, &revs],
                ))
                .map_err(pe)?;
            for r in rows {
                contents.insert((r.get::<_, String>(0), r.get::<_, i64>(1)), r.get::<_, Option<String>>(2));
            }
        }
        Ok(TxHeld { store, tx, items, contents })
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        self.store.block(self.tx.query(sql, params)).map_err(pe)
    }
}

impl Held for TxHeld<'_, '_> {
    fn item(&self, item: &str) -> Result<Option<HeldItem>, StoreError> {
        if let Some(h) = self.items.get(item) {
            return Ok(h.clone());
        }
        let rows = self.query("SELECT revision, hash, deleted FROM items WHERE item = $1", &[&item])?;
        Ok(rows.first().map(|r| HeldItem { revision: r.get(0), hash: r.get(1), deleted: r.get(2) }))
    }

    fn live_items(&self, technology: &str, account: &str, region: &str) -> Result<Vec<LiveItem>, StoreError> {
        let rows = self.query(
            "SELECT item, revision, name FROM items
             WHERE technology = $1 AND account = $2 AND ($3 = '*' OR region = $3) AND NOT deleted",
            &[&technology, &account, &region],
        )?;
        Ok(rows.iter().map(|r| LiveItem { item: r.get(0), revision: r.get(1), name: r.get(2) }).collect())
    }

    fn content(&self, item: &str, revision: i64) -> Result<Option<serde_json::Value>, StoreError> {
        if let Some(text) = self.contents.get(&(item.to_string(), revision)) {
            return Ok(text.as_deref().and_then(|t| serde_json::from_str(t).ok()));
        }
        let rows =
            self.query("SELECT content FROM revisions WHERE item = $1 AND revision = $2", &[&item, &revision])?;
        Ok(rows.first().and_then(|r| r.get::<_, Option<String>>(0)).and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn current(&self, item: &str) -> Result<Option<(i64, Vec<String>)>, StoreError> {
        let rows = self.query(
            "SELECT r.revision, r.summary FROM items i JOIN revisions r ON r.item = i.item AND r.revision = i.revision WHERE i.item = $1",
            &[&item],
        )?;
        Ok(rows.first().map(|r| (r.get(0), serde_json::from_str(&r.get::<_, String>(1)).unwrap_or_default())))
    }

    fn finding(&self, fingerprint: &str) -> Result<Option<FindingRow>, StoreError> {
        let rows =
            self.query(&format!("SELECT {FINDING_COLS} FROM findings WHERE fingerprint = $1"), &[&fingerprint])?;
        Ok(rows.first().map(finding_row))
    }

    fn unresolved(&self, monkey: &str, account: &str) -> Result<Vec<FindingRow>, StoreError> {
        let rows = self.query(
            &format!(
                "SELECT {FINDING_COLS} FROM findings WHERE monkey = $1 AND account = $2 AND state IN ('open', 'silenced')"
            ),
            &[&monkey, &account],
        )?;
        Ok(rows.iter().map(finding_row).collect())
    }
}

/// Persist a plan's writes in bulk (the planner decided them).
pub(crate) async fn persist(
    tx: &tokio_postgres::Transaction<'_>,
    plan: &Plan<'_>,
    pass_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    for chunk in plan.items.chunks(CHUNK) {
        let item: Vec<&str> = chunk.iter().map(|w| w.item.as_ref()).collect();
        let technology: Vec<&str> = chunk.iter().map(|w| w.technology.as_ref()).collect();
        let account: Vec<&str> = chunk.iter().map(|w| w.account.as_ref()).collect();
        let region: Vec<&str> = chunk.iter().map(|w| w.region.as_ref()).collect();
        let name: Vec<&str> = chunk.iter().map(|w| w.name.as_ref()).collect();
        let revision: Vec<i64> = chunk.iter().map(|w| w.revision).collect();
        let hash: Vec<Option<&str>> = chunk.iter().map(|w| w.hash.as_deref()).collect();
        let deleted: Vec<bool> = chunk.iter().map(|w| w.change == Change::Deleted).collect();
        let change: Vec<&str> = chunk.iter().map(|w| w.change.as_str()).collect();
        let content: Vec<Option<&str>> = chunk.iter().map(|w| w.content).collect();
        let summary: Vec<String> =
            chunk.iter().map(|w| serde_json::to_string(&w.summary).unwrap_or_else(|_| "[]".into())).collect();
        tx.execute(
            "INSERT INTO items (item, technology, account, region, name, revision, hash, deleted)
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bool[])
             ON CONFLICT (item) DO UPDATE SET name = excluded.name, revision = excluded.revision,
                 hash = excluded.hash, deleted = excluded.deleted",
            &[&item, &technology, &account, &region, &name, &revision, &hash, &deleted],
        )
        .await
        .map_err(pe)?;
        tx.execute(
            "INSERT INTO revisions (item, revision, at, change, hash, content, summary, pass_id)
             SELECT i, r, $3, c, h, t, s, $8 FROM UNNEST($1::text[], $2::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])
                 AS u(i, r, c, h, t, s)",
            &[&item, &revision, &now, &change, &hash, &content, &summary, &pass_id],
        )
        .await
        .map_err(pe)?;
    }
    for chunk in plan.findings.chunks(CHUNK) {
        let col = |f: fn(&FindingRow) -> &str| chunk.iter().map(f).collect::<Vec<&str>>();
        let fingerprint = col(|f| &f.fingerprint);
        let monkey = col(|f| &f.monkey);
        let kind = col(|f| &f.kind);
        let severity = col(|f| f.severity.as_str());
        let state = col(|f| f.state.as_str());
        let account = col(|f| &f.account);
        let region = col(|f| &f.region);
        let resource = col(|f| &f.resource);
        let scope = col(|f| &f.scope);
        let title = col(|f| &f.title);
        let details: Vec<String> = chunk.iter().map(|f| canonical::to_string(&f.details)).collect();
        let labels: Vec<String> =
            chunk.iter().map(|f| serde_json::to_string(&f.labels).unwrap_or_else(|_| "{}".into())).collect();
        let first_seen: Vec<i64> = chunk.iter().map(|f| f.first_seen).collect();
        let last_seen: Vec<i64> = chunk.iter().map(|f| f.last_seen).collect();
        let resolved_at: Vec<Option<i64>> = chunk.iter().map(|f| f.resolved_at).collect();
        let item: Vec<Option<&str>> = chunk.iter().map(|f| f.item.as_deref()).collect();
        tx.execute(
            "INSERT INTO findings (fingerprint, monkey, kind, severity, state, account, region, resource, scope,
                 title, details, labels, first_seen, last_seen, resolved_at, item, pass_id)
             SELECT *, $17 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                 $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[],
                 $14::bigint[], $15::bigint[], $16::text[])
             ON CONFLICT (fingerprint) DO UPDATE SET severity = excluded.severity, state = excluded.state,
                 scope = excluded.scope, title = excluded.title, details = excluded.details, labels = excluded.labels,
                 first_seen = excluded.first_seen, last_seen = excluded.last_seen, resolved_at = excluded.resolved_at,
                 pass_id = excluded.pass_id, item = excluded.item",
            &[
                &fingerprint,
                &monkey,
                &kind,
                &severity,
                &state,
                &account,
                &region,
                &resource,
                &scope,
                &title,
                &details,
                &labels,
                &first_seen,
                &last_seen,
                &resolved_at,
                &item,
                &pass_id,
            ],
        )
        .await
        .map_err(pe)?;
    }
    Ok(())
}

/// Serialize decisions about one shard's lease across processes, for the
/// rest of the transaction.
async fn lock_shard(tx: &tokio_postgres::Transaction<'_>, shard: &str) -> Result<(), StoreError> {
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('troop-shard:' || $1, 0))", &[&shard])
        .await
        .map_err(pe)
        .map(|_| ())
}

/// Inside the shard's transaction: refuse a pass whose lease is no longer
/// the shard's current epoch, or whose view is older than the committed
/// one; otherwise record its view as the committed one and free the lease.
/// Returns the lease's owner (the replica committing).
async fn fence(tx: &tokio_postgres::Transaction<'_>, pass: &PassMeta) -> Result<String, StoreError> {
    let shard = &pass.lease.shard;
    lock_shard(tx, shard).await?;
    let held = tx
        .query_opt("SELECT epoch, owner, started_at, committed_view FROM pass_lease WHERE shard = $1", &[shard])
        .await
        .map_err(pe)?
        .map(|r| HeldLease { epoch: r.get(0), owner: r.get(1), started_at: r.get(2), committed_view: r.get(3) });
    troop_core::store::fence(pass, held.as_ref())?;
    let (view, round) = (millis(pass.started_at), millis(pass.round));
    tx.execute(
        "UPDATE pass_lease SET committed_view = $2, committed_round = $3, until = 0 WHERE shard = $1",
        &[shard, &view, &round],
    )
    .await
    .map_err(pe)?;
    Ok(held.map(|h| h.owner).unwrap_or_default())
}

async fn end_lease(c: &impl tokio_postgres::GenericClient, lease: &PassLease) -> Result<(), StoreError> {
    c.execute("UPDATE pass_lease SET until = 0 WHERE shard = $1 AND epoch = $2", &[&lease.shard, &lease.epoch])
        .await
        .map_err(pe)
        .map(|_| ())
}

fn time(t: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Store for PgStore {
    fn begin_pass(
        &self,
        shard: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        stale: &dyn Fn(&str) -> bool,
        fresh_after: Option<OffsetDateTime>,
    ) -> Result<PassLease, StoreError> {
        let mut client = self.client()?;
        let tx = self.block(client.transaction()).map_err(pe)?;
        let account = troop_core::store::account_of(shard);
        // the account's lock first, then the shard's: two begins of one
        // monkey's account wait for each other (commits take only their
        // shard's lock, so the order cannot deadlock)
        if let Some(account) = &account {
            self.block(lock_shard(&tx, account))?;
        }
        self.block(lock_shard(&tx, shard))?;
        let held = self
            .block(tx.query_opt(
                "SELECT owner, started_at, until, COALESCE(committed_round, committed_view) FROM pass_lease WHERE shard = $1",
                &[&shard],
            ))
            .map_err(pe)?;
        let held =
            held.map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1), r.get::<_, i64>(2), r.get::<_, Option<i64>>(3)));
        let lease = held.as_ref().map(|(o, s, u, _)| (o.as_str(), *s, *u));
        troop_core::store::may_begin(shard, lease, owner, millis(now), stale)?;
        if let Some(account) = &account {
            // one replica reads a monkey's account at a time
            let siblings: Vec<(String, String, i64, i64)> = self
                .block(tx.query(
                    "SELECT shard, owner, started_at, until FROM pass_lease
                     WHERE (shard = $1 OR starts_with(shard, $1 || '/')) AND shard <> $2 AND until > 0",
                    &[account, &shard],
                ))
                .map_err(pe)?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect();
            troop_core::store::may_begin_in_account(&siblings, owner, millis(now), stale)?;
        }
        troop_core::store::due(shard, held.as_ref().and_then(|h| h.3), fresh_after.map(millis))?;
        let took_over_from = troop_core::store::took_over(lease, owner);
        let epoch: i64 = self
            .block(tx.query_one(
                "INSERT INTO pass_lease (shard, epoch, owner, started_at, until) VALUES ($1, 1, $2, $3, $4)
                 ON CONFLICT (shard) DO UPDATE SET epoch = pass_lease.epoch + 1, owner = excluded.owner,
                     started_at = excluded.started_at, until = excluded.until
                 RETURNING epoch",
                &[&shard, &owner, &millis(now), &millis(until)],
            ))
            .map_err(pe)?
            .get(0);
        self.block(tx.commit()).map_err(pe)?;
        Ok(PassLease { shard: shard.to_string(), epoch, took_over_from })
    }

    fn renew_pass(&self, lease: &PassLease, until: OffsetDateTime) -> Result<bool, StoreError> {
        let client = self.client()?;
        self.block(client.execute(
            "UPDATE pass_lease SET until = $3 WHERE shard = $1 AND epoch = $2",
            &[&lease.shard, &lease.epoch, &millis(until)],
        ))
        .map(|n| n > 0)
        .map_err(pe)
    }

    fn end_pass(&self, lease: &PassLease) -> Result<(), StoreError> {
        let client = self.client()?;
        self.block(end_lease(&**client, lease))
    }

    fn commit_pass(&self, pass: &PassMeta, report: &Report) -> Result<CommitOutcome, StoreError> {
        let mut client = self.client()?;
        let tx = self.block(client.transaction()).map_err(pe)?;
        let owner = self.block(fence(&tx, pass))?;
        let stats = serde_json::to_string(&report.counters).unwrap_or_else(|_| "{}".into());
        let status = if report.error.is_some() { "failed" } else { "ok" };
        let pass_id: i64 = self
            .block(tx.query_one(
                "INSERT INTO passes (monkey, shard, started_at, finished_at, status, error, stats, owner)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[
                    &pass.monkey,
                    &pass.lease.shard,
                    &pass.started_at.unix_timestamp(),
                    &pass.finished_at.unix_timestamp(),
                    &status,
                    &report.error,
                    &stats,
                    &owner,
                ],
            ))
            .map_err(pe)?
            .get(0);
        let plan = {
            let held = TxHeld::new(self, &tx, report)?;
            troop_core::lifecycle::plan(&held, report, &pass.monkey, pass.finished_at)?
        };
        let now = pass.finished_at.unix_timestamp();
        let open_findings: i64 = self.block(async {
            persist(&tx, &plan, pass_id, now).await?;
            let shard = &pass.lease.shard;
            tx.execute("DELETE FROM observations WHERE shard = $1", &[shard]).await.map_err(pe)?;
            for chunk in report.observations.chunks(CHUNK) {
                let kind: Vec<&str> = chunk.iter().map(|o| o.kind.as_str()).collect();
                let key: Vec<&str> = chunk.iter().map(|o| o.key.as_str()).collect();
                let data: Vec<String> = chunk.iter().map(|o| canonical::to_string(&o.data)).collect();
                tx.execute(
                    "INSERT INTO observations (monkey, kind, key, data, pass_id, shard)
                     SELECT $1, k, y, d, $5, $6 FROM UNNEST($2::text[], $3::text[], $4::text[]) AS u(k, y, d)
                     ON CONFLICT (monkey, kind, key) DO UPDATE SET data = excluded.data, pass_id = excluded.pass_id,
                         shard = excluded.shard",
                    &[&pass.monkey, &kind, &key, &data, &pass_id, shard],
                )
                .await
                .map_err(pe)?;
            }
            alerts::log_events(&tx, &plan.events).await?;
            let n: i64 = tx
                .query_one("SELECT COUNT(*) FROM findings WHERE monkey = $1 AND state = 'open'", &[&pass.monkey])
                .await
                .map_err(pe)?
                .get(0);
            Ok::<_, StoreError>(n)
        })?;
        if let Some(d) = self.fault_commit_delay.lock().unwrap_or_else(|e| e.into_inner()).take() {
            eprintln!("fault injection: pass {pass_id} written, holding its transaction open for {}ms", d.as_millis());
            std::thread::sleep(d);
        }
        self.block(tx.commit()).map_err(pe)?;
        let Plan { events, items, items_seen, .. } = plan;
        Ok(CommitOutcome {
            pass_id,
            events,
            revisions_written: items.len(),
            items_seen,
            open_findings: open_findings as usize,
        })
    }

    fn keep_shards(&self, monkey: &str, shards: &[String], now: OffsetDateTime) -> Result<(), StoreError> {
        let client = self.client()?;
        self.block(async {
            client
                .execute("DELETE FROM observations WHERE monkey = $1 AND shard <> ALL($2::text[])", &[&monkey, &shards])
                .await
                .map_err(pe)?;
            client
                .execute(
                    "DELETE FROM pass_lease WHERE (shard = $1 OR starts_with(shard, $1 || '/'))
                         AND shard <> ALL($2::text[]) AND until < $3",
                    &[&monkey, &shards, &millis(now)],
                )
                .await
                .map_err(pe)
                .map(|_| ())
        })
    }

    fn shard_records(&self, now: OffsetDateTime) -> Result<Vec<troop_core::status::ShardRecord>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(
                "SELECT l.shard, CASE WHEN l.until >= $1 THEN l.owner END,
                     (SELECT MAX(finished_at) FROM passes p WHERE p.shard = l.shard AND p.status = 'ok'),
                     (SELECT owner FROM passes p WHERE p.shard = l.shard AND p.status = 'ok'
                      ORDER BY finished_at DESC, id DESC LIMIT 1)
                 FROM pass_lease l ORDER BY l.shard COLLATE \"C\"",
                &[&millis(now)],
            ))
            .map_err(pe)?;
        Ok(rows
            .iter()
            .map(|r| troop_core::status::ShardRecord {
                shard: r.get(0),
                holder: r.get(1),
                last_success: r.get(2),
                last_holder: r.get(3),
            })
            .collect())
    }

    fn heartbeat(&self, r: &troop_core::status::Replica) -> Result<(), StoreError> {
        let client = self.client()?;
        self.block(client.execute(
            "INSERT INTO replicas (replica, host, pid, version, started_at, seen_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (replica) DO UPDATE SET seen_at = excluded.seen_at, version = excluded.version",
            &[&r.replica, &r.host, &(r.pid as i64), &r.version, &r.started_at, &r.seen_at],
        ))
        .map(|_| ())
        .map_err(pe)
    }

    fn replicas(&self, since: i64) -> Result<Vec<troop_core::status::Replica>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(
                "SELECT replica, host, pid, version, started_at, seen_at FROM replicas WHERE seen_at >= $1 ORDER BY replica",
                &[&since],
            ))
            .map_err(pe)?;
        Ok(rows
            .iter()
            .map(|r| troop_core::status::Replica {
                replica: r.get(0),
                host: r.get(1),
                pid: r.get::<_, i64>(2) as u32,
                version: r.get(3),
                started_at: r.get(4),
                seen_at: r.get(5),
            })
            .collect())
    }

    fn record_failed_pass(&self, pass: &PassMeta, error: &str) -> Result<(), StoreError> {
        let mut client = self.client()?;
        self.block(async {
            let tx = client.transaction().await.map_err(pe)?;
            tx.execute(
                "INSERT INTO passes (monkey, shard, started_at, finished_at, status, error) VALUES ($1, $2, $3, $4, 'failed', $5)",
                &[
                    &pass.monkey,
                    &pass.lease.shard,
                    &pass.started_at.unix_timestamp(),
                    &pass.finished_at.unix_timestamp(),
                    &error,
                ],
            )
            .await
            .map_err(pe)?;
            end_lease(&*tx, &pass.lease).await?;
            tx.commit().await.map_err(pe)
        })
    }

    fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError> {
        let client = self.client()?;
        let rank = filter.min_severity.map(|s| match s {
            Severity::Critical => 0i32,
            Severity::Warning => 1,
            Severity::Info => 2,
        });
        let state = filter.state.map(|s| s.as_str());
        let rows = self
            .block(client.query(
                &format!(
                    "SELECT {FINDING_COLS} FROM findings WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR monkey = $2)
                         AND ($3::int IS NULL OR CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END <= $3)
                         AND ($4::text IS NULL OR details::jsonb ->> 'item' = $4)
                     ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, monkey, kind, account, region, resource"
                ),
                &[&state, &filter.monkey, &rank, &filter.item],
            ))
            .map_err(pe)?;
        Ok(rows.iter().map(|r| finding_row(r).stored()).collect())
    }

    fn record_event(
        &self,
        e: &troop_core::timeline::ChangeEvent,
        received_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let client = self.client()?;
        let labels = serde_json::to_string(&e.labels).unwrap_or_else(|_| "{}".into());
        let n = self
            .block(client.execute(
                "INSERT INTO change_events (source, id, type, summary, resource, account, labels, at, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (source, id) DO NOTHING",
                &[
                    &e.source,
                    &e.id,
                    &e.kind,
                    &e.summary,
                    &e.resource,
                    &e.account,
                    &labels,
                    &troop_core::timeline::unix_seconds(&e.at),
                    &received_at.unix_timestamp(),
                ],
            ))
            .map_err(pe)?;
        Ok(n == 1)
    }

    fn events_since(&self, since: OffsetDateTime) -> Result<Vec<troop_core::timeline::ChangeEvent>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(
                "SELECT source, id, type, summary, resource, account, labels, at FROM change_events
                 WHERE at >= $1 ORDER BY at, seq",
                &[&since.unix_timestamp()],
            ))
            .map_err(pe)?;
        rows.iter()
            .map(|r| {
                Ok(troop_core::timeline::ChangeEvent {
                    source: r.get(0),
                    id: r.get(1),
                    kind: r.get(2),
                    summary: r.get(3),
                    resource: r.get(4),
                    account: r.get(5),
                    labels: serde_json::from_str(&r.get::<_, String>(6))
                        .map_err(|e| StoreError::Backend(format!("corrupt change event labels: {e}")))?,
                    at: troop_core::clock::rfc3339_unix(r.get(7)),
                })
            })
            .collect()
    }

    fn transitions_since(&self, since: OffsetDateTime) -> Result<Vec<troop_core::FindingEvent>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(
                "SELECT event FROM alert_transitions WHERE at >= $1 ORDER BY at, seq",
                &[&since.unix_timestamp()],
            ))
            .map_err(pe)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(
                serde_json::from_str(&r.get::<_, String>(0))
                    .map_err(|e| StoreError::Backend(format!("corrupt alert transition: {e}")))?,
            );
        }
        Ok(out)
    }

    fn revisions_since(&self, since: OffsetDateTime) -> Result<Vec<Revision>, StoreError> {
        let client = self.client()?;
        let sql = format!(
            "{} WHERE r.at >= $1 ORDER BY r.at, r.item, r.revision",
            REVISION_SELECT.replace("r.content", "NULL::text")
        );
        let rows = self.block(client.query(&sql, &[&since.unix_timestamp()])).map_err(pe)?;
        Ok(rows.iter().map(revision).collect())
    }

    fn revisions_latest(&self, since: OffsetDateTime, limit: usize) -> Result<(u64, Vec<Revision>), StoreError> {
        let client = self.client()?;
        let at = since.unix_timestamp();
        let n: i64 =
            self.block(client.query_one("SELECT COUNT(*) FROM revisions WHERE at >= $1", &[&at])).map_err(pe)?.get(0);
        let sql = format!(
            "{} WHERE r.at >= $1 ORDER BY r.at DESC, r.item DESC, r.revision DESC LIMIT $2",
            REVISION_SELECT.replace("r.content", "NULL::text")
        );
        let rows = self.block(client.query(&sql, &[&at, &(limit as i64)])).map_err(pe)?;
        Ok((n as u64, rows.iter().map(revision).collect()))
    }

    fn history(&self, item: &str) -> Result<Vec<Revision>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(&format!("{REVISION_SELECT} WHERE r.item = $1 ORDER BY r.revision"), &[&item]))
            .map_err(pe)?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(format!("no item `{item}` in the store")));
        }
        Ok(rows.iter().map(revision).collect())
    }

    fn state_at(&self, item: &str, at: OffsetDateTime) -> Result<Option<Revision>, StoreError> {
        let client = self.client()?;
        let row = self
            .block(client.query_opt(
                &format!("{REVISION_SELECT} WHERE r.item = $1 AND r.at <= $2 ORDER BY r.revision DESC LIMIT 1"),
                &[&item, &at.unix_timestamp()],
            ))
            .map_err(pe)?;
        Ok(row.as_ref().map(revision))
    }

    fn find_items(&self, query: &str) -> Result<Vec<String>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(
                "SELECT item FROM items WHERE item = $1
                 UNION SELECT item FROM items WHERE NOT EXISTS (SELECT 1 FROM items WHERE item = $1)
                     AND (right(item, length($1) + 1) = '/' || $1 OR name = $1)
                 ORDER BY item",
                &[&query],
            ))
            .map_err(pe)?;
        let exact: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        if !exact.is_empty() || query.is_empty() {
            return Ok(exact);
        }
        // A unique prefix of the id or of its last part (`sg-0abc`).
        let rows = self
            .block(client.query(
                "SELECT item FROM items WHERE left(item, length($1)) = $1 OR strpos(item, '/' || $1) > 0 ORDER BY item",
                &[&query],
            ))
            .map_err(pe)?;
        Ok(rows
            .iter()
            .map(|r| r.get::<_, String>(0))
            .filter(|i| i.starts_with(query) || i.rsplit('/').next().is_some_and(|last| last.starts_with(query)))
            .collect())
    }

    fn first_observed(&self, technology: &str, account: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        let client = self.client()?;
        let at: Option<i64> = self
            .block(client.query_one(
                "SELECT MIN(r.at) FROM revisions r JOIN items i ON i.item = r.item WHERE i.technology = $1 AND i.account = $2",
                &[&technology, &account],
            ))
            .map_err(pe)?
            .get(0);
        Ok(at.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()))
    }

    fn pass_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let client = self.client()?;
        let rows = self.block(client.query("SELECT status, COUNT(*) FROM passes GROUP BY status", &[])).map_err(pe)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn last_successes(&self) -> Result<BTreeMap<String, OffsetDateTime>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query("SELECT monkey, MAX(finished_at) FROM passes WHERE status = 'ok' GROUP BY monkey", &[]))
            .map_err(pe)?;
        Ok(rows
            .iter()
            .filter_map(|r| Some((r.get::<_, String>(0), OffsetDateTime::from_unix_timestamp(r.get(1)).ok()?)))
            .collect())
    }

    fn observations(&self, kind: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query("SELECT data FROM observations WHERE kind = $1 ORDER BY monkey, key", &[&kind]))
            .map_err(pe)?;
        Ok(rows
            .iter()
            .map(|r| serde_json::from_str(&r.get::<_, String>(0)).unwrap_or(serde_json::Value::Null))
            .collect())
    }

    fn attach_who(&self, attributions: &[Attribution]) -> Result<(), StoreError> {
        let client = self.client()?;
        let item: Vec<&str> = attributions.iter().map(|a| a.item.as_str()).collect();
        let revision: Vec<i64> = attributions.iter().map(|a| a.revision).collect();
        let who: Vec<String> = attributions.iter().map(|a| canonical::to_string(&a.who)).collect();
        self.block(client.execute(
            "UPDATE revisions r SET who = u.w FROM UNNEST($1::text[], $2::bigint[], $3::text[]) AS u(i, n, w)
             WHERE r.item = u.i AND r.revision = u.n",
            &[&item, &revision, &who],
        ))
        .map_err(pe)
        .map(|_| ())
    }

    fn pending_attribution(&self, shard: &str, since: OffsetDateTime) -> Result<Vec<Written>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(
                "SELECT r.item, i.technology, i.account, i.region, i.name, r.revision, r.change, r.at,
                     (SELECT pp.started_at FROM revisions p JOIN passes pp ON pp.id = p.pass_id
                      WHERE p.item = r.item AND p.revision = r.revision - 1)
                 FROM passes ps JOIN revisions r ON r.pass_id = ps.id JOIN items i ON i.item = r.item
                 WHERE (ps.shard COLLATE \"C\" = $1 OR (ps.shard COLLATE \"C\" > $1 || '/' AND ps.shard COLLATE \"C\" < $1 || '0'))
                     AND ps.finished_at >= $2 AND r.change IN ('modified', 'deleted')
                     AND (r.who IS NULL OR (r.who::jsonb ->> 'status') = 'pending')
                 ORDER BY r.at, r.item",
                &[&shard, &since.unix_timestamp()],
            ))
            .map_err(pe)?;
        Ok(rows
            .iter()
            .map(|r| Written {
                item: r.get(0),
                technology: r.get(1),
                account: r.get(2),
                region: r.get(3),
                name: r.get(4),
                revision: r.get(5),
                change: r.get(6),
                at: time(r.get(7)),
                previous_at: r.get::<_, Option<i64>>(8).map(time),
            })
            .collect())
    }
}

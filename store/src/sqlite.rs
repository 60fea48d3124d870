use crate::OpenError;
use crate::migrations::MIGRATIONS;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use troop_core::FindingEvent;
use troop_core::alerting::millis;
use troop_core::canonical;
use troop_core::clock::rfc3339_unix;
use troop_core::finding::{FindingState, Severity, StoredFinding};
use troop_core::lifecycle::{Change, FindingRow, Held, HeldItem, LiveItem, Plan};
use troop_core::monkey::{Attribution, Report, Written};
use troop_core::store::{CommitOutcome, FindingFilter, HeldLease, PassLease, PassMeta, Revision, Store, StoreError};
use troop_core::timeline::ChangeEvent;

/// Fault injection for crash tests: hold the first shard commit's
/// transaction open this many milliseconds before committing. Read once at
/// open; unset in normal use.
pub(crate) const FAULT_COMMIT_DELAY_ENV: &str = "TROOP_FAULT_COMMIT_DELAY_MS";

/// How long a write waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(120);

/// How often the checkpointer moves the write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

pub struct SqliteStore {
    conn: Mutex<Connection>,
    fault_commit_delay: Mutex<Option<Duration>>,
    /// Set when the store is dropped: the checkpointer thread ends.
    checkpointer: Option<Arc<AtomicBool>>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(stop) = &self.checkpointer {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Checkpoints the write-ahead log from a connection of its own, every
/// [`CHECKPOINT_EVERY`], until the returned flag is set: SQLite's automatic
/// checkpoint runs inside the commit that crosses its threshold, holding the
/// store's one connection (and every request waiting on it) for the copy. A
/// PASSIVE checkpoint waits for no reader or writer
/// (<https://www.sqlite.org/c3ref/wal_checkpoint_v2.html>); the last
/// connection to close checkpoints what is left. `None` (with a warning)
/// when it cannot start: the automatic checkpoint stays on.
fn spawn_checkpointer(path: &str) -> Option<Arc<AtomicBool>> {
    let conn = match Connection::open(path).and_then(|c| c.busy_timeout(BUSY_TIMEOUT).map(|()| c)) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no background checkpoint: SQLite checkpoints on commit");
            return None;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            std::thread::sleep(CHECKPOINT_EVERY);
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "write-ahead log checkpoint failed");
            }
        }
    });
    match spawned {
        Ok(_) => Some(stop),
        Err(e) => {
            tracing::warn!(error = %e, "no background checkpoint: SQLite checkpoints on commit");
            None
        }
    }
}

pub(crate) fn be(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    pub fn open(path: &str) -> Result<SqliteStore, OpenError> {
        let err = |source| OpenError::Sqlite { path: path.to_string(), source };
        let conn = Connection::open(path).map_err(err)?;
        // Writers queue: another monkey's commit (a large pass takes seconds)
        // is waited for, not failed as "database is locked".
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        let mut store = SqliteStore {
            conn: Mutex::new(conn),
            fault_commit_delay: Mutex::new(
                std::env::var(FAULT_COMMIT_DELAY_ENV).ok().and_then(|v| v.parse().ok()).map(Duration::from_millis),
            ),
            checkpointer: None,
        };
        store.migrate(path)?;
        // checkpoints move off the commit path (see spawn_checkpointer)
        store.checkpointer = spawn_checkpointer(path);
        if store.checkpointer.is_some() {
            store.lock().pragma_update(None, "wal_autocheckpoint", 0).map_err(err)?;
        }
        Ok(store)
    }

    fn migrate(&mut self, path: &str) -> Result<(), OpenError> {
        let err = |source| OpenError::Sqlite { path: path.to_string(), source };
        let conn = self.conn.get_mut().unwrap_or_else(|e| e.into_inner());
        let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(err)?;
        let known = MIGRATIONS.len() as i64;
        if current > known {
            return Err(OpenError::TooNew { path: path.to_string(), found: current, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = conn.transaction().map_err(err)?;
            tx.execute_batch(sql).map_err(err)?;
            tx.pragma_update(None, "user_version", i as i64 + 1).map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(())
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `PRAGMA integrity_check` result ("ok" when healthy).
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.lock().query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(be)
    }
}

pub(crate) const FINDING_COLS: &str = "fingerprint, monkey, kind, severity, state, account, region, resource, scope, title, details, labels, first_seen, last_seen, resolved_at, item";

fn row_from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<FindingRow> {
    let sev: String = r.get(3)?;
    let state: String = r.get(4)?;
    let details: String = r.get(10)?;
    let labels: String = r.get(11)?;
    Ok(FindingRow {
        fingerprint: r.get(0)?,
        monkey: r.get(1)?,
        kind: r.get(2)?,
        severity: Severity::parse(&sev).unwrap_or(Severity::Warning),
        state: FindingState::parse(&state).unwrap_or(FindingState::Open),
        account: r.get(5)?,
        region: r.get(6)?,
        resource: r.get(7)?,
        scope: r.get(8)?,
        title: r.get(9)?,
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        first_seen: r.get(12)?,
        last_seen: r.get(13)?,
        resolved_at: r.get(14)?,
        item: r.get(15)?,
    })
}

pub(crate) fn finding_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredFinding> {
    row_from_sql(r).map(|row| row.stored())
}

fn revision_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Revision> {
    let summary: String = r.get(7)?;
    let content: Option<String> = r.get(8)?;
    Ok(Revision {
        item: r.get(0)?,
        technology: r.get(1)?,
        account: r.get(2)?,
        region: r.get(3)?,
        name: r.get(4)?,
        revision: r.get(5)?,
        at: rfc3339_unix(r.get(6)?),
        summary: serde_json::from_str(&summary).unwrap_or_default(),
        change: r.get(9)?,
        content: content.and_then(|c| serde_json::from_str(&c).ok()),
        who: r.get::<_, Option<String>>(10)?.and_then(|w| serde_json::from_str(&w).ok()),
    })
}

const REVISION_SELECT: &str = "SELECT r.item, i.technology, i.account, i.region, i.name, r.revision, r.at, r.summary, r.content, r.change, r.who FROM revisions r JOIN items i ON i.item = r.item";

/// What the planner reads, inside the pass transaction; the statement asked
/// once per item of the pass is prepared once.
pub(crate) struct TxHeld<'a, 't> {
    tx: &'a Transaction<'t>,
    get_item: std::cell::RefCell<rusqlite::CachedStatement<'a>>,
}

impl<'a, 't> TxHeld<'a, 't> {
    pub(crate) fn new(tx: &'a Transaction<'t>) -> Result<Self, StoreError> {
        let get_item = tx.prepare_cached("SELECT revision, hash, deleted FROM items WHERE item = ?1").map_err(be)?;
        Ok(TxHeld { tx, get_item: std::cell::RefCell::new(get_item) })
    }
}

impl Held for TxHeld<'_, '_> {
    fn item(&self, item: &str) -> Result<Option<HeldItem>, StoreError> {
        self.get_item
            .borrow_mut()
            .query_row([item], |r| Ok(HeldItem { revision: r.get(0)?, hash: r.get(1)?, deleted: r.get(2)? }))
            .optional()
            .map_err(be)
    }

    fn live_items(&self, technology: &str, account: &str, region: &str) -> Result<Vec<LiveItem>, StoreError> {
        let mut st = self
            .tx
            .prepare_cached(
                "SELECT item, revision, name FROM items
                 WHERE technology = ?1 AND account = ?2 AND (?3 = '*' OR region = ?3) AND deleted = 0",
            )
            .map_err(be)?;
        let rows = st
            .query_map(params![technology, account, region], |r| {
                Ok(LiveItem { item: r.get(0)?, revision: r.get(1)?, name: r.get(2)? })
            })
            .map_err(be)?;
        rows.collect::<Result<_, _>>().map_err(be)
    }

    fn content(&self, item: &str, revision: i64) -> Result<Option<serde_json::Value>, StoreError> {
        let text: Option<String> = self
            .tx
            .prepare_cached("SELECT content FROM revisions WHERE item = ?1 AND revision = ?2")
            .and_then(|mut st| st.query_row(params![item, revision], |r| r.get(0)).optional())
            .map_err(be)?
            .flatten();
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn current(&self, item: &str) -> Result<Option<(i64, Vec<String>)>, StoreError> {
        let row: Option<(i64, String)> = self
            .tx
            .prepare_cached(
                "SELECT r.revision, r.summary FROM items i JOIN revisions r ON r.item = i.item AND r.revision = i.revision WHERE i.item = ?1",
            )
            .and_then(|mut st| st.query_row([item], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(be)?;
        Ok(row.map(|(rev, summary)| (rev, serde_json::from_str(&summary).unwrap_or_default())))
    }

    fn finding(&self, fingerprint: &str) -> Result<Option<FindingRow>, StoreError> {
        self.tx
            .prepare_cached(&format!("SELECT {FINDING_COLS} FROM findings WHERE fingerprint = ?1"))
            .and_then(|mut st| st.query_row([fingerprint], row_from_sql).optional())
            .map_err(be)
    }

    fn unresolved(&self, monkey: &str, account: &str) -> Result<Vec<FindingRow>, StoreError> {
        let mut st = self
            .tx
            .prepare_cached(&format!(
                "SELECT {FINDING_COLS} FROM findings WHERE monkey = ?1 AND account = ?2 AND state IN ('open', 'silenced')"
            ))
            .map_err(be)?;
        let rows = st.query_map([monkey, account], row_from_sql).map_err(be)?;
        rows.collect::<Result<_, _>>().map_err(be)
    }
}

/// Persist a plan's writes (the planner decided them).
pub(crate) fn persist(tx: &Transaction<'_>, plan: &Plan, pass_id: i64, now: i64) -> rusqlite::Result<()> {
    let mut upsert = tx.prepare_cached(
        "INSERT INTO items (item, technology, account, region, name, revision, hash, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (item) DO UPDATE SET name = excluded.name, revision = excluded.revision,
             hash = excluded.hash, deleted = excluded.deleted",
    )?;
    let mut add_rev = tx.prepare_cached(
        "INSERT INTO revisions (item, revision, at, change, hash, content, summary, pass_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for w in &plan.items {
        let deleted = w.change == Change::Deleted;
        upsert.execute(params![w.item, w.technology, w.account, w.region, w.name, w.revision, w.hash, deleted])?;
        let summary = serde_json::to_string(&w.summary).unwrap_or_else(|_| "[]".into());
        add_rev.execute(params![w.item, w.revision, now, w.change.as_str(), w.hash, w.content, summary, pass_id])?;
    }
    let mut put = tx.prepare_cached(
        "INSERT INTO findings (fingerprint, monkey, kind, severity, state, account, region, resource, scope,
             title, details, labels, first_seen, last_seen, resolved_at, pass_id, item)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT (fingerprint) DO UPDATE SET severity = excluded.severity, state = excluded.state,
             scope = excluded.scope, title = excluded.title, details = excluded.details, labels = excluded.labels,
             first_seen = excluded.first_seen, last_seen = excluded.last_seen, resolved_at = excluded.resolved_at,
             pass_id = excluded.pass_id, item = excluded.item",
    )?;
    for f in &plan.findings {
        let labels = serde_json::to_string(&f.labels).unwrap_or_else(|_| "{}".into());
        put.execute(params![
            f.fingerprint,
            f.monkey,
            f.kind,
            f.severity.as_str(),
            f.state.as_str(),
            f.account,
            f.region,
            f.resource,
            f.scope,
            f.title,
            canonical::to_string(&f.details),
            labels,
            f.first_seen,
            f.last_seen,
            f.resolved_at,
            pass_id,
            f.item
        ])?;
    }
    Ok(())
}

/// Inside the pass transaction: refuse a pass whose lease is no longer the
/// shard's current epoch, or whose view is older than the committed one;
/// otherwise record its view as the committed one and free the lease.
/// Returns the lease's owner (the replica committing).
fn fence(tx: &Transaction<'_>, pass: &PassMeta) -> Result<String, StoreError> {
    let shard = &pass.lease.shard;
    let held = tx
        .query_row("SELECT epoch, owner, started_at, committed_view FROM pass_lease WHERE shard = ?1", [shard], |r| {
            Ok(HeldLease { epoch: r.get(0)?, owner: r.get(1)?, started_at: r.get(2)?, committed_view: r.get(3)? })
        })
        .optional()
        .map_err(be)?;
    troop_core::store::fence(pass, held.as_ref())?;
    let (view, round) = (millis(pass.started_at), millis(pass.round));
    // committed: the view and the round are the shard's, and the lease is free again
    tx.execute(
        "UPDATE pass_lease SET committed_view = ?2, committed_round = ?3, until = 0 WHERE shard = ?1",
        params![shard, view, round],
    )
    .map_err(be)?;
    Ok(held.map(|h| h.owner).unwrap_or_default())
}

impl SqliteStore {
    fn commit_observations(
        tx: &Transaction<'_>,
        pass: &PassMeta,
        pass_id: i64,
        report: &Report,
    ) -> rusqlite::Result<()> {
        let shard = &pass.lease.shard;
        tx.execute("DELETE FROM observations WHERE shard = ?1", [shard])?;
        let mut ins = tx.prepare_cached(
            "INSERT OR REPLACE INTO observations (monkey, kind, key, data, pass_id, shard) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for o in &report.observations {
            ins.execute(params![pass.monkey, o.kind, o.key, canonical::to_string(&o.data), pass_id, shard])?;
        }
        Ok(())
    }
}

/// Free a lease if it is still this epoch's.
fn end_lease(conn: &Connection, lease: &PassLease) -> rusqlite::Result<()> {
    conn.execute("UPDATE pass_lease SET until = 0 WHERE shard = ?1 AND epoch = ?2", params![lease.shard, lease.epoch])
        .map(|_| ())
}

impl Store for SqliteStore {
    fn begin_pass(
        &self,
        shard: &str,
        owner: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
        stale: &dyn Fn(&str) -> bool,
        fresh_after: Option<OffsetDateTime>,
    ) -> Result<PassLease, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(be)?;
        let held: Option<(String, i64, i64, Option<i64>)> = tx
            .query_row(
                "SELECT owner, started_at, until, COALESCE(committed_round, committed_view) FROM pass_lease WHERE shard = ?1",
                [shard],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(be)?;
        let lease = held.as_ref().map(|(o, s, u, _)| (o.as_str(), *s, *u));
        troop_core::store::may_begin(shard, lease, owner, millis(now), stale)?;
        if let Some(account) = troop_core::store::account_of(shard) {
            // one replica reads a monkey's account at a time (the IMMEDIATE
            // transaction keeps two begins apart)
            let mut st = tx
                .prepare_cached(
                    "SELECT shard, owner, started_at, until FROM pass_lease
                     WHERE (shard = ?1 OR substr(shard, 1, length(?1) + 1) = ?1 || '/') AND shard <> ?2 AND until > 0",
                )
                .map_err(be)?;
            let siblings = st
                .query_map(params![account, shard], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .map_err(be)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(be)?;
            troop_core::store::may_begin_in_account(&siblings, owner, millis(now), stale)?;
        }
        troop_core::store::due(shard, held.as_ref().and_then(|h| h.3), fresh_after.map(millis))?;
        let took_over_from = troop_core::store::took_over(lease, owner);
        let epoch: i64 = tx
            .query_row(
                "INSERT INTO pass_lease (shard, epoch, owner, started_at, until) VALUES (?1, 1, ?2, ?3, ?4)
                 ON CONFLICT (shard) DO UPDATE SET epoch = epoch + 1, owner = excluded.owner,
                     started_at = excluded.started_at, until = excluded.until
                 RETURNING epoch",
                params![shard, owner, millis(now), millis(until)],
                |r| r.get(0),
            )
            .map_err(be)?;
        tx.commit().map_err(be)?;
        Ok(PassLease { shard: shard.to_string(), epoch, took_over_from })
    }

    fn renew_pass(&self, lease: &PassLease, until: OffsetDateTime) -> Result<bool, StoreError> {
        self.lock()
            .execute(
                "UPDATE pass_lease SET until = ?3 WHERE shard = ?1 AND epoch = ?2",
                params![lease.shard, lease.epoch, millis(until)],
            )
            .map(|n| n > 0)
            .map_err(be)
    }

    fn end_pass(&self, lease: &PassLease) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE pass_lease SET until = 0 WHERE shard = ?1 AND epoch = ?2",
                params![lease.shard, lease.epoch],
            )
            .map(|_| ())
            .map_err(be)
    }

    fn commit_pass(&self, pass: &PassMeta, report: &Report) -> Result<CommitOutcome, StoreError> {
        let mut conn = self.lock();
        // IMMEDIATE: the fence check and the writes see one state of the
        // lease (a deferred read could not upgrade after another writer).
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(be)?;
        let owner = fence(&tx, pass)?;
        let stats = serde_json::to_string(&report.counters).unwrap_or_else(|_| "{}".into());
        let status = if report.error.is_some() { "failed" } else { "ok" };
        tx.execute(
            "INSERT INTO passes (monkey, shard, started_at, finished_at, status, error, stats, owner)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                pass.monkey,
                pass.lease.shard,
                pass.started_at.unix_timestamp(),
                pass.finished_at.unix_timestamp(),
                status,
                report.error,
                stats,
                owner
            ],
        )
        .map_err(be)?;
        let pass_id = tx.last_insert_rowid();
        let plan = troop_core::lifecycle::plan(&TxHeld::new(&tx)?, report, &pass.monkey, pass.finished_at)?;
        persist(&tx, &plan, pass_id, pass.finished_at.unix_timestamp()).map_err(be)?;
        let Plan { events, items, items_seen, .. } = plan;
        let revisions_written = items.len();
        Self::commit_observations(&tx, pass, pass_id, report).map_err(be)?;
        crate::alerts::log_events(&tx, &events).map_err(be)?;
        let open_findings: i64 = tx
            .query_row("SELECT COUNT(*) FROM findings WHERE monkey = ?1 AND state = 'open'", [&pass.monkey], |r| {
                r.get(0)
            })
            .map_err(be)?;
        if let Some(d) = self.fault_commit_delay.lock().unwrap_or_else(|e| e.into_inner()).take() {
            eprintln!("fault injection: pass {pass_id} written, holding its transaction open for {}ms", d.as_millis());
            std::thread::sleep(d);
        }
        tx.commit().map_err(be)?;
        Ok(CommitOutcome { pass_id, events, revisions_written, items_seen, open_findings: open_findings as usize })
    }

    fn keep_shards(&self, monkey: &str, shards: &[String], now: OffsetDateTime) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(be)?;
        let leased: Vec<String> = {
            let mut st = tx
                .prepare("SELECT shard FROM pass_lease WHERE (shard = ?1 OR (shard > ?1 || '/' AND shard < ?1 || '0')) AND until < ?2")
                .map_err(be)?;
            let rows = st.query_map(params![monkey, millis(now)], |r| r.get(0)).map_err(be)?;
            rows.collect::<Result<_, _>>().map_err(be)?
        };
        let listed: std::collections::HashSet<&str> = shards.iter().map(String::as_str).collect();
        for gone in leased.iter().filter(|s| !listed.contains(s.as_str())) {
            tx.execute("DELETE FROM pass_lease WHERE shard = ?1", [gone]).map_err(be)?;
        }
        let held: Vec<String> = {
            let mut st = tx.prepare("SELECT DISTINCT shard FROM observations WHERE monkey = ?1").map_err(be)?;
            let rows = st.query_map([monkey], |r| r.get(0)).map_err(be)?;
            rows.collect::<Result<_, _>>().map_err(be)?
        };
        let keep: std::collections::HashSet<&str> = shards.iter().map(String::as_str).collect();
        for gone in held.iter().filter(|s| !keep.contains(s.as_str())) {
            tx.execute("DELETE FROM observations WHERE shard = ?1", [gone]).map_err(be)?;
        }
        tx.commit().map_err(be)
    }

    fn shard_records(&self, now: OffsetDateTime) -> Result<Vec<troop_core::status::ShardRecord>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(
                "SELECT l.shard, CASE WHEN l.until >= ?1 THEN l.owner END,
                     (SELECT MAX(finished_at) FROM passes p WHERE p.shard = l.shard AND p.status = 'ok'),
                     (SELECT owner FROM passes p WHERE p.shard = l.shard AND p.status = 'ok'
                      ORDER BY finished_at DESC, id DESC LIMIT 1)
                 FROM pass_lease l ORDER BY l.shard",
            )
            .map_err(be)?;
        let rows = st
            .query_map([millis(now)], |r| {
                Ok(troop_core::status::ShardRecord {
                    shard: r.get(0)?,
                    holder: r.get(1)?,
                    last_success: r.get(2)?,
                    last_holder: r.get(3)?,
                })
            })
            .map_err(be)?;
        rows.collect::<Result<_, _>>().map_err(be)
    }

    /// One writer: a shard's commit waits for the one before.
    fn serializes_commits(&self) -> bool {
        true
    }

    fn heartbeat(&self, r: &troop_core::status::Replica) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT INTO replicas (replica, host, pid, version, started_at, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (replica) DO UPDATE SET seen_at = excluded.seen_at, version = excluded.version",
                params![r.replica, r.host, r.pid, r.version, r.started_at, r.seen_at],
            )
            .map(|_| ())
            .map_err(be)
    }

    fn replicas(&self, since: i64) -> Result<Vec<troop_core::status::Replica>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(
                "SELECT replica, host, pid, version, started_at, seen_at FROM replicas WHERE seen_at >= ?1 ORDER BY replica",
            )
            .map_err(be)?;
        let rows = st
            .query_map([since], |r| {
                Ok(troop_core::status::Replica {
                    replica: r.get(0)?,
                    host: r.get(1)?,
                    pid: r.get(2)?,
                    version: r.get(3)?,
                    started_at: r.get(4)?,
                    seen_at: r.get(5)?,
                })
            })
            .map_err(be)?;
        rows.collect::<Result<_, _>>().map_err(be)
    }

    fn pass_counts(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT status, COUNT(*) FROM passes GROUP BY status").map_err(be)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(be)?;
        rows.collect::<Result<_, _>>().map_err(be)
    }

    fn record_failed_pass(&self, pass: &PassMeta, error: &str) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(be)?;
        tx.execute(
            "INSERT INTO passes (monkey, shard, started_at, finished_at, status, error) VALUES (?1, ?2, ?3, ?4, 'failed', ?5)",
            params![
                pass.monkey,
                pass.lease.shard,
                pass.started_at.unix_timestamp(),
                pass.finished_at.unix_timestamp(),
                error
            ],
        )
        .map_err(be)?;
        end_lease(&tx, &pass.lease).map_err(be)?;
        tx.commit().map_err(be)
    }

    fn findings(&self, filter: &FindingFilter) -> Result<Vec<StoredFinding>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(&format!(
                "SELECT {FINDING_COLS} FROM findings WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR monkey = ?2)
                     AND (?3 IS NULL OR CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END <= ?3)
                     AND (?4 IS NULL OR json_extract(details, '$.item') = ?4)
                 ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, monkey, kind, account, region, resource"
            ))
            .map_err(be)?;
        // the same rank as the ORDER BY: 0 is the most severe
        let rank = filter.min_severity.map(|s| match s {
            Severity::Critical => 0,
            Severity::Warning => 1,
            Severity::Info => 2,
        });
        let rows = st
            .query_map(params![filter.state.map(|s| s.as_str()), filter.monkey, rank, filter.item], finding_from_row)
            .map_err(be)?;
        rows.collect::<Result<_, _>>().map_err(be)
    }

    fn record_event(&self, e: &ChangeEvent, received_at: OffsetDateTime) -> Result<bool, StoreError> {
        let labels = serde_json::to_string(&e.labels).unwrap_or_else(|_| "{}".into());
        let n = self
            .lock()
            .execute(
                "INSERT INTO change_events (source, id, type, summary, resource, account, labels, at, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (source, id) DO NOTHING",
                params![
                    e.source,
                    e.id,
                    e.kind,
                    e.summary,
                    e.resource,
                    e.account,
                    labels,
                    troop_core::timeline::unix_seconds(&e.at),
                    received_at.unix_timestamp()
                ],
            )
            .map_err(be)?;
        Ok(n == 1)
    }

    fn events_since(&self, since: OffsetDateTime) -> Result<Vec<ChangeEvent>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare_cached(
                "SELECT source, id, type, summary, resource, account, labels, at FROM change_events
                 WHERE at >= ?1 ORDER BY at, seq",
            )
            .map_err(be)?;
        let rows = st
            .query_map([since.unix_timestamp()], |r| {
                Ok(ChangeEvent {
                    source: r.get(0)?,
                    id: r.get(1)?,
                    kind: r.get(2)?,
                    summary: r.get(3)?,
                    resource: r.get(4)?,
                    account: r.get(5)?,
                    labels: serde_json::from_str(&r.get::<_, String>(6)?).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
                    })?,
                    at: rfc3339_unix(r.get(7)?),
                })
            })
            .map_err(be)?;
        rows.collect::<Result<_, _>>().map_err(be)
    }

    fn transitions_since(&self, since: OffsetDateTime) -> Result<Vec<FindingEvent>, StoreError> {
        let conn = self.lock();
        let mut st =
            conn.prepare_cached("SELECT event FROM alert_transitions WHERE at >= ?1 ORDER BY at, seq").map_err(be)?;
        let rows = st.query_map([since.unix_timestamp()], |r| r.get::<_, String>(0)).map_err(be)?;
        let mut out = Vec::new();
        for json in rows {
            out.push(
                serde_json::from_str(&json.map_err(be)?)
                    .map_err(|e| StoreError::Backend(format!("corrupt alert transition: {e}")))?,
            );
        }
        Ok(out)
    }

    fn revisions_since(&self, since: OffsetDateTime) -> Result<Vec<Revision>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(&format!(
                "{} WHERE r.at >= ?1 ORDER BY r.at, r.item, r.revision",
                REVISION_SELECT.replace("r.content", "NULL")
            ))
            .map_err(be)?;
        let rows = st.query_map([since.unix_timestamp()], revision_from_row).map_err(be)?;
        rows.collect::<Result<_, _>>().map_err(be)
    }

    fn revisions_latest(&self, since: OffsetDateTime, limit: usize) -> Result<(u64, Vec<Revision>), StoreError> {
        let conn = self.lock();
        let at = since.unix_timestamp();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM revisions WHERE at >= ?1", [at], |r| r.get(0)).map_err(be)?;
        let mut st = conn
            .prepare(&format!(
                "{} WHERE r.at >= ?1 ORDER BY r.at DESC, r.item DESC, r.revision DESC LIMIT ?2",
                REVISION_SELECT.replace("r.content", "NULL")
            ))
            .map_err(be)?;
        let rows = st.query_map(params![at, limit as i64], revision_from_row).map_err(be)?;
        Ok((n as u64, rows.collect::<Result<_, _>>().map_err(be)?))
    }

    fn history(&self, item: &str) -> Result<Vec<Revision>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare(&format!("{REVISION_SELECT} WHERE r.item = ?1 ORDER BY r.revision")).map_err(be)?;
        let rows: Vec<Revision> =
            st.query_map([item], revision_from_row).map_err(be)?.collect::<Result<_, _>>().map_err(be)?;
        if rows.is_empty() {
            return Err(StoreError::NotFound(format!("no item `{item}` in the store")));
        }
        Ok(rows)
    }

    fn state_at(&self, item: &str, at: OffsetDateTime) -> Result<Option<Revision>, StoreError> {
        let conn = self.lock();
        conn.prepare(&format!("{REVISION_SELECT} WHERE r.item = ?1 AND r.at <= ?2 ORDER BY r.revision DESC LIMIT 1"))
            .map_err(be)?
            .query_row(params![item, at.unix_timestamp()], revision_from_row)
            .optional()
            .map_err(be)
    }

    fn find_items(&self, query: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(
                "SELECT item FROM items WHERE item = ?1
                 UNION SELECT item FROM items WHERE NOT EXISTS (SELECT 1 FROM items WHERE item = ?1)
                     AND (substr(item, -length(?1) - 1) = '/' || ?1 OR name = ?1)
                 ORDER BY item",
            )
            .map_err(be)?;
        let rows = st.query_map([query], |r| r.get(0)).map_err(be)?;
        let exact: Vec<String> = rows.collect::<Result<_, _>>().map_err(be)?;
        if !exact.is_empty() || query.is_empty() {
            return Ok(exact);
        }
        // A unique prefix of the id or of its last part (`sg-0abc`).
        let mut st = conn
            .prepare(
                "SELECT item FROM items WHERE substr(item, 1, length(?1)) = ?1 OR instr(item, '/' || ?1) > 0
                 ORDER BY item",
            )
            .map_err(be)?;
        let rows = st.query_map([query], |r| r.get::<_, String>(0)).map_err(be)?;
        let found: Vec<String> = rows.collect::<Result<_, _>>().map_err(be)?;
        // keep only ids whose last part really starts with the query
        Ok(found
            .into_iter()
            .filter(|i| i.starts_with(query) || i.rsplit('/').next().is_some_and(|last| last.starts_with(query)))
            .collect())
    }

    fn last_successes(&self) -> Result<std::collections::BTreeMap<String, OffsetDateTime>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT monkey, MAX(finished_at) FROM passes WHERE status = 'ok' GROUP BY monkey")
            .map_err(be)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(be)?;
        let mut out = std::collections::BTreeMap::new();
        for row in rows {
            let (monkey, at) = row.map_err(be)?;
            if let Ok(t) = OffsetDateTime::from_unix_timestamp(at) {
                out.insert(monkey, t);
            }
        }
        Ok(out)
    }

    fn first_observed(&self, technology: &str, account: &str) -> Result<Option<OffsetDateTime>, StoreError> {
        let conn = self.lock();
        let at: Option<i64> = conn
            .query_row(
                "SELECT MIN(r.at) FROM revisions r JOIN items i ON i.item = r.item
                 WHERE i.technology = ?1 AND i.account = ?2",
                params![technology, account],
                |r| r.get(0),
            )
            .map_err(be)?;
        Ok(at.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()))
    }

    fn attach_who(&self, attributions: &[Attribution]) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(be)?;
        {
            let mut st =
                tx.prepare_cached("UPDATE revisions SET who = ?3 WHERE item = ?1 AND revision = ?2").map_err(be)?;
            for a in attributions {
                st.execute(params![a.item, a.revision, canonical::to_string(&a.who)]).map_err(be)?;
            }
        }
        tx.commit().map_err(be)
    }

    fn pending_attribution(&self, shard: &str, since: OffsetDateTime) -> Result<Vec<Written>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(
                "SELECT r.item, i.technology, i.account, i.region, i.name, r.revision, r.change, r.at,
                     (SELECT pp.started_at FROM revisions p JOIN passes pp ON pp.id = p.pass_id
                      WHERE p.item = r.item AND p.revision = r.revision - 1)
                 FROM passes ps JOIN revisions r ON r.pass_id = ps.id JOIN items i ON i.item = r.item
                 WHERE (ps.shard = ?1 OR (ps.shard > ?1 || '/' AND ps.shard < ?1 || '0')) AND ps.finished_at >= ?2 AND r.change IN ('modified', 'deleted')
                     AND (r.who IS NULL OR json_extract(r.who, '$.status') = 'pending')
                 ORDER BY r.at, r.item",
            )
            .map_err(be)?;
        let time = |t: i64| OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let rows = st
            .query_map(params![shard, since.unix_timestamp()], |r| {
                Ok(Written {
                    item: r.get(0)?,
                    technology: r.get(1)?,
                    account: r.get(2)?,
                    region: r.get(3)?,
                    name: r.get(4)?,
                    revision: r.get(5)?,
                    change: r.get(6)?,
                    at: time(r.get(7)?),
                    previous_at: r.get::<_, Option<i64>>(8)?.map(time),
                })
            })
            .map_err(be)?;
        rows.collect::<Result<_, _>>().map_err(be)
    }

    fn observations(&self, kind: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare("SELECT data FROM observations WHERE kind = ?1 ORDER BY monkey, key").map_err(be)?;
        let rows = st.query_map([kind], |r| r.get::<_, String>(0)).map_err(be)?;
        rows.map(|r| r.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::Null)))
            .collect::<Result<_, _>>()
            .map_err(be)
    }
}

#[cfg(test)]
mod tests;

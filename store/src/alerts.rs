//! The alert gateway's tables: event log, groups, per-sink outbox, silences.

use crate::sqlite::{FINDING_COLS, SqliteStore, TxHeld, be, finding_from_row, persist};
use rusqlite::{OptionalExtension, Transaction, params};
use troop_core::alerting::{Group, Notification};
use troop_core::finding::FindingEvent;
use troop_core::store::{AlertBatch, AlertStore, Delivery, OutboxEntry, OutboxStats, SilenceRecord, StoreError};

/// Append a committed pass's events to the alert log (inside its transaction).
/// Transitions (every event but `still_open`) are kept for the timeline too.
pub(crate) fn log_events(tx: &Transaction, events: &[FindingEvent]) -> rusqlite::Result<()> {
    let mut st = tx.prepare_cached("INSERT INTO alert_events (event) VALUES (?1)")?;
    let mut keep = tx.prepare_cached("INSERT INTO alert_transitions (at, event) VALUES (?1, ?2)")?;
    for ev in events {
        let json = serde_json::to_string(ev).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        if troop_core::timeline::transition_word(ev.event).is_some() {
            keep.execute(params![troop_core::timeline::unix_seconds(&ev.at), json])?;
        }
        st.execute([json])?;
    }
    Ok(())
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("corrupt alert state: {e}"))
}

const CURSOR: &str = "cursor";

impl AlertStore for SqliteStore {
    fn posted_unresolved(&self) -> Result<Vec<troop_core::StoredFinding>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare_cached(&format!(
                "SELECT {FINDING_COLS} FROM findings WHERE scope = ?1 AND state IN ('open', 'silenced') ORDER BY fingerprint"
            ))
            .map_err(be)?;
        let rows = st.query_map([troop_core::alerting::posted::SCOPE], finding_from_row).map_err(be)?;
        rows.collect::<Result<_, _>>().map_err(be)
    }

    fn ingest(
        &self,
        source: &str,
        report: &troop_core::monkey::Report,
        at: time::OffsetDateTime,
    ) -> Result<Vec<FindingEvent>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(be)?;
        let plan = troop_core::lifecycle::plan(&TxHeld::new(&tx)?, report, source, at)?;
        persist(&tx, &plan, 0, at.unix_timestamp()).map_err(be)?;
        log_events(&tx, &plan.events).map_err(be)?;
        tx.commit().map_err(be)?;
        Ok(plan.events)
    }

    fn open_findings(&self) -> Result<Vec<troop_core::StoredFinding>, StoreError> {
        let open =
            troop_core::store::FindingFilter { state: Some(troop_core::FindingState::Open), ..Default::default() };
        troop_core::Store::findings(self, &open)
    }

    fn alert_state(&self) -> Result<(i64, Vec<Group>), StoreError> {
        let conn = self.lock();
        let cursor: i64 = conn
            .query_row("SELECT value FROM alert_meta WHERE key = ?1", [CURSOR], |r| r.get(0))
            .optional()
            .map_err(be)?
            .unwrap_or(0);
        let mut st = conn.prepare("SELECT data FROM alert_groups ORDER BY key").map_err(be)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(be)?;
        let mut groups = Vec::new();
        for data in rows {
            groups.push(serde_json::from_str(&data.map_err(be)?).map_err(json_err)?);
        }
        let mut st = conn.prepare("SELECT group_key, fingerprint, data FROM alert_group_members").map_err(be)?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)));
        let mut members = Vec::new();
        for row in rows.map_err(be)? {
            let (key, fp, data) = row.map_err(be)?;
            members.push((key, fp, serde_json::from_str(&data).map_err(json_err)?));
        }
        Ok((cursor, troop_core::alerting::group::assemble(groups, members)))
    }

    fn alert_events(&self, after: i64, limit: usize) -> Result<Vec<(i64, FindingEvent)>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare_cached("SELECT seq, event FROM alert_events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(be)?;
        let rows = st.query_map(params![after, limit as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)));
        let mut out = Vec::new();
        for row in rows.map_err(be)? {
            let (seq, json) = row.map_err(be)?;
            out.push((seq, serde_json::from_str(&json).map_err(json_err)?));
        }
        Ok(out)
    }

    fn alert_apply(&self, batch: &AlertBatch) -> Result<(), StoreError> {
        // serialized before the store is locked: a notification about a large
        // group is megabytes of JSON, and posts wait for the lock
        let headers: Vec<String> =
            batch.upsert.iter().map(serde_json::to_string).collect::<Result<_, _>>().map_err(json_err)?;
        let members: Vec<String> =
            batch.members.iter().map(|(_, m)| serde_json::to_string(m)).collect::<Result<_, _>>().map_err(json_err)?;
        let payloads: Vec<String> =
            batch.outbox.iter().map(serde_json::to_string).collect::<Result<_, _>>().map_err(json_err)?;
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(be)?;
        tx.execute(
            "INSERT INTO alert_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![CURSOR, batch.cursor],
        )
        .map_err(be)?;
        tx.execute("DELETE FROM alert_events WHERE seq <= ?1", [batch.cursor]).map_err(be)?;
        {
            let mut up = tx
                .prepare_cached(
                    "INSERT INTO alert_groups (key, data) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET data = excluded.data",
                )
                .map_err(be)?;
            for (g, data) in batch.upsert.iter().zip(&headers) {
                up.execute(params![g.key, data]).map_err(be)?;
            }
            let mut del = tx.prepare_cached("DELETE FROM alert_groups WHERE key = ?1").map_err(be)?;
            let mut del_members =
                tx.prepare_cached("DELETE FROM alert_group_members WHERE group_key = ?1").map_err(be)?;
            for k in &batch.remove {
                del.execute([k]).map_err(be)?;
                del_members.execute([k]).map_err(be)?;
            }
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO alert_group_members (group_key, fingerprint, data) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (group_key, fingerprint) DO UPDATE SET data = excluded.data",
                )
                .map_err(be)?;
            for ((key, m), data) in batch.members.iter().zip(&members) {
                put.execute(params![key, m.finding.fingerprint, data]).map_err(be)?;
            }
            let mut leave = tx
                .prepare_cached("DELETE FROM alert_group_members WHERE group_key = ?1 AND fingerprint = ?2")
                .map_err(be)?;
            for (key, fp) in &batch.left {
                leave.execute([key, fp]).map_err(be)?;
            }
            let mut q = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO outbox (notification_id, sink, group_id, status, next_attempt_at, created_at) \
                     VALUES (?1, ?2, ?3, 'pending', ?4, ?4)",
                )
                .map_err(be)?;
            let mut body =
                tx.prepare_cached("INSERT INTO outbox_payloads (id, payload) VALUES (?1, ?2)").map_err(be)?;
            for (n, payload) in batch.outbox.iter().zip(&payloads) {
                if q.execute(params![n.id, n.sink, n.group_id, n.at]).map_err(be)? == 1 {
                    body.execute(params![tx.last_insert_rowid(), payload]).map_err(be)?;
                }
            }
        }
        if let Some(before) = batch.prune_before {
            tx.execute(
                "DELETE FROM outbox_payloads WHERE id IN \
                 (SELECT id FROM outbox WHERE status != 'pending' AND done_at < ?1)",
                [before],
            )
            .map_err(be)?;
            tx.execute("DELETE FROM outbox WHERE status != 'pending' AND done_at < ?1", [before]).map_err(be)?;
        }
        tx.commit().map_err(be)
    }

    fn outbox_due(&self, sink: &str, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows: Vec<(i64, String, u32)> = {
            let conn = self.lock();
            let mut st = conn
                .prepare_cached(
                    "SELECT o.id, p.payload, o.attempts FROM outbox o JOIN outbox_payloads p ON p.id = o.id \
                     WHERE o.sink = ?1 AND o.status = 'pending' AND o.next_attempt_at <= ?2 \
                     AND NOT EXISTS (SELECT 1 FROM outbox w WHERE w.sink = o.sink AND w.status = 'pending' \
                         AND w.group_id = o.group_id AND w.id < o.id AND w.next_attempt_at > ?2) \
                     ORDER BY o.id LIMIT ?3",
                )
                .map_err(be)?;
            st.query_map(params![sink, now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(be)?
                .collect::<Result<_, _>>()
                .map_err(be)?
        };
        // parsed with the store unlocked (a large group's payload is megabytes)
        rows.into_iter()
            .map(|(id, payload, attempts)| {
                let notification: Notification = serde_json::from_str(&payload).map_err(json_err)?;
                Ok(OutboxEntry { id, sink: sink.to_string(), notification, attempts })
            })
            .collect()
    }

    fn outbox_next(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT MIN(o.next_attempt_at) FROM outbox o WHERE o.sink = ?1 AND o.status = 'pending' \
             AND NOT EXISTS (SELECT 1 FROM outbox w WHERE w.sink = o.sink AND w.status = 'pending' \
                 AND w.group_id = o.group_id AND w.id < o.id)",
            [sink],
            |r| r.get(0),
        )
        .map_err(be)
    }

    fn outbox_mark(&self, id: i64, outcome: &Delivery, now: i64) -> Result<(), StoreError> {
        let mut conn = self.lock();
        match outcome {
            // what was delivered need not be kept (a failed entry keeps its
            // payload until pruned)
            Delivery::Delivered => {
                let tx = conn.transaction().map_err(be)?;
                tx.execute(
                    "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, done_at = ?2 WHERE id = ?1",
                    params![id, now],
                )
                .map_err(be)?;
                tx.execute("DELETE FROM outbox_payloads WHERE id = ?1", [id]).map_err(be)?;
                tx.commit().map(|()| 0)
            }
            Delivery::Retry { at, error } => conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, failed_attempts = failed_attempts + 1, next_attempt_at = ?2, last_error = ?3 WHERE id = ?1",
                params![id, at, error],
            ),
            Delivery::Failed { error } => conn.execute(
                "UPDATE outbox SET status = 'failed', attempts = attempts + 1, failed_attempts = failed_attempts + 1, last_error = ?2, done_at = ?3 WHERE id = ?1",
                params![id, error, now],
            ),
        }
        .map_err(be)?;
        Ok(())
    }

    fn outbox_abandon(&self, keep: &[&str], error: &str, now: i64) -> Result<usize, StoreError> {
        let conn = self.lock();
        // keep is a handful of configured sink names: a JSON array bound once
        let keep = serde_json::to_string(keep).map_err(json_err)?;
        conn.execute(
            "UPDATE outbox SET status = 'failed', last_error = ?2, done_at = ?3 \
             WHERE status = 'pending' AND sink NOT IN (SELECT value FROM json_each(?1))",
            params![keep, error, now],
        )
        .map_err(be)
    }

    fn outbox_stats(&self) -> Result<Vec<OutboxStats>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare(
                "SELECT sink, \
                   SUM(status = 'pending'), SUM(status = 'failed'), SUM(status = 'delivered'), SUM(failed_attempts), \
                   (SELECT last_error FROM outbox o2 WHERE o2.sink = o.sink AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1) \
                 FROM outbox o GROUP BY sink ORDER BY sink",
            )
            .map_err(be)?;
        let rows = st.query_map([], |r| {
            Ok(OutboxStats {
                sink: r.get(0)?,
                pending: r.get::<_, i64>(1)? as u64,
                failed: r.get::<_, i64>(2)? as u64,
                delivered: r.get::<_, i64>(3)? as u64,
                failed_attempts: r.get::<_, i64>(4)? as u64,
                last_error: r.get(5)?,
                ..Default::default()
            })
        });
        let mut stats: Vec<OutboxStats> = rows.map_err(be)?.collect::<Result<Vec<_>, _>>().map_err(be)?;
        let mut st = conn.prepare("SELECT sink, task_restarts, task_error FROM sink_health").map_err(be)?;
        let health = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))
            .map_err(be)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(be)?;
        for (sink, restarts, error) in health {
            let i = match stats.iter().position(|s| s.sink == sink) {
                Some(i) => i,
                None => {
                    stats.push(OutboxStats { sink, ..Default::default() });
                    stats.len() - 1
                }
            };
            stats[i].task_restarts = restarts as u64;
            stats[i].task_error = Some(error);
        }
        stats.sort_by(|a, b| a.sink.cmp(&b.sink));
        Ok(stats)
    }

    fn record_task_restart(&self, sink: &str, error: &str, at: i64) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT INTO sink_health (sink, task_restarts, task_error, at) VALUES (?1, 1, ?2, ?3)
                 ON CONFLICT (sink) DO UPDATE SET task_restarts = task_restarts + 1, task_error = excluded.task_error,
                     at = excluded.at",
                params![sink, error, at],
            )
            .map(|_| ())
            .map_err(be)
    }

    fn silences(&self) -> Result<Vec<SilenceRecord>, StoreError> {
        let conn = self.lock();
        let mut st = conn
            .prepare("SELECT id, matchers, starts_at, ends_at, author, reason, created_at FROM silences ORDER BY created_at, id")
            .map_err(be)?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        });
        let mut out = Vec::new();
        for row in rows.map_err(be)? {
            let (id, matchers, starts_at, ends_at, author, reason, created_at) = row.map_err(be)?;
            let matchers = serde_json::from_str(&matchers).map_err(json_err)?;
            out.push(SilenceRecord { id, matchers, starts_at, ends_at, author, reason, created_at });
        }
        Ok(out)
    }

    fn alert_lease(
        &self,
        owner: &str,
        now: i64,
        until: i64,
        stale: &dyn Fn(&str) -> bool,
    ) -> Result<Option<i64>, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(be)?;
        let held: Option<(String, i64, i64)> = tx
            .query_row("SELECT owner, until, epoch FROM alert_lease WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(be)?;
        let epoch = troop_core::store::alert_lease_epoch(
            held.as_ref().map(|(o, u, e)| (o.as_str(), *u, *e)),
            owner,
            now,
            stale,
        );
        if let Some(epoch) = epoch {
            tx.execute(
                "INSERT INTO alert_lease (id, owner, until, epoch) VALUES (1, ?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, until = excluded.until, epoch = excluded.epoch",
                params![owner, until, epoch],
            )
            .map_err(be)?;
        }
        tx.commit().map_err(be)?;
        Ok(epoch)
    }

    fn alert_lease_holds(&self, owner: &str, epoch: i64, now: i64) -> Result<bool, StoreError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT COUNT(*) FROM alert_lease WHERE id = 1 AND owner = ?1 AND epoch = ?2 AND until >= ?3",
            params![owner, epoch, now],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
        .map_err(be)
    }

    fn alert_release(&self, owner: &str) -> Result<(), StoreError> {
        let conn = self.lock();
        // the row stays, so the next holder's epoch is higher
        conn.execute("UPDATE alert_lease SET until = 0 WHERE id = 1 AND owner = ?1", [owner]).map_err(be)?;
        Ok(())
    }

    fn add_silence(&self, s: &SilenceRecord) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, author, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                s.id,
                serde_json::to_string(&s.matchers).map_err(json_err)?,
                s.starts_at,
                s.ends_at,
                s.author,
                s.reason,
                s.created_at
            ],
        )
        .map_err(be)?;
        Ok(())
    }

    fn end_silence(&self, id: &str, at: &str) -> Result<bool, StoreError> {
        let conn = self.lock();
        let n = conn
            .execute("UPDATE silences SET ends_at = ?2 WHERE id = ?1 AND ends_at > ?2", params![id, at])
            .map_err(be)?;
        Ok(n > 0)
    }
}

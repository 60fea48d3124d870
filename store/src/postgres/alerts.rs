//! The alert gateway's tables on PostgreSQL: event log, groups, per-sink
//! outbox, silences, the gateway lease.

use super::{FINDING_COLS, PgStore, TxHeld, finding_row, pe, persist, schema};
use troop_core::alerting::{Group, Notification};
use troop_core::finding::FindingEvent;
use troop_core::store::{AlertBatch, AlertStore, Delivery, OutboxEntry, OutboxStats, SilenceRecord, StoreError};

/// Append a committed shard's events to the alert log, inside its
/// transaction. Appends are serialized (a transaction-scoped advisory lock
/// held to the commit), so sequence numbers become visible in order and a
/// reader's cursor never passes an event still to commit.
pub(crate) async fn log_events(
    tx: &tokio_postgres::Transaction<'_>,
    events: &[FindingEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&schema::ALERT_LOG_LOCK]).await.map_err(pe)?;
    let json: Vec<String> =
        events.iter().map(|e| serde_json::to_string(e).map_err(json_err)).collect::<Result<_, _>>()?;
    tx.execute(
        "INSERT INTO alert_events (event) SELECT e FROM UNNEST($1::text[]) WITH ORDINALITY AS u(e, n) ORDER BY n",
        &[&json],
    )
    .await
    .map_err(pe)?;
    // transitions (every event but `still_open`) are kept for the timeline too
    let (at, kept): (Vec<i64>, Vec<&String>) = events
        .iter()
        .zip(&json)
        .filter(|(e, _)| troop_core::timeline::transition_word(e.event).is_some())
        .map(|(e, j)| (troop_core::timeline::unix_seconds(&e.at), j))
        .unzip();
    if !kept.is_empty() {
        tx.execute(
            "INSERT INTO alert_transitions (at, event) SELECT a, e FROM UNNEST($1::bigint[], $2::text[]) AS u(a, e)",
            &[&at, &kept],
        )
        .await
        .map_err(pe)?;
    }
    Ok(())
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Backend(format!("corrupt alert state: {e}"))
}

const CURSOR: &str = "cursor";

impl AlertStore for PgStore {
    fn posted_unresolved(&self) -> Result<Vec<troop_core::StoredFinding>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(
                &format!(
                    "SELECT {FINDING_COLS} FROM findings WHERE scope = $1 AND state IN ('open', 'silenced') ORDER BY fingerprint"
                ),
                &[&troop_core::alerting::posted::SCOPE],
            ))
            .map_err(pe)?;
        Ok(rows.iter().map(|r| finding_row(r).stored()).collect())
    }

    fn ingest(
        &self,
        source: &str,
        report: &troop_core::monkey::Report,
        at: time::OffsetDateTime,
    ) -> Result<Vec<FindingEvent>, StoreError> {
        let mut client = self.client()?;
        let tx = self.block(client.transaction()).map_err(pe)?;
        let plan = {
            let held = TxHeld::new(self, &tx, report)?;
            troop_core::lifecycle::plan(&held, report, source, at)?
        };
        self.block(async {
            persist(&tx, &plan, 0, at.unix_timestamp()).await?;
            log_events(&tx, &plan.events).await
        })?;
        self.block(tx.commit()).map_err(pe)?;
        Ok(plan.events)
    }

    fn open_findings(&self) -> Result<Vec<troop_core::StoredFinding>, StoreError> {
        let open =
            troop_core::store::FindingFilter { state: Some(troop_core::FindingState::Open), ..Default::default() };
        troop_core::Store::findings(self, &open)
    }

    fn alert_state(&self) -> Result<(i64, Vec<Group>), StoreError> {
        let client = self.client()?;
        self.block(async {
            let cursor: i64 = client
                .query_opt("SELECT value FROM alert_meta WHERE key = $1", &[&CURSOR])
                .await
                .map_err(pe)?
                .map(|r| r.get(0))
                .unwrap_or(0);
            let rows = client.query("SELECT data FROM alert_groups ORDER BY key", &[]).await.map_err(pe)?;
            let groups = rows
                .iter()
                .map(|r| serde_json::from_str(&r.get::<_, String>(0)).map_err(json_err))
                .collect::<Result<_, _>>()?;
            let rows =
                client.query("SELECT group_key, fingerprint, data FROM alert_group_members", &[]).await.map_err(pe)?;
            let members = rows
                .iter()
                .map(|r| Ok((r.get(0), r.get(1), serde_json::from_str(&r.get::<_, String>(2)).map_err(json_err)?)))
                .collect::<Result<_, StoreError>>()?;
            Ok((cursor, troop_core::alerting::group::assemble(groups, members)))
        })
    }

    fn alert_events(&self, after: i64, limit: usize) -> Result<Vec<(i64, FindingEvent)>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(
                "SELECT seq, event FROM alert_events WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &(limit as i64)],
            ))
            .map_err(pe)?;
        rows.iter().map(|r| Ok((r.get(0), serde_json::from_str(&r.get::<_, String>(1)).map_err(json_err)?))).collect()
    }

    fn alert_apply(&self, batch: &AlertBatch) -> Result<(), StoreError> {
        let payloads: Vec<String> =
            batch.outbox.iter().map(serde_json::to_string).collect::<Result<_, _>>().map_err(json_err)?;
        let mut client = self.client()?;
        self.block(async {
            let tx = client.transaction().await.map_err(pe)?;
            tx.execute(
                "INSERT INTO alert_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&CURSOR, &batch.cursor],
            )
            .await
            .map_err(pe)?;
            tx.execute("DELETE FROM alert_events WHERE seq <= $1", &[&batch.cursor]).await.map_err(pe)?;
            let keys: Vec<&str> = batch.upsert.iter().map(|g| g.key.as_str()).collect();
            let data: Vec<String> =
                batch.upsert.iter().map(|g| serde_json::to_string(g).map_err(json_err)).collect::<Result<_, _>>()?;
            tx.execute(
                "INSERT INTO alert_groups (key, data) SELECT * FROM UNNEST($1::text[], $2::text[])
                 ON CONFLICT (key) DO UPDATE SET data = excluded.data",
                &[&keys, &data],
            )
            .await
            .map_err(pe)?;
            tx.execute("DELETE FROM alert_groups WHERE key = ANY($1::text[])", &[&batch.remove]).await.map_err(pe)?;
            tx.execute("DELETE FROM alert_group_members WHERE group_key = ANY($1::text[])", &[&batch.remove])
                .await
                .map_err(pe)?;
            let (mut keys, mut fps, mut data) = (Vec::new(), Vec::new(), Vec::new());
            for (key, m) in &batch.members {
                keys.push(key.as_str());
                fps.push(m.finding.fingerprint.as_str());
                data.push(serde_json::to_string(m).map_err(json_err)?);
            }
            tx.execute(
                "INSERT INTO alert_group_members (group_key, fingerprint, data)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])
                 ON CONFLICT (group_key, fingerprint) DO UPDATE SET data = excluded.data",
                &[&keys, &fps, &data],
            )
            .await
            .map_err(pe)?;
            let keys: Vec<&str> = batch.left.iter().map(|(k, _)| k.as_str()).collect();
            let fps: Vec<&str> = batch.left.iter().map(|(_, fp)| fp.as_str()).collect();
            tx.execute(
                "DELETE FROM alert_group_members m USING UNNEST($1::text[], $2::text[]) AS gone (k, fp)
                 WHERE m.group_key = gone.k AND m.fingerprint = gone.fp",
                &[&keys, &fps],
            )
            .await
            .map_err(pe)?;
            for (n, payload) in batch.outbox.iter().zip(&payloads) {
                let id = tx
                    .query_opt(
                        "INSERT INTO outbox (notification_id, sink, group_id, status, next_attempt_at, created_at)
                         VALUES ($1, $2, $3, 'pending', $4, $4) ON CONFLICT (sink, notification_id) DO NOTHING
                         RETURNING id",
                        &[&n.id, &n.sink, &n.group_id, &n.at],
                    )
                    .await
                    .map_err(pe)?;
                if let Some(row) = id {
                    tx.execute("INSERT INTO outbox_payloads (id, payload) VALUES ($1, $2)", &[&row.get::<_, i64>(0), payload])
                        .await
                        .map_err(pe)?;
                }
            }
            if let Some(before) = batch.prune_before {
                tx.execute(
                    "DELETE FROM outbox_payloads WHERE id IN
                     (SELECT id FROM outbox WHERE status <> 'pending' AND done_at < $1)",
                    &[&before],
                )
                .await
                .map_err(pe)?;
                tx.execute("DELETE FROM outbox WHERE status <> 'pending' AND done_at < $1", &[&before])
                    .await
                    .map_err(pe)?;
            }
            tx.commit().await.map_err(pe)
        })
    }

    fn outbox_due(&self, sink: &str, now: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(
                "SELECT o.id, p.payload, o.attempts FROM outbox o JOIN outbox_payloads p ON p.id = o.id
                 WHERE o.sink = $1 AND o.status = 'pending' AND o.next_attempt_at <= $2
                 AND NOT EXISTS (SELECT 1 FROM outbox w WHERE w.sink = o.sink AND w.status = 'pending'
                     AND w.group_id = o.group_id AND w.id < o.id AND w.next_attempt_at > $2)
                 ORDER BY o.id LIMIT $3",
                &[&sink, &now, &(limit as i64)],
            ))
            .map_err(pe)?;
        let mut out = Vec::new();
        for r in rows {
            let notification: Notification = serde_json::from_str(&r.get::<_, String>(1)).map_err(json_err)?;
            out.push(OutboxEntry {
                id: r.get(0),
                sink: sink.to_string(),
                notification,
                attempts: r.get::<_, i32>(2) as u32,
            });
        }
        Ok(out)
    }

    fn outbox_next(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        let client = self.client()?;
        let row = self
            .block(client.query_one(
                "SELECT MIN(o.next_attempt_at) FROM outbox o WHERE o.sink = $1 AND o.status = 'pending'
                 AND NOT EXISTS (SELECT 1 FROM outbox w WHERE w.sink = o.sink AND w.status = 'pending'
                     AND w.group_id = o.group_id AND w.id < o.id)",
                &[&sink],
            ))
            .map_err(pe)?;
        Ok(row.get(0))
    }

    fn outbox_mark(&self, id: i64, outcome: &Delivery, now: i64) -> Result<(), StoreError> {
        let client = self.client()?;
        self.block(async {
            match outcome {
                // what was delivered need not be kept (a failed entry keeps
                // its payload until pruned)
                Delivery::Delivered => {
                    client
                        .execute(
                            "WITH gone AS (DELETE FROM outbox_payloads WHERE id = $1)
                             UPDATE outbox SET status = 'delivered', attempts = attempts + 1, done_at = $2 WHERE id = $1",
                            &[&id, &now],
                        )
                        .await
                }
                Delivery::Retry { at, error } => {
                    client
                        .execute(
                            "UPDATE outbox SET attempts = attempts + 1, failed_attempts = failed_attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1",
                            &[&id, at, error],
                        )
                        .await
                }
                Delivery::Failed { error } => {
                    client
                        .execute(
                            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, failed_attempts = failed_attempts + 1, last_error = $2, done_at = $3 WHERE id = $1",
                            &[&id, error, &now],
                        )
                        .await
                }
            }
            .map_err(pe)
            .map(|_| ())
        })
    }

    fn outbox_abandon(&self, keep: &[&str], error: &str, now: i64) -> Result<usize, StoreError> {
        let client = self.client()?;
        self.block(client.execute(
            "UPDATE outbox SET status = 'failed', last_error = $2, done_at = $3
             WHERE status = 'pending' AND sink <> ALL($1::text[])",
            &[&keep, &error, &now],
        ))
        .map(|n| n as usize)
        .map_err(pe)
    }

    fn outbox_stats(&self) -> Result<Vec<OutboxStats>, StoreError> {
        let client = self.client()?;
        self.block(async {
            let rows = client
                .query(
                    "SELECT sink, COUNT(*) FILTER (WHERE status = 'pending'), COUNT(*) FILTER (WHERE status = 'failed'),
                         COUNT(*) FILTER (WHERE status = 'delivered'), COALESCE(SUM(failed_attempts), 0)::bigint,
                         (SELECT last_error FROM outbox o2 WHERE o2.sink = o.sink AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1)
                     FROM outbox o GROUP BY sink ORDER BY sink",
                    &[],
                )
                .await
                .map_err(pe)?;
            let mut stats: Vec<OutboxStats> = rows
                .iter()
                .map(|r| OutboxStats {
                    sink: r.get(0),
                    pending: r.get::<_, i64>(1) as u64,
                    failed: r.get::<_, i64>(2) as u64,
                    delivered: r.get::<_, i64>(3) as u64,
                    failed_attempts: r.get::<_, i64>(4) as u64,
                    last_error: r.get(5),
                    ..Default::default()
                })
                .collect();
            let health =
                client.query("SELECT sink, task_restarts, task_error FROM sink_health", &[]).await.map_err(pe)?;
            for r in health {
                let sink: String = r.get(0);
                let i = match stats.iter().position(|s| s.sink == sink) {
                    Some(i) => i,
                    None => {
                        stats.push(OutboxStats { sink, ..Default::default() });
                        stats.len() - 1
                    }
                };
                stats[i].task_restarts = r.get::<_, i64>(1) as u64;
                stats[i].task_error = Some(r.get(2));
            }
            stats.sort_by(|a, b| a.sink.cmp(&b.sink));
            Ok(stats)
        })
    }

    fn record_task_restart(&self, sink: &str, error: &str, at: i64) -> Result<(), StoreError> {
        let client = self.client()?;
        self.block(client.execute(
            "INSERT INTO sink_health (sink, task_restarts, task_error, at) VALUES ($1, 1, $2, $3)
             ON CONFLICT (sink) DO UPDATE SET task_restarts = sink_health.task_restarts + 1,
                 task_error = excluded.task_error, at = excluded.at",
            &[&sink, &error, &at],
        ))
        .map(|_| ())
        .map_err(pe)
    }

    fn silences(&self) -> Result<Vec<SilenceRecord>, StoreError> {
        let client = self.client()?;
        let rows = self
            .block(client.query(
                "SELECT id, matchers, starts_at, ends_at, author, reason, created_at FROM silences ORDER BY created_at, id",
                &[],
            ))
            .map_err(pe)?;
        rows.iter()
            .map(|r| {
                Ok(SilenceRecord {
                    id: r.get(0),
                    matchers: serde_json::from_str(&r.get::<_, String>(1)).map_err(json_err)?,
                    starts_at: r.get(2),
                    ends_at: r.get(3),
                    author: r.get(4),
                    reason: r.get(5),
                    created_at: r.get(6),
                })
            })
            .collect()
    }

    fn alert_lease(
        &self,
        owner: &str,
        now: i64,
        until: i64,
        stale: &dyn Fn(&str) -> bool,
    ) -> Result<Option<i64>, StoreError> {
        let mut client = self.client()?;
        let tx = self.block(client.transaction()).map_err(pe)?;
        self.block(tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('troop-alert-lease', 0))", &[]))
            .map_err(pe)?;
        let held =
            self.block(tx.query_opt("SELECT owner, until, epoch FROM alert_lease WHERE id = 1", &[])).map_err(pe)?;
        let held = held.map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1), r.get::<_, i64>(2)));
        let epoch = troop_core::store::alert_lease_epoch(
            held.as_ref().map(|(o, u, e)| (o.as_str(), *u, *e)),
            owner,
            now,
            stale,
        );
        if let Some(epoch) = epoch {
            self.block(tx.execute(
                "INSERT INTO alert_lease (id, owner, until, epoch) VALUES (1, $1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, until = excluded.until, epoch = excluded.epoch",
                &[&owner, &until, &epoch],
            ))
            .map_err(pe)?;
        }
        self.block(tx.commit()).map_err(pe)?;
        Ok(epoch)
    }

    fn alert_lease_holds(&self, owner: &str, epoch: i64, now: i64) -> Result<bool, StoreError> {
        let client = self.client()?;
        let row = self
            .block(client.query_opt(
                "SELECT 1 FROM alert_lease WHERE id = 1 AND owner = $1 AND epoch = $2 AND until >= $3",
                &[&owner, &epoch, &now],
            ))
            .map_err(pe)?;
        Ok(row.is_some())
    }

    fn alert_release(&self, owner: &str) -> Result<(), StoreError> {
        let client = self.client()?;
        // the row stays, so the next holder's epoch is higher
        self.block(client.execute("UPDATE alert_lease SET until = 0 WHERE id = 1 AND owner = $1", &[&owner]))
            .map(|_| ())
            .map_err(pe)
    }

    fn add_silence(&self, s: &SilenceRecord) -> Result<(), StoreError> {
        let client = self.client()?;
        let matchers = serde_json::to_string(&s.matchers).map_err(json_err)?;
        self.block(client.execute(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, author, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&s.id, &matchers, &s.starts_at, &s.ends_at, &s.author, &s.reason, &s.created_at],
        ))
        .map(|_| ())
        .map_err(pe)
    }

    fn end_silence(&self, id: &str, at: &str) -> Result<bool, StoreError> {
        let client = self.client()?;
        let n = self
            .block(client.execute("UPDATE silences SET ends_at = $2 WHERE id = $1 AND ends_at > $2", &[&id, &at]))
            .map_err(pe)?;
        Ok(n > 0)
    }
}

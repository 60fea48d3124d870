//! `troop status` and `/api/v1/status`: the replicas alive and, per shard,
//! who holds it now, who committed its last success, and how long ago that
//! was. Pure: the store answers [`ShardRecord`]s and [`Replica`]s, this
//! module makes the one row both views show.

use serde::Serialize;

/// A `troop run` replica is alive while its heartbeat is younger than this.
pub const REPLICA_TIMEOUT: time::Duration = time::Duration::seconds(30);
/// How often a replica writes its heartbeat.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the store holds of one shard ([`crate::monkey::Shard::key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardRecord {
    pub shard: String,
    /// The lease's owner while the lease is live (a pass of it is running).
    pub holder: Option<String>,
    /// When its last successful pass finished (Unix seconds).
    pub last_success: Option<i64>,
    /// The replica whose pass that was.
    pub last_holder: Option<String>,
}

/// A replica's last heartbeat: its id (the lease owner `host:pid:random`,
/// [`crate::store::lease_owner`]), host, pid, version, and when it started
/// and was last seen (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub replica: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    pub started_at: i64,
    pub seen_at: i64,
}

/// One replica as `troop status` shows it (times RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplicaRow {
    pub replica: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    pub started_at: String,
    pub seen_at: String,
}

impl From<&Replica> for ReplicaRow {
    fn from(r: &Replica) -> Self {
        ReplicaRow {
            replica: r.replica.clone(),
            host: r.host.clone(),
            pid: r.pid,
            version: r.version.clone(),
            started_at: crate::clock::rfc3339_ms(r.started_at),
            seen_at: crate::clock::rfc3339_ms(r.seen_at),
        }
    }
}

/// One shard as `troop status --format json` and `/api/v1/status` show it
/// (the SPEC's fields): the shard's id, its monkey, account and region
/// (`null` when account-wide, or for a whole-monkey shard), the replica
/// holding it now, the one that committed its last success, when that
/// finished (RFC 3339) and how many seconds ago.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardStatusRow {
    pub shard: String,
    pub monkey: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub holder: Option<String>,
    pub last_holder: Option<String>,
    pub last_success: Option<String>,
    pub lag_seconds: Option<i64>,
}

/// The status rows of `records` at `now` (Unix seconds), by shard id.
pub fn rows(records: &[ShardRecord], now: i64) -> Vec<ShardStatusRow> {
    let mut out: Vec<ShardStatusRow> = records
        .iter()
        .map(|r| {
            let crate::monkey::Shard { monkey, account, region } = crate::monkey::Shard::from_key(&r.shard);
            ShardStatusRow {
                shard: r.shard.clone(),
                monkey,
                account,
                region,
                holder: r.holder.clone(),
                last_holder: r.last_holder.clone(),
                last_success: r.last_success.map(crate::clock::rfc3339_unix),
                lag_seconds: r.last_success.map(|t| (now - t).max(0)),
            }
        })
        .collect();
    out.sort_by(|a, b| a.shard.cmp(&b.shard));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_table() {
        let rec = |shard: &str, holder: Option<&str>, last: Option<i64>| ShardRecord {
            shard: shard.into(),
            holder: holder.map(str::to_string),
            last_success: last,
            last_holder: last.map(|_| "h:1:a".to_string()),
        };
        let records = [
            rec("security/111/eu-west-1", None, Some(1_700_000_000)),
            rec("certs", Some("h:2:b"), None),
            rec("security/111", None, Some(1_700_000_050)),
        ];
        let out = rows(&records, 1_700_000_100);
        let brief: Vec<String> = out
            .iter()
            .map(|r| {
                format!("{} {} {:?} {:?} {:?} {:?}", r.shard, r.monkey, r.account, r.region, r.lag_seconds, r.holder)
            })
            .collect();
        assert_eq!(
            brief,
            [
                r#"certs certs None None None Some("h:2:b")"#,
                r#"security/111 security Some("111") None Some(50) None"#,
                r#"security/111/eu-west-1 security Some("111") Some("eu-west-1") Some(100) None"#,
            ]
        );
        assert_eq!(out[1].last_success.as_deref(), Some("2023-11-14T22:14:10Z"));
        // a clock behind the store's: no negative lag
        assert_eq!(rows(&records[2..], 1_600_000_000)[0].lag_seconds, Some(0));
    }
}

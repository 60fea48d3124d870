//! Numbered schema migrations. Append only: never edit a released entry.

pub const MIGRATIONS: &[&str] = &[
    // 1: passes, items and their revisions, findings.
    r#"
    CREATE TABLE passes (
        id          INTEGER PRIMARY KEY,
        monkey      TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        error       TEXT,
        stats       TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX passes_monkey ON passes (monkey, id);

    CREATE TABLE items (
        item        TEXT PRIMARY KEY,
        technology  TEXT NOT NULL,
        account     TEXT NOT NULL,
        region      TEXT NOT NULL,
        name        TEXT NOT NULL,
        revision    INTEGER NOT NULL,
        hash        TEXT,
        deleted     INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX items_scope ON items (technology, account, region);

    CREATE TABLE revisions (
        item        TEXT NOT NULL REFERENCES items (item),
        revision    INTEGER NOT NULL,
        at          INTEGER NOT NULL,
        change      TEXT NOT NULL CHECK (change IN ('created', 'modified', 'deleted')),
        hash        TEXT,
        content     TEXT,
        summary     TEXT NOT NULL DEFAULT '[]',
        pass_id     INTEGER NOT NULL REFERENCES passes (id),
        PRIMARY KEY (item, revision)
    );
    CREATE INDEX revisions_at ON revisions (at);

    CREATE TABLE findings (
        fingerprint TEXT PRIMARY KEY,
        monkey      TEXT NOT NULL,
        kind        TEXT NOT NULL,
        severity    TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('open', 'resolved', 'silenced')),
        account     TEXT NOT NULL,
        region      TEXT NOT NULL,
        resource    TEXT NOT NULL,
        scope       TEXT NOT NULL,
        title       TEXT NOT NULL,
        details     TEXT NOT NULL,
        labels      TEXT NOT NULL,
        first_seen  INTEGER NOT NULL,
        last_seen   INTEGER NOT NULL,
        resolved_at INTEGER,
        pass_id     INTEGER NOT NULL
    );
    CREATE INDEX findings_monkey_state ON findings (monkey, state);
    "#,
    // 2: findings remember the item they are about, so an item that could not
    // be read keeps its findings.
    r#"
    ALTER TABLE findings ADD COLUMN item TEXT;
    CREATE INDEX findings_item ON findings (item);
    "#,
    // 3: who made each change (CloudTrail or another audit log), as JSON.
    r#"
    ALTER TABLE revisions ADD COLUMN who TEXT;
    "#,
    // 4: what each monkey currently sees (certificates, quotas).
    r#"
    CREATE TABLE observations (
        monkey  TEXT NOT NULL,
        kind    TEXT NOT NULL,
        key     TEXT NOT NULL,
        data    TEXT NOT NULL,
        pass_id INTEGER NOT NULL,
        PRIMARY KEY (monkey, kind, key)
    );
    "#,
    // 5: the alert gateway. Every committed pass appends its finding events
    // to alert_events in its own transaction; the gateway consumes them (the
    // cursor), keeps what each receiver was told (alert_groups), queues
    // notifications per sink (outbox), and reads silences.
    r#"
    CREATE TABLE alert_events (
        seq   INTEGER PRIMARY KEY AUTOINCREMENT,
        event TEXT NOT NULL
    );
    CREATE TABLE alert_meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE alert_groups (
        key  TEXT PRIMARY KEY,
        data TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        notification_id TEXT NOT NULL,
        sink            TEXT NOT NULL,
        payload         TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        created_at      INTEGER NOT NULL,
        done_at         INTEGER,
        UNIQUE (sink, notification_id)
    );
    CREATE INDEX outbox_sink_status ON outbox (sink, status, id);
    CREATE TABLE silences (
        id         TEXT PRIMARY KEY,
        matchers   TEXT NOT NULL,
        starts_at  TEXT NOT NULL,
        ends_at    TEXT NOT NULL,
        author     TEXT NOT NULL,
        reason     TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    "#,
    // 6: one process at a time runs the gateway for a store (a lease).
    r#"
    CREATE TABLE alert_lease (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        owner TEXT NOT NULL,
        until INTEGER NOT NULL
    );
    "#,
    // 7: passes of a shard commit in order (an epoch per shard, a fencing
    // token), and the gateway lease gets an epoch of its own.
    r#"
    CREATE TABLE pass_lease (
        shard          TEXT PRIMARY KEY,
        epoch          INTEGER NOT NULL,
        owner          TEXT NOT NULL,
        started_at     INTEGER NOT NULL,
        until          INTEGER NOT NULL,
        committed_view INTEGER
    );
    ALTER TABLE alert_lease ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
    "#,
    // 8: delivery tasks that died and were restarted, per sink.
    r#"
    CREATE TABLE sink_health (
        sink          TEXT PRIMARY KEY,
        task_restarts INTEGER NOT NULL,
        task_error    TEXT NOT NULL,
        at            INTEGER NOT NULL
    );
    "#,
    // 9: passes commit per shard (monkey, account[, region]): each pass
    // record and observation names its shard; a shard's commit looks up the
    // unresolved findings of its accounts, and its attribution the
    // revisions of its own recent passes.
    r#"
    ALTER TABLE passes ADD COLUMN shard TEXT NOT NULL DEFAULT '';
    UPDATE passes SET shard = monkey;
    ALTER TABLE observations ADD COLUMN shard TEXT NOT NULL DEFAULT '';
    UPDATE observations SET shard = monkey;
    CREATE INDEX observations_shard ON observations (shard);
    CREATE INDEX findings_monkey_account ON findings (monkey, account, state);
    CREATE INDEX passes_shard ON passes (shard, finished_at);
    CREATE INDEX revisions_pass ON revisions (pass_id);
    "#,
    // 10: who committed each pass (the replica, `host:pid:random`), and the
    // replicas' heartbeats (`troop status`).
    r#"
    ALTER TABLE passes ADD COLUMN owner TEXT;
    CREATE TABLE replicas (
        replica    TEXT PRIMARY KEY,
        host       TEXT NOT NULL,
        pid        INTEGER NOT NULL,
        version    TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        seen_at    INTEGER NOT NULL
    );
    "#,
    // 11: the round (the start of the pass) that last committed each shard:
    // what a scheduled pass judges a shard due by.
    r#"
    ALTER TABLE pass_lease ADD COLUMN committed_round INTEGER;
    "#,
    // 12: change events posted by any process (`POST /api/v1/events`; `id`
    // is the idempotency key per source), and the alert transitions kept
    // for the timeline (the alert log itself is consumed by the gateway).
    // Times in Unix seconds.
    r#"
    CREATE TABLE change_events (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        source      TEXT NOT NULL,
        id          TEXT,
        type        TEXT NOT NULL,
        summary     TEXT NOT NULL,
        resource    TEXT,
        account     TEXT,
        labels      TEXT NOT NULL,
        at          INTEGER NOT NULL,
        received_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX change_events_source_id ON change_events (source, id);
    CREATE INDEX change_events_at ON change_events (at);
    CREATE TABLE alert_transitions (
        seq   INTEGER PRIMARY KEY AUTOINCREMENT,
        at    INTEGER NOT NULL,
        event TEXT NOT NULL
    );
    CREATE INDEX alert_transitions_at ON alert_transitions (at);
    "#,
    // 13: a group's members are rows of their own, so a round writes only
    // the members it changed (a group of 20,000 alerts is not rewritten
    // whole for each one that joins); outbox entries name their group.
    r#"
    CREATE TABLE alert_group_members (
        group_key   TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        data        TEXT NOT NULL,
        PRIMARY KEY (group_key, fingerprint)
    );
    INSERT INTO alert_group_members (group_key, fingerprint, data)
        SELECT g.key, m.key, m.value FROM alert_groups g, json_each(g.data, '$.members') m;
    UPDATE alert_groups SET data = json_remove(data, '$.members');
    -- each group's notifications go out in order, groups apart: a group
    -- waiting for a retry, or a slow one, holds back no other
    ALTER TABLE outbox ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
    UPDATE outbox SET group_id = json_extract(payload, '$.group_id') WHERE status = 'pending';
    CREATE INDEX outbox_sink_group ON outbox (sink, status, group_id, id);
    "#,
    // 14: a notification's payload (megabytes for a large group) lives in a
    // table of its own: SQLite reads a column after a large value by walking
    // its overflow pages, and rewrites the value when any column of its row
    // changes, so the outbox's status, times and group are kept apart from
    // it. A delivered entry's payload is not kept.
    r#"
    CREATE TABLE outbox_payloads (
        id      INTEGER PRIMARY KEY,
        payload TEXT NOT NULL
    );
    INSERT INTO outbox_payloads (id, payload) SELECT id, payload FROM outbox WHERE status != 'delivered';
    ALTER TABLE outbox DROP COLUMN payload;
    "#,
];

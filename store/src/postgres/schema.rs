//! The PostgreSQL schema, as numbered migrations. Append only: never edit a
//! released entry. The version lives in `troop_schema`; migrations run at
//! open under a session advisory lock ([`MIGRATION_LOCK`]), so two processes
//! starting together apply each one once.
//!
//! Times are as in the SQLite schema: Unix seconds for passes, revisions
//! and findings; milliseconds for the alert gateway and leases. JSON is
//! stored as its text (canonical where it is hashed), as the SQLite backend
//! keeps it, so both answer byte for byte the same.

/// `pg_advisory_lock` key of the migrations ("troop" + 1).
pub const MIGRATION_LOCK: i64 = 0x7472_6f6f_7001;
/// `pg_advisory_xact_lock` key that serializes appends to the alert log,
/// so sequence numbers commit in order ("troop" + 2).
pub const ALERT_LOG_LOCK: i64 = 0x7472_6f6f_7002;

pub const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite schema has at its version 9.
    r#"
    CREATE TABLE passes (
        id          BIGSERIAL PRIMARY KEY,
        monkey      TEXT NOT NULL,
        shard       TEXT NOT NULL DEFAULT '',
        started_at  BIGINT NOT NULL,
        finished_at BIGINT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
        error       TEXT,
        stats       TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX passes_monkey ON passes (monkey, id);
    CREATE INDEX passes_shard ON passes (shard COLLATE "C", finished_at);

    CREATE TABLE items (
        item        TEXT PRIMARY KEY,
        technology  TEXT NOT NULL,
        account     TEXT NOT NULL,
        region      TEXT NOT NULL,
        name        TEXT NOT NULL,
        revision    BIGINT NOT NULL,
        hash        TEXT,
        deleted     BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX items_scope ON items (technology, account, region);
    CREATE INDEX items_name ON items (name);

    CREATE TABLE revisions (
        item        TEXT NOT NULL REFERENCES items (item),
        revision    BIGINT NOT NULL,
        at          BIGINT NOT NULL,
        change      TEXT NOT NULL CHECK (change IN ('created', 'modified', 'deleted')),
        hash        TEXT,
        content     TEXT,
        summary     TEXT NOT NULL DEFAULT '[]',
        pass_id     BIGINT NOT NULL REFERENCES passes (id),
        who         TEXT,
        PRIMARY KEY (item, revision)
    );
    CREATE INDEX revisions_at ON revisions (at);
    CREATE INDEX revisions_pass ON revisions (pass_id);

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
        first_seen  BIGINT NOT NULL,
        last_seen   BIGINT NOT NULL,
        resolved_at BIGINT,
        pass_id     BIGINT NOT NULL,
        item        TEXT
    );
    CREATE INDEX findings_monkey_state ON findings (monkey, state);
    CREATE INDEX findings_monkey_account ON findings (monkey, account, state);
    CREATE INDEX findings_item ON findings (item);

    CREATE TABLE observations (
        monkey  TEXT NOT NULL,
        kind    TEXT NOT NULL,
        key     TEXT NOT NULL,
        data    TEXT NOT NULL,
        pass_id BIGINT NOT NULL,
        shard   TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (monkey, kind, key)
    );
    CREATE INDEX observations_shard ON observations (shard);

    CREATE TABLE alert_events (
        seq   BIGSERIAL PRIMARY KEY,
        event TEXT NOT NULL
    );
    CREATE TABLE alert_meta (
        key   TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    );
    CREATE TABLE alert_groups (
        key  TEXT PRIMARY KEY,
        data TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id              BIGSERIAL PRIMARY KEY,
        notification_id TEXT NOT NULL,
        sink            TEXT NOT NULL,
        payload         TEXT NOT NULL,
        status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        last_error      TEXT,
        created_at      BIGINT NOT NULL,
        done_at         BIGINT,
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
    CREATE TABLE alert_lease (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        owner TEXT NOT NULL,
        until BIGINT NOT NULL,
        epoch BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE pass_lease (
        shard          TEXT PRIMARY KEY,
        epoch          BIGINT NOT NULL,
        owner          TEXT NOT NULL,
        started_at     BIGINT NOT NULL,
        until          BIGINT NOT NULL,
        committed_view BIGINT
    );
    CREATE TABLE sink_health (
        sink          TEXT PRIMARY KEY,
        task_restarts BIGINT NOT NULL,
        task_error    TEXT NOT NULL,
        at            BIGINT NOT NULL
    );
    "#,
    // 2: who committed each pass (the replica), and the replicas' heartbeats.
    r#"
    ALTER TABLE passes ADD COLUMN owner TEXT;
    CREATE TABLE replicas (
        replica    TEXT PRIMARY KEY,
        host       TEXT NOT NULL,
        pid        BIGINT NOT NULL,
        version    TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        seen_at    BIGINT NOT NULL
    );
    "#,
    // 3: the round (the start of the pass) that last committed each shard:
    // what a scheduled pass judges a shard due by.
    r#"
    ALTER TABLE pass_lease ADD COLUMN committed_round BIGINT;
    "#,
    // 4: change events posted by any process, and the alert transitions kept
    // for the timeline (as SQLite's 12).
    r#"
    CREATE TABLE change_events (
        seq         BIGSERIAL PRIMARY KEY,
        source      TEXT NOT NULL,
        id          TEXT,
        type        TEXT NOT NULL,
        summary     TEXT NOT NULL,
        resource    TEXT,
        account     TEXT,
        labels      TEXT NOT NULL,
        at          BIGINT NOT NULL,
        received_at BIGINT NOT NULL
    );
    CREATE UNIQUE INDEX change_events_source_id ON change_events (source, id);
    CREATE INDEX change_events_at ON change_events (at);
    CREATE TABLE alert_transitions (
        seq   BIGSERIAL PRIMARY KEY,
        at    BIGINT NOT NULL,
        event TEXT NOT NULL
    );
    CREATE INDEX alert_transitions_at ON alert_transitions (at);
    "#,
    // 5: a group's members are rows of their own; outbox entries name their
    // group (as SQLite's 13).
    r#"
    CREATE TABLE alert_group_members (
        group_key   TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        data        TEXT NOT NULL,
        PRIMARY KEY (group_key, fingerprint)
    );
    INSERT INTO alert_group_members (group_key, fingerprint, data)
        SELECT g.key, m.key, m.value::text FROM alert_groups g, jsonb_each(g.data::jsonb -> 'members') m;
    UPDATE alert_groups SET data = (data::jsonb - 'members')::text;
    -- each group's notifications go out in order, groups apart: a group
    -- waiting for a retry, or a slow one, holds back no other
    ALTER TABLE outbox ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
    UPDATE outbox SET group_id = payload::jsonb ->> 'group_id' WHERE status = 'pending';
    CREATE INDEX outbox_sink_group ON outbox (sink, status, group_id, id);
    "#,
    // 6: a notification's payload lives in a table of its own, and a
    // delivered entry's is not kept (as SQLite's 14).
    r#"
    CREATE TABLE outbox_payloads (
        id      BIGINT PRIMARY KEY,
        payload TEXT NOT NULL
    );
    INSERT INTO outbox_payloads (id, payload) SELECT id, payload FROM outbox WHERE status <> 'delivered';
    ALTER TABLE outbox DROP COLUMN payload;
    "#,
];

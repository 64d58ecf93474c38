-- 0004_pending_orders: nothing listed is lost to a bad answer, runs that die are closed, one company per
-- warehouse. Portable SQL (SQLite and PostgreSQL); docs/warehouse.md describes every column.

-- An order Billit listed but the run could not load (its detail answered 404, was unreadable, or was quarantined
-- whole). The watermark may move past it; the next incremental runs fetch it again until it loads (the row is
-- deleted and its quarantine rows resolved) or Billit's deletions endpoint lists it.
CREATE TABLE pending_orders (
    stream TEXT NOT NULL,
    order_id BIGINT NOT NULL,
    listed_last_modified TEXT,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    first_run_id TEXT,
    last_run_id TEXT,
    first_seen_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_attempt_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT pk_pending_orders PRIMARY KEY (stream, order_id)
);

CREATE INDEX ix_pending_orders_order_id ON pending_orders (order_id);

-- The Billit company (PartyID) whose books this warehouse holds: syncs and replays of another company are refused.
CREATE TABLE warehouse_companies (
    party_id BIGINT NOT NULL,
    recorded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT pk_warehouse_companies PRIMARY KEY (party_id)
);

-- Who runs a sync (host, pid) and when it last committed (heartbeat_at): the next run closes a run whose process
-- is gone as failed ("abandoned"). orders_pending: pending orders of the stream when the run ended.
ALTER TABLE sync_runs ADD COLUMN party_id BIGINT;
ALTER TABLE sync_runs ADD COLUMN host TEXT;
ALTER TABLE sync_runs ADD COLUMN pid INTEGER;
ALTER TABLE sync_runs ADD COLUMN heartbeat_at TIMESTAMP;
ALTER TABLE sync_runs ADD COLUMN orders_pending INTEGER DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN orders_recovered INTEGER DEFAULT 0;

-- The landing file that holds the raw order of a quarantined record (the payload stays for small records).
ALTER TABLE quarantine ADD COLUMN landing_file TEXT;

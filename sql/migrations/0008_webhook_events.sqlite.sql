-- 0008_webhook_events (SQLite): the events Billit's webhooks push, stored before the receiver answers, then applied
-- by refreshing the orders they name (docs/warehouse.md#webhook_events, docs/reference/billit-api.md#webhooks).
-- Keep 0008_webhook_events.postgresql.sql the same apart from the identity column, which the dialects spell differently.
-- Runner rule (connectors/warehouse/migrations.py): a ';' at the end of a line ends a statement.
--
-- Decisions:
-- * One row per accepted call. (webhook_id, mac) is unique: a call signed again the same way (a replay, or
--   Billit's retry of a call whose answer was lost) is the same event and stores nothing new.
-- * body is the call's JSON as received, with any "Secret" key redacted (Billit may push a webhook's secret in
--   a confirmation event): no secret is ever stored in the warehouse.
-- * company_id is the company whose books the order goes into: the one the body names, else the receiver's
--   configured BILLIT_PARTY_ID (the secrets say which webhook signed a call, not which company registered it).
-- * status: received (to apply; retried with backoff from next_attempt_at when Billit could not answer),
--   applied, ignored (no order to refresh, or Billit no longer has it and no deletion was announced), failed (a
--   refusal retrying cannot fix). claimed_by/claimed_until hold a worker's lease on the row while it applies it.
-- * run_id is the id the apply wrote on the rows it loaded (invoices.last_run_id, status history, quarantine):
--   webhook applies are not sync_runs (they would flood its last runs); this table is their record.
CREATE TABLE webhook_events (
    event_id INTEGER CONSTRAINT pk_webhook_events PRIMARY KEY AUTOINCREMENT,
    received_at TIMESTAMP NOT NULL,
    webhook_id TEXT NOT NULL,
    signed_at BIGINT NOT NULL,
    mac TEXT NOT NULL,
    entity_type TEXT,
    update_type TEXT,
    entity_id TEXT,
    order_id BIGINT,
    company_id BIGINT,
    body TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'received',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    last_error TEXT,
    applied_at TIMESTAMP,
    run_id TEXT,
    claimed_by TEXT,
    claimed_until TIMESTAMP,
    CONSTRAINT uq_webhook_events_webhook_id_mac UNIQUE (webhook_id, mac),
    CONSTRAINT ck_webhook_events_status CHECK (status IN ('received', 'applied', 'ignored', 'failed'))
);

-- The applier's queue: events still to apply, those due first (next_attempt_at NULL: at once).
CREATE INDEX ix_webhook_events_status_next_attempt_at ON webhook_events (status, next_attempt_at);
-- What the warehouse heard about one order (and the claims of a batch, which take every event of its orders).
CREATE INDEX ix_webhook_events_order_id ON webhook_events (order_id);

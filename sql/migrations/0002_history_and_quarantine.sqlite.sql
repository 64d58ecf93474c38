-- 0002_history_and_quarantine (SQLite): the two tables with surrogate keys. Surrogate keys are the one
-- thing the dialects spell differently, so this migration has one variant per dialect and no generic file;
-- keep 0002_history_and_quarantine.postgresql.sql identical apart from the key column.
-- Runner rule (connectors/warehouse/migrations.py): a ';' at the end of a line ends a statement.

CREATE TABLE invoice_status_history (
    history_id INTEGER CONSTRAINT pk_invoice_status_history PRIMARY KEY AUTOINCREMENT,
    order_id BIGINT NOT NULL,
    observed_last_modified TIMESTAMP NOT NULL,
    run_id TEXT,
    order_status TEXT,
    delivery_status TEXT,
    document_delivery_info TEXT,
    last_response_code TEXT,
    paid BOOLEAN,
    is_deleted BOOLEAN NOT NULL DEFAULT false,
    recorded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT uq_invoice_status_history_observation UNIQUE (order_id, observed_last_modified),
    CONSTRAINT fk_invoice_status_history_invoices FOREIGN KEY (order_id) REFERENCES invoices (order_id)
        ON DELETE CASCADE
);

CREATE INDEX ix_invoice_status_history_run_id ON invoice_status_history (run_id);

-- A quarantine row is de-duplicated on (stream, entity, entity_key, source_version, reason): entity_key is
-- the quarantined record's key as text (order '123', line '123/4', identifier '55/vat/BE0123') and
-- source_version its Billit LastModified string, so a replay of the same version adds nothing.
CREATE TABLE quarantine (
    quarantine_id INTEGER CONSTRAINT pk_quarantine PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    order_id BIGINT,
    entity TEXT NOT NULL,
    entity_key TEXT NOT NULL,
    source_version TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL,
    payload TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    resolved_at TIMESTAMP,
    CONSTRAINT uq_quarantine_entity_version_reason UNIQUE (stream, entity, entity_key, source_version, reason)
);

CREATE INDEX ix_quarantine_order_id ON quarantine (order_id);
CREATE INDEX ix_quarantine_run_id ON quarantine (run_id);

-- 0001_core: the warehouse tables that have natural keys. Portable SQL: this one file runs on SQLite and
-- PostgreSQL. Table and column names are a contract with the BI dashboards; docs/warehouse.md describes every
-- column. Types: NUMERIC(18,2) money, NUMERIC(18,5) quantities / unit prices / FX rates, NUMERIC(9,4)
-- percentages. Billit timestamps are naive local time as Billit writes them; our own *_at columns are naive UTC.
-- Runner rule (connectors/warehouse/migrations.py): a ';' at the end of a line ends a statement.

CREATE TABLE invoices (
    order_id BIGINT NOT NULL,
    company_id BIGINT,
    direction TEXT NOT NULL,
    order_type TEXT,
    order_number TEXT,
    order_date DATE,
    expiry_date DATE,
    delivery_date DATE,
    period_from DATE,
    period_till DATE,
    created_at TIMESTAMP,
    last_modified TIMESTAMP,
    last_modified_raw TEXT,
    currency TEXT,
    fx_rate_to_foreign NUMERIC(18, 5),
    total_excl NUMERIC(18, 2),
    total_vat NUMERIC(18, 2),
    total_incl NUMERIC(18, 2),
    to_pay NUMERIC(18, 2),
    paid BOOLEAN,
    paid_date DATE,
    order_status TEXT,
    is_sent BOOLEAN,
    reference TEXT,
    order_title TEXT,
    comments TEXT,
    payment_reference TEXT,
    payment_method TEXT,
    external_provider TEXT,
    external_provider_id TEXT,
    about_invoice_number TEXT,
    ventilation_code TEXT,
    approval_status TEXT,
    reminders_sent INTEGER,
    counterparty_party_id BIGINT,
    counterparty_name TEXT,
    counterparty_vat_number TEXT,
    counterparty_peppol_id TEXT,
    counterparty_enterprise_number TEXT,
    delivery_status TEXT,
    is_document_delivered BOOLEAN,
    document_delivery_date TIMESTAMP,
    document_delivery_info TEXT,
    document_refused_date TIMESTAMP,
    document_refused_reason_code TEXT,
    document_refused_info TEXT,
    last_response_code TEXT,
    is_deleted BOOLEAN NOT NULL DEFAULT false,
    deleted_at TIMESTAMP,
    first_run_id TEXT,
    last_run_id TEXT,
    loaded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT pk_invoices PRIMARY KEY (order_id),
    CONSTRAINT ck_invoices_direction CHECK (direction IN ('Income', 'Cost'))
);

CREATE INDEX ix_invoices_direction_last_modified ON invoices (direction, last_modified);
CREATE INDEX ix_invoices_external_provider_id ON invoices (external_provider_id);
CREATE INDEX ix_invoices_order_number ON invoices (order_number);
CREATE INDEX ix_invoices_counterparty_party_id ON invoices (counterparty_party_id);

CREATE TABLE invoice_lines (
    order_id BIGINT NOT NULL,
    line_number INTEGER NOT NULL,
    order_line_id BIGINT,
    description TEXT,
    description_extended TEXT,
    reference TEXT,
    unit TEXT,
    quantity NUMERIC(18, 5),
    unit_price_excl NUMERIC(18, 5),
    reduction_percentage NUMERIC(9, 4),
    vat_percentage NUMERIC(9, 4),
    ventilation_code TEXT,
    vat_category TEXT,
    vat_rate NUMERIC(9, 4),
    exemption_reason TEXT,
    vatex_code TEXT,
    base_grids TEXT,
    vat_grids TEXT,
    total_excl NUMERIC(18, 2),
    total_vat NUMERIC(18, 2),
    total_incl NUMERIC(18, 2),
    account_code TEXT,
    CONSTRAINT pk_invoice_lines PRIMARY KEY (order_id, line_number),
    CONSTRAINT fk_invoice_lines_invoices FOREIGN KEY (order_id) REFERENCES invoices (order_id) ON DELETE CASCADE
);

CREATE TABLE invoice_vat_groups (
    order_id BIGINT NOT NULL,
    group_number INTEGER NOT NULL,
    ventilation_code TEXT,
    vat_percentage NUMERIC(9, 4),
    vat_category TEXT,
    vat_rate NUMERIC(9, 4),
    exemption_reason TEXT,
    vatex_code TEXT,
    base_grids TEXT,
    vat_grids TEXT,
    total_excl NUMERIC(18, 2),
    total_vat NUMERIC(18, 2),
    total_incl NUMERIC(18, 2),
    taxable_base NUMERIC(18, 2),
    financial_reduction_amount NUMERIC(18, 2),
    CONSTRAINT pk_invoice_vat_groups PRIMARY KEY (order_id, group_number),
    CONSTRAINT fk_invoice_vat_groups_invoices FOREIGN KEY (order_id) REFERENCES invoices (order_id)
        ON DELETE CASCADE
);

CREATE TABLE invoice_messages (
    order_id BIGINT NOT NULL,
    message_number INTEGER NOT NULL,
    message_direction TEXT,
    transport_type TEXT,
    destination TEXT,
    description TEXT,
    response_code TEXT,
    success BOOLEAN,
    trials INTEGER,
    file_id TEXT,
    created_at TIMESTAMP,
    CONSTRAINT pk_invoice_messages PRIMARY KEY (order_id, message_number),
    CONSTRAINT fk_invoice_messages_invoices FOREIGN KEY (order_id) REFERENCES invoices (order_id)
        ON DELETE CASCADE
);

CREATE TABLE parties (
    party_id BIGINT NOT NULL,
    party_type TEXT,
    name TEXT,
    display_name TEXT,
    vat_number_raw TEXT,
    vat_liable BOOLEAN,
    enterprise_number TEXT,
    peppol_id TEXT,
    country_code TEXT,
    street TEXT,
    street_number TEXT,
    box TEXT,
    zipcode TEXT,
    city TEXT,
    email TEXT,
    language TEXT,
    last_modified TIMESTAMP,
    last_run_id TEXT,
    loaded_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT pk_parties PRIMARY KEY (party_id)
);

CREATE INDEX ix_parties_enterprise_number ON parties (enterprise_number);
CREATE INDEX ix_parties_peppol_id ON parties (peppol_id);

CREATE TABLE party_identifiers (
    party_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    raw TEXT NOT NULL,
    scheme TEXT,
    value TEXT,
    peppol_id TEXT,
    is_valid BOOLEAN NOT NULL,
    reason TEXT,
    CONSTRAINT pk_party_identifiers PRIMARY KEY (party_id, source, raw),
    CONSTRAINT fk_party_identifiers_parties FOREIGN KEY (party_id) REFERENCES parties (party_id)
        ON DELETE CASCADE
);

CREATE INDEX ix_party_identifiers_peppol_id ON party_identifiers (peppol_id);

CREATE TABLE sync_state (
    stream TEXT NOT NULL,
    watermark_last_modified TIMESTAMP,
    watermark_raw TEXT,
    watermark_order_id BIGINT,
    window_count INTEGER,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_run_id TEXT,
    CONSTRAINT pk_sync_state PRIMARY KEY (stream)
);

CREATE TABLE sync_runs (
    run_id TEXT NOT NULL,
    stream TEXT NOT NULL,
    mode TEXT NOT NULL,
    flow_run_id TEXT,
    status TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    finished_at TIMESTAMP,
    window_since TIMESTAMP,
    window_until TIMESTAMP,
    watermark_before TEXT,
    watermark_after TEXT,
    requests INTEGER DEFAULT 0,
    pages INTEGER DEFAULT 0,
    orders_listed INTEGER DEFAULT 0,
    orders_new INTEGER DEFAULT 0,
    orders_changed INTEGER DEFAULT 0,
    orders_unchanged INTEGER DEFAULT 0,
    orders_deleted INTEGER DEFAULT 0,
    lines_loaded INTEGER DEFAULT 0,
    quarantined INTEGER DEFAULT 0,
    error TEXT,
    CONSTRAINT pk_sync_runs PRIMARY KEY (run_id),
    CONSTRAINT ck_sync_runs_mode CHECK (mode IN ('incremental', 'backfill', 'replay')),
    CONSTRAINT ck_sync_runs_status CHECK (status IN ('running', 'succeeded', 'failed'))
);

CREATE INDEX ix_sync_runs_stream_started_at ON sync_runs (stream, started_at);

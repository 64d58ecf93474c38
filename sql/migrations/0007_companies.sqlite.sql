-- 0007_companies (SQLite): the Billit company (PartyID) becomes a dimension of the warehouse, so one warehouse
-- holds the books of several companies that one API key reaches (docs/warehouse.md#companies). Keep
-- 0007_companies.postgresql.sql the same apart from how a primary or unique key is changed: SQLite cannot alter
-- one, so those tables are rebuilt (the old one renamed, a new one created under the name, the rows copied, the
-- old one dropped; see the PRAGMA below). PostgreSQL's NOT NULL on the company_id of rebuilt tables is in their new DDL here.
-- Runner rule (connectors/warehouse/migrations.py): a ';' at the end of a line ends a statement.
--
-- Decisions:
-- * company_id is the PartyID the sync read with (the `PartyID` header), on every table that holds a company's
--   data. Billit's OrderID is global (an order belongs to one company, another company's id answers 401:
--   docs/reference/billit-api.md#errors), so invoices and their children stay keyed by order_id and carry
--   company_id beside it; the state a sync keeps (watermarks, pending orders, quarantine) is keyed per company.
-- * parties are keyed by (company_id, party_id): a counterparty record belongs to one company's books (its
--   customer number, e-mail, address as that company keeps them), and in a group one company is a counterparty
--   in another's books, so the same PartyID appears in two books with different data.
-- * sync_runs.party_id (0004) is renamed company_id: it already held the company a run synced.
-- * outbound_invoices.company_id NULL means "the push's configured company" (BILLIT_PARTY_ID); a push writes the
--   PartyID it creates with on the row, so a created row always says whose books it went into. Lines follow
--   their invoice (external_id stays the key across companies).
-- * warehouse_companies (0004, the stop-gap that refused a second company) becomes the `companies` dimension.
--
-- An existing single-company warehouse carries on without a resync: its rows, watermarks and pending orders are
-- given its one company, taken from warehouse_companies, else the orders' CompanyID, else the runs' party_id. A
-- warehouse holding rows of an unknown company makes this migration fail on a NOT NULL key: record the company
-- first (INSERT INTO warehouse_companies (party_id) VALUES (...)) and upgrade again.

-- Renames leave views and triggers alone (the legacy behaviour): a view reading a rebuilt table reads the new one
-- under the same name, and a view left reading a renamed table would make SQLite refuse the next rename. A child
-- table is dropped before its parent, so no foreign key is left naming a dropped table.
PRAGMA legacy_alter_table = ON;

CREATE TABLE migration_0007_company AS
SELECT coalesce(
    (SELECT min(party_id) FROM warehouse_companies),
    (SELECT min(company_id) FROM invoices),
    (SELECT min(party_id) FROM sync_runs)
) AS company_id;

-- The companies the warehouse holds (or that the API key reaches), named: the dimension every BI view carries.
CREATE TABLE companies (
    company_id BIGINT NOT NULL,
    name TEXT,
    vat_number TEXT,
    api_allowed BOOLEAN,
    first_seen_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_seen_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_synced_at TIMESTAMP,
    CONSTRAINT pk_companies PRIMARY KEY (company_id)
);

INSERT INTO companies (company_id, name, vat_number, first_seen_at, last_seen_at, last_synced_at)
SELECT
    k.company_id,
    (SELECT coalesce(p.name, p.display_name) FROM parties AS p WHERE p.party_id = k.company_id),
    (SELECT p.vat_number_raw FROM parties AS p WHERE p.party_id = k.company_id),
    coalesce(
        (SELECT min(w.recorded_at) FROM warehouse_companies AS w WHERE w.party_id = k.company_id),
        (SELECT min(r.started_at) FROM sync_runs AS r),
        CURRENT_TIMESTAMP
    ),
    coalesce((SELECT max(r.started_at) FROM sync_runs AS r), CURRENT_TIMESTAMP),
    (SELECT max(r.finished_at) FROM sync_runs AS r WHERE r.status = 'succeeded')
FROM (
    SELECT company_id FROM migration_0007_company WHERE company_id IS NOT NULL
    UNION
    SELECT party_id FROM warehouse_companies
    UNION
    SELECT company_id FROM invoices WHERE company_id IS NOT NULL
) AS k;

DROP TABLE warehouse_companies;

-- Orders and their children. invoices.company_id exists since 0001 (the order's CompanyID); from now on the load
-- writes the PartyID it read with and quarantines an order whose CompanyID says otherwise.
UPDATE invoices SET company_id = (SELECT company_id FROM migration_0007_company) WHERE company_id IS NULL;
CREATE INDEX ix_invoices_company_id_direction ON invoices (company_id, direction);

ALTER TABLE invoice_lines ADD COLUMN company_id BIGINT;
UPDATE invoice_lines SET company_id = (
    SELECT i.company_id FROM invoices AS i WHERE i.order_id = invoice_lines.order_id
);
ALTER TABLE invoice_vat_groups ADD COLUMN company_id BIGINT;
UPDATE invoice_vat_groups SET company_id = (
    SELECT i.company_id FROM invoices AS i WHERE i.order_id = invoice_vat_groups.order_id
);
ALTER TABLE invoice_messages ADD COLUMN company_id BIGINT;
UPDATE invoice_messages SET company_id = (
    SELECT i.company_id FROM invoices AS i WHERE i.order_id = invoice_messages.order_id
);
ALTER TABLE invoice_status_history ADD COLUMN company_id BIGINT;
UPDATE invoice_status_history SET company_id = (
    SELECT i.company_id FROM invoices AS i WHERE i.order_id = invoice_status_history.order_id
);
ALTER TABLE vat_return_entries ADD COLUMN company_id BIGINT;
UPDATE vat_return_entries SET company_id = (
    SELECT i.company_id FROM invoices AS i WHERE i.order_id = vat_return_entries.order_id
);
ALTER TABLE vat_return_exceptions ADD COLUMN company_id BIGINT;
UPDATE vat_return_exceptions SET company_id = (
    SELECT i.company_id FROM invoices AS i WHERE i.order_id = vat_return_exceptions.order_id
);

-- Parties per company's books.
ALTER TABLE party_identifiers RENAME TO party_identifiers_0006;
ALTER TABLE parties RENAME TO parties_0006;
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
    company_id BIGINT NOT NULL,
    CONSTRAINT pk_parties PRIMARY KEY (company_id, party_id)
);
INSERT INTO parties
SELECT p.*, (SELECT company_id FROM migration_0007_company) FROM parties_0006 AS p;
CREATE TABLE party_identifiers (
    party_id BIGINT NOT NULL,
    source TEXT NOT NULL,
    raw TEXT NOT NULL,
    scheme TEXT,
    value TEXT,
    peppol_id TEXT,
    is_valid BOOLEAN NOT NULL,
    reason TEXT,
    company_id BIGINT NOT NULL,
    CONSTRAINT pk_party_identifiers PRIMARY KEY (company_id, party_id, source, raw),
    CONSTRAINT fk_party_identifiers_parties FOREIGN KEY (company_id, party_id)
        REFERENCES parties (company_id, party_id) ON DELETE CASCADE
);
INSERT INTO party_identifiers
SELECT x.*, (SELECT company_id FROM migration_0007_company) FROM party_identifiers_0006 AS x;
DROP TABLE party_identifiers_0006;
DROP TABLE parties_0006;
CREATE INDEX ix_parties_enterprise_number ON parties (enterprise_number);
CREATE INDEX ix_parties_peppol_id ON parties (peppol_id);
CREATE INDEX ix_parties_party_id ON parties (party_id);
CREATE INDEX ix_party_identifiers_peppol_id ON party_identifiers (peppol_id);

-- The state a sync keeps, per company: watermarks, pending orders, runs, quarantine.
ALTER TABLE sync_state RENAME TO sync_state_0006;
CREATE TABLE sync_state (
    stream TEXT NOT NULL,
    watermark_last_modified TIMESTAMP,
    watermark_raw TEXT,
    watermark_order_id BIGINT,
    window_count INTEGER,
    updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_run_id TEXT,
    company_id BIGINT NOT NULL,
    CONSTRAINT pk_sync_state PRIMARY KEY (company_id, stream)
);
INSERT INTO sync_state
SELECT s.*, (SELECT company_id FROM migration_0007_company) FROM sync_state_0006 AS s;
DROP TABLE sync_state_0006;

ALTER TABLE pending_orders RENAME TO pending_orders_0006;
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
    company_id BIGINT NOT NULL,
    CONSTRAINT pk_pending_orders PRIMARY KEY (company_id, stream, order_id)
);
INSERT INTO pending_orders
SELECT o.*, (SELECT company_id FROM migration_0007_company) FROM pending_orders_0006 AS o;
DROP TABLE pending_orders_0006;
CREATE INDEX ix_pending_orders_order_id ON pending_orders (order_id);

ALTER TABLE sync_runs RENAME COLUMN party_id TO company_id;
UPDATE sync_runs SET company_id = (SELECT company_id FROM migration_0007_company) WHERE company_id IS NULL;
CREATE INDEX ix_sync_runs_company_id_stream_started_at ON sync_runs (company_id, stream, started_at);

ALTER TABLE quarantine RENAME TO quarantine_0006;
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
    landing_file TEXT,
    company_id BIGINT NOT NULL,
    CONSTRAINT uq_quarantine_entity_version_reason
        UNIQUE (company_id, stream, entity, entity_key, source_version, reason)
);
INSERT INTO quarantine
SELECT q.*, coalesce(
    (SELECT i.company_id FROM invoices AS i WHERE i.order_id = q.order_id),
    (SELECT company_id FROM migration_0007_company)
) FROM quarantine_0006 AS q;
DROP TABLE quarantine_0006;
CREATE INDEX ix_quarantine_order_id ON quarantine (order_id);
CREATE INDEX ix_quarantine_run_id ON quarantine (run_id);

-- The push: whose books each row goes into (NULL: the push's configured company). Rows Billit already has are
-- the single company's.
ALTER TABLE outbound_invoices ADD COLUMN company_id BIGINT;
UPDATE outbound_invoices SET company_id = (SELECT company_id FROM migration_0007_company)
WHERE billit_order_id IS NOT NULL OR status IN ('created', 'sent');
CREATE INDEX ix_outbound_invoices_company_id_status ON outbound_invoices (company_id, status);

DROP TABLE migration_0007_company;
PRAGMA legacy_alter_table = OFF;

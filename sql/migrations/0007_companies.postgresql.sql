-- 0007_companies (PostgreSQL): the Billit company (PartyID) becomes a dimension of the warehouse, so one warehouse
-- holds the books of several companies that one API key reaches (docs/warehouse.md#companies). Keep
-- 0007_companies.sqlite.sql the same apart from how a primary or unique key is changed (SQLite rebuilds the table).
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
ALTER TABLE party_identifiers DROP CONSTRAINT fk_party_identifiers_parties;
ALTER TABLE parties ADD COLUMN company_id BIGINT;
UPDATE parties SET company_id = (SELECT company_id FROM migration_0007_company);
ALTER TABLE parties ALTER COLUMN company_id SET NOT NULL;
ALTER TABLE parties DROP CONSTRAINT pk_parties;
ALTER TABLE parties ADD CONSTRAINT pk_parties PRIMARY KEY (company_id, party_id);
CREATE INDEX ix_parties_party_id ON parties (party_id);
ALTER TABLE party_identifiers ADD COLUMN company_id BIGINT;
UPDATE party_identifiers SET company_id = (SELECT company_id FROM migration_0007_company);
ALTER TABLE party_identifiers ALTER COLUMN company_id SET NOT NULL;
ALTER TABLE party_identifiers DROP CONSTRAINT pk_party_identifiers;
ALTER TABLE party_identifiers ADD CONSTRAINT pk_party_identifiers PRIMARY KEY (company_id, party_id, source, raw);
ALTER TABLE party_identifiers ADD CONSTRAINT fk_party_identifiers_parties FOREIGN KEY (company_id, party_id)
    REFERENCES parties (company_id, party_id) ON DELETE CASCADE;

-- The state a sync keeps, per company: watermarks, pending orders, runs, quarantine.
ALTER TABLE sync_state ADD COLUMN company_id BIGINT;
UPDATE sync_state SET company_id = (SELECT company_id FROM migration_0007_company);
ALTER TABLE sync_state ALTER COLUMN company_id SET NOT NULL;
ALTER TABLE sync_state DROP CONSTRAINT pk_sync_state;
ALTER TABLE sync_state ADD CONSTRAINT pk_sync_state PRIMARY KEY (company_id, stream);

ALTER TABLE pending_orders ADD COLUMN company_id BIGINT;
UPDATE pending_orders SET company_id = (SELECT company_id FROM migration_0007_company);
ALTER TABLE pending_orders ALTER COLUMN company_id SET NOT NULL;
ALTER TABLE pending_orders DROP CONSTRAINT pk_pending_orders;
ALTER TABLE pending_orders ADD CONSTRAINT pk_pending_orders PRIMARY KEY (company_id, stream, order_id);

ALTER TABLE sync_runs RENAME COLUMN party_id TO company_id;
UPDATE sync_runs SET company_id = (SELECT company_id FROM migration_0007_company) WHERE company_id IS NULL;
CREATE INDEX ix_sync_runs_company_id_stream_started_at ON sync_runs (company_id, stream, started_at);

ALTER TABLE quarantine ADD COLUMN company_id BIGINT;
UPDATE quarantine SET company_id = coalesce(
    (SELECT i.company_id FROM invoices AS i WHERE i.order_id = quarantine.order_id),
    (SELECT company_id FROM migration_0007_company)
);
ALTER TABLE quarantine ALTER COLUMN company_id SET NOT NULL;
ALTER TABLE quarantine DROP CONSTRAINT uq_quarantine_entity_version_reason;
ALTER TABLE quarantine ADD CONSTRAINT uq_quarantine_entity_version_reason
    UNIQUE (company_id, stream, entity, entity_key, source_version, reason);

-- The push: whose books each row goes into (NULL: the push's configured company). Rows Billit already has are
-- the single company's.
ALTER TABLE outbound_invoices ADD COLUMN company_id BIGINT;
UPDATE outbound_invoices SET company_id = (SELECT company_id FROM migration_0007_company)
WHERE billit_order_id IS NOT NULL OR status IN ('created', 'sent');
CREATE INDEX ix_outbound_invoices_company_id_status ON outbound_invoices (company_id, status);

DROP TABLE migration_0007_company;

-- Reverse flow: invoices prepared in the warehouse, to be created (and optionally sent) in Billit.
-- Users fill the input columns; billit-etl push fills the result columns (docs/warehouse.md, "Pushing invoices").
-- Input columns are nullable on purpose: a row that cannot succeed is loaded anyway and `rejected` with the
-- reason by the push's own validation, rather than refused by the database without a trace.

CREATE TABLE outbound_invoices (
    external_id TEXT NOT NULL,
    order_type TEXT NOT NULL DEFAULT 'Invoice',
    order_number TEXT,
    order_date DATE,
    expiry_date DATE,
    delivery_date DATE,
    currency TEXT NOT NULL DEFAULT 'EUR',
    reference TEXT,
    order_title TEXT,
    comments TEXT,
    payment_reference TEXT,
    payment_method TEXT,
    about_invoice_number TEXT,
    ventilation_code TEXT,
    customer_name TEXT,
    customer_vat_number TEXT,
    customer_enterprise_number TEXT,
    customer_gln TEXT,
    customer_email TEXT,
    customer_nr TEXT,
    customer_language TEXT,
    customer_street TEXT,
    customer_street_number TEXT,
    customer_box TEXT,
    customer_zipcode TEXT,
    customer_city TEXT,
    customer_country_code TEXT NOT NULL DEFAULT 'BE',
    status TEXT NOT NULL DEFAULT 'pending',
    billit_order_id BIGINT,
    attempts INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    last_error_code TEXT,
    last_error TEXT,
    created_at TIMESTAMP,
    sent_at TIMESTAMP,
    claimed_by TEXT,
    claimed_at TIMESTAMP,
    updated_at TIMESTAMP,
    CONSTRAINT pk_outbound_invoices PRIMARY KEY (external_id),
    CONSTRAINT ck_outbound_invoices_status CHECK (status IN ('pending', 'created', 'sent', 'rejected', 'failed'))
);

CREATE INDEX ix_outbound_invoices_status ON outbound_invoices (status);
CREATE INDEX ix_outbound_invoices_billit_order_id ON outbound_invoices (billit_order_id);

CREATE TABLE outbound_invoice_lines (
    external_id TEXT NOT NULL,
    line_number INTEGER NOT NULL,
    description TEXT,
    description_extended TEXT,
    quantity NUMERIC(18, 5),
    unit_price_excl NUMERIC(18, 5),
    vat_percentage NUMERIC(9, 4),
    ventilation_code TEXT,
    reference TEXT,
    CONSTRAINT pk_outbound_invoice_lines PRIMARY KEY (external_id, line_number),
    CONSTRAINT fk_outbound_invoice_lines_outbound_invoices FOREIGN KEY (external_id)
        REFERENCES outbound_invoices (external_id) ON DELETE CASCADE
);

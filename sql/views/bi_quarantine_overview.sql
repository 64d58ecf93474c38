-- bi_quarantine_overview (both dialects): what is waiting in quarantine. Unresolved rows (resolved_at IS NULL)
-- per company, stream, entity and reason: how many rows and distinct orders, and when the first and the last of them
-- were quarantined (naive UTC, like quarantine.created_at).
CREATE VIEW bi_quarantine_overview AS
SELECT
    q.company_id,
    c.company_name,
    q.stream,
    q.entity,
    q.reason,
    count(*) AS row_count,
    count(DISTINCT q.order_id) AS order_count,
    min(q.created_at) AS first_seen,
    max(q.created_at) AS last_seen
FROM quarantine AS q
LEFT JOIN bi___companies AS c ON c.company_id = q.company_id
WHERE q.resolved_at IS NULL
GROUP BY q.company_id, c.company_name, q.stream, q.entity, q.reason;

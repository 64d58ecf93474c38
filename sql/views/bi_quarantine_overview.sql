-- bi_quarantine_overview (both dialects): what is waiting in quarantine. Unresolved rows (resolved_at IS NULL)
-- per stream, entity and reason: how many rows and distinct orders, and when the first and the last of them
-- were quarantined (naive UTC, like quarantine.created_at).
CREATE VIEW bi_quarantine_overview AS
SELECT
    stream,
    entity,
    reason,
    count(*) AS row_count,
    count(DISTINCT order_id) AS order_count,
    min(created_at) AS first_seen,
    max(created_at) AS last_seen
FROM quarantine
WHERE resolved_at IS NULL
GROUP BY stream, entity, reason;

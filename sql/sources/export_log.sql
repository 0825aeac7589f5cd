-- grain: one row per push of an export to another system (DHIS2, a reporting portal)
SELECT
    export_id, kind, export, target, payload_sha256, idempotency_key, payload_bytes, value_count,
    attempts, http_status, status, imported, updated, ignored, deleted, conflicts, message, repeat_of,
    started_at, finished_at, data_as_of, versions
FROM lake.export_log

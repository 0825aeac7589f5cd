//! Schemas of the lake tables. Column names are the SQL names analysts use.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// A Delta table of the lake: its name, folder, schema and partition columns.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// SQL name and folder name.
    pub name: &'static str,
    /// Folder under the lake root (`tables` or `models`).
    pub folder: &'static str,
    /// Arrow schema.
    pub schema: SchemaRef,
    /// Partition columns (strings).
    pub partition_columns: &'static [&'static str],
}

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}

/// `data_values`: one row per accepted value, in long format, every version ever received (the
/// current value of a key is the latest received; `deleted` rows remove a key from the current view).
pub static DATA_VALUES: LazyLock<TableSpec> = LazyLock::new(|| TableSpec {
    name: "data_values",
    folder: "tables",
    schema: Arc::new(Schema::new(vec![
        text("epoch"),
        text("period"),
        text("org_unit"),
        text("data_element"),
        text("disaggregation"),
        Field::new("value", DataType::Float64, true),
        Field::new("deleted", DataType::Boolean, false),
        Field::new("comment", DataType::Utf8, true),
        Field::new("stored_by", DataType::Utf8, true),
        text("submission_id"),
        text("source_location"),
        Field::new("received_at", utc(), false),
        Field::new("ingested_at", utc(), false),
    ])),
    partition_columns: &["epoch", "period"],
});

/// `submissions`: one row per received file. Writing this row commits the file's values.
pub static SUBMISSIONS: LazyLock<TableSpec> = LazyLock::new(|| TableSpec {
    name: "submissions",
    folder: "tables",
    schema: Arc::new(Schema::new(vec![
        text("submission_id"),
        text("content_hash"),
        text("source"),
        text("format"),
        text("status"),
        Field::new("received_at", utc(), false),
        Field::new("ingested_at", utc(), false),
        Field::new("rows_accepted", DataType::Int64, false),
        Field::new("rows_rejected", DataType::Int64, false),
        Field::new("error", DataType::Utf8, true),
        Field::new("submitted_by", DataType::Utf8, true),
    ])),
    partition_columns: &[],
});

/// `rejections`: one row per refused value or row, with a stable reason code and messages.
pub static REJECTIONS: LazyLock<TableSpec> = LazyLock::new(|| TableSpec {
    name: "rejections",
    folder: "tables",
    schema: Arc::new(Schema::new(vec![
        text("submission_id"),
        text("source"),
        Field::new("row", DataType::Int64, false),
        text("location"),
        text("field"),
        Field::new("value", DataType::Utf8, true),
        text("reason"),
        text("message_vi"),
        text("message_en"),
        Field::new("ingested_at", utc(), false),
    ])),
    partition_columns: &[],
});

/// `task_progress`: what agencies report of the tasks of the implementation plans
/// (`catalog/plans/`), one row per task and report, every version ever received (the current
/// report of an agency on a task for a period is the latest received). Written with the file's
/// `submissions` row, like `data_values`: visible once that row is committed.
pub static TASK_PROGRESS: LazyLock<TableSpec> = LazyLock::new(|| TableSpec {
    name: "task_progress",
    folder: "tables",
    schema: Arc::new(Schema::new(vec![
        text("plan"),
        text("task"),
        text("agency"),
        text("period"),
        text("status"),
        text("text"),
        Field::new("reported_on", DataType::Date32, false),
        Field::new("evidence", DataType::Utf8, true),
        text("submission_id"),
        text("source_location"),
        Field::new("submitted_by", DataType::Utf8, true),
        Field::new("received_at", utc(), false),
        Field::new("ingested_at", utc(), false),
    ])),
    partition_columns: &[],
});

/// `runs`: the pipeline run ledger. A run writes a row when it starts (`status` running) and one
/// when it ends (succeeded or failed, with `finished_at`, its steps as JSON and the error); a run
/// whose process died keeps only the first. The engine's `runs` view shows each run's latest row.
pub static RUNS: LazyLock<TableSpec> = LazyLock::new(|| TableSpec {
    name: "runs",
    folder: "tables",
    schema: Arc::new(Schema::new(vec![
        text("run_id"),
        text("pipeline"),
        text("trigger"),
        text("holder"),
        text("status"),
        Field::new("started_at", utc(), false),
        Field::new("finished_at", utc(), true),
        Field::new("steps", DataType::Utf8, true),
        Field::new("error", DataType::Utf8, true),
    ])),
    partition_columns: &[],
});

/// `export_log`: one row per push of an export to another system (a DHIS2 instance, a reporting
/// portal): what was sent (`payload_sha256`, `idempotency_key`, `payload_bytes`, `value_count`), where
/// (`target`), how it went (`attempts`, `http_status`, `status`, `message`, DHIS2's import counts
/// and `conflicts` as JSON) and what it was computed from (`versions`: the Delta versions read, as
/// JSON; `data_as_of`). `status` is `imported` (accepted without conflicts), `conflicts` (accepted,
/// with conflicts), `rejected` (the server refused it), `failed` (no answer after every attempt),
/// or `repeat` (this payload was already accepted by this target: not sent again, see `repeat_of`).
pub static EXPORT_LOG: LazyLock<TableSpec> = LazyLock::new(|| TableSpec {
    name: "export_log",
    folder: "tables",
    schema: Arc::new(Schema::new(vec![
        text("export_id"),
        text("kind"),
        text("export"),
        text("target"),
        text("payload_sha256"),
        text("idempotency_key"),
        Field::new("payload_bytes", DataType::Int64, false),
        Field::new("value_count", DataType::Int64, true),
        Field::new("attempts", DataType::Int64, false),
        Field::new("http_status", DataType::Int64, true),
        text("status"),
        Field::new("imported", DataType::Int64, true),
        Field::new("updated", DataType::Int64, true),
        Field::new("ignored", DataType::Int64, true),
        Field::new("deleted", DataType::Int64, true),
        Field::new("conflicts", DataType::Utf8, true),
        Field::new("message", DataType::Utf8, true),
        Field::new("repeat_of", DataType::Utf8, true),
        Field::new("started_at", utc(), false),
        Field::new("finished_at", utc(), false),
        Field::new("data_as_of", utc(), true),
        Field::new("versions", DataType::Utf8, true),
    ])),
    partition_columns: &[],
});

/// `audit`: who did what through the service — SQL queries (with the query text, the rows
/// returned and how long it took), runs started, denied requests and logins (with the client's
/// address), configuration reloads. `actor` is `token:<name>`, `pg:<user>`, `scheduler`,
/// `anonymous` or `config`; never a token or a password. Partitioned by `day` (Vietnam date of
/// `at`), so that old days are dropped whole (`[audit] retention_days`). Read by admins only (the
/// service refuses other callers' queries that read `lake.audit`).
pub static AUDIT: LazyLock<TableSpec> = LazyLock::new(|| TableSpec {
    name: "audit",
    folder: "tables",
    schema: Arc::new(Schema::new(vec![
        Field::new("at", utc(), false),
        text("actor"),
        Field::new("role", DataType::Utf8, true),
        text("endpoint"),
        text("action"),
        Field::new("target", DataType::Utf8, true),
        Field::new("detail", DataType::Utf8, true),
        Field::new("rows", DataType::Int64, true),
        Field::new("duration_ms", DataType::Int64, true),
        text("outcome"),
        Field::new("error", DataType::Utf8, true),
        Field::new("client", DataType::Utf8, true),
        text("day"),
    ])),
    partition_columns: &["day"],
});

/// The tables of the lake (not the models), ingest's in commit order (submissions last: it is the
/// commit marker), then the run ledger and the export log.
pub fn lake_tables() -> [&'static TableSpec; 6] {
    [&DATA_VALUES, &REJECTIONS, &TASK_PROGRESS, &SUBMISSIONS, &RUNS, &EXPORT_LOG]
}

//! Pushes against the local DHIS2 and portal server of `tonghop-testkit` (real HTTP on
//! 127.0.0.1:0, implementing the documented `/api/dataValueSets` contract), each checked in the
//! `export_log` Delta table of a temporary lake.

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int64Type};
use tonghop_export::{push, Auth, DataValue, DataValueSet, ExportLogEntry, Push, PushKind, RetryPolicy};
use tonghop_lake::tables::EXPORT_LOG;
use tonghop_lake::Lake;
use tonghop_testkit::{basic, Server};

fn lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(dir.path().join("lake").to_str().unwrap()).unwrap();
    (dir, lake)
}

fn value(element: &str, org_unit: &str, value: &str) -> DataValue {
    DataValue {
        data_element: element.into(),
        period: "2026Q1".into(),
        org_unit: org_unit.into(),
        category_option_combo: "HllvX50cXC0".into(),
        attribute_option_combo: "HllvX50cXC0".into(),
        value: value.into(),
    }
}

fn value_set(values: Vec<DataValue>) -> Vec<u8> {
    serde_json::to_vec(&DataValueSet { data_set: Some("BfMAe6Itzgt".into()), data_values: values }).unwrap()
}

fn fast() -> RetryPolicy {
    RetryPolicy { attempts: 3, first_delay: Duration::from_millis(20), max_delay: Duration::from_millis(100), timeout: Some(Duration::from_secs(10)) }
}

fn dhis2_push(url: &str, payload: Vec<u8>, auth: Auth) -> Push {
    Push {
        kind: PushKind::Dhis2,
        export: "dhis2 post2025 2026Q1 province of VN".into(),
        target: url.into(),
        payload,
        values: Some(2),
        auth,
        retry: fast(),
        force: false,
        versions: BTreeMap::from([("models.monthly_values".to_string(), 3), ("data_values".to_string(), 7)]),
        data_as_of: Some("2026-04-20T03:00:00Z".parse().unwrap()),
    }
}

/// `export_log` rows as (export_id, status, attempts, http_status, imported, updated, ignored, conflicts, repeat_of), in commit order.
type LogRow = (String, String, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<String>, Option<String>);

async fn log(lake: &Lake) -> Vec<LogRow> {
    let batches: Vec<RecordBatch> = lake
        .query_table(&EXPORT_LOG, "SELECT export_id, status, attempts, http_status, imported, updated, ignored, conflicts, repeat_of, versions FROM export_log ORDER BY started_at, finished_at", &[])
        .await
        .unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        // Delta may hand strings back as views: read them through casts.
        let text = |i: usize| arrow::compute::cast(b.column(i), &DataType::Utf8).unwrap().as_string::<i32>().clone();
        let int = |i: usize| arrow::compute::cast(b.column(i), &DataType::Int64).unwrap().as_primitive::<Int64Type>().clone();
        let (ids, statuses, attempts, http, imported, updated, ignored, conflicts, repeat_of, versions) =
            (text(0), text(1), int(2), int(3), int(4), int(5), int(6), text(7), text(8), text(9));
        let opt = |a: &arrow::array::Int64Array, r: usize| a.is_valid(r).then(|| a.value(r));
        let opt_text = |a: &arrow::array::StringArray, r: usize| a.is_valid(r).then(|| a.value(r).to_string());
        for r in 0..b.num_rows() {
            assert!(versions.value(r).contains("\"models.monthly_values\":3"), "versions read are recorded: {}", versions.value(r));
            rows.push((
                ids.value(r).to_string(),
                statuses.value(r).to_string(),
                attempts.value(r),
                opt(&http, r),
                opt(&imported, r),
                opt(&updated, r),
                opt(&ignored, r),
                opt_text(&conflicts, r),
                opt_text(&repeat_of, r),
            ));
        }
    }
    rows
}

fn counts(e: &ExportLogEntry) -> (Option<i64>, Option<i64>, Option<i64>, Option<i64>) {
    (e.imported, e.updated, e.ignored, e.deleted)
}

#[tokio::test]
async fn a_push_imports_and_the_same_payload_again_is_a_logged_repeat() {
    let server = Server::start();
    server.require_authorization(Some(&basic("admin", "district")));
    let (_dir, lake) = lake();
    let payload = value_set(vec![value("f7n9E0hX8qk", "DiszpKrYNg8", "12000"), value("Ix2HsbDMLea", "DiszpKrYNg8", "35")]);
    let auth = Auth::Basic { user: "admin".into(), password: "district".into() };

    let first = push(&lake, &dhis2_push(server.url(), payload.clone(), auth.clone())).await.unwrap();
    assert_eq!((first.status.as_str(), first.attempts, first.http_status), ("imported", 1, Some(200)), "{}", first.one_line());
    assert_eq!(counts(&first), (Some(2), Some(0), Some(0), Some(0)));
    assert_eq!(first.target, format!("{}/api/dataValueSets", server.url()));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/api/dataValueSets");
    assert_eq!(requests[0].body, payload, "the payload is sent byte for byte");
    assert_eq!(requests[0].idempotency_key.as_deref(), Some(first.idempotency_key.as_str()));
    let key = ("f7n9E0hX8qk".to_string(), "2026Q1".to_string(), "DiszpKrYNg8".to_string(), "HllvX50cXC0".to_string(), "HllvX50cXC0".to_string());
    assert_eq!(server.values().get(&key).map(String::as_str), Some("12000"));

    // The same payload again: not sent, logged as a repeat of the first push.
    let again = push(&lake, &dhis2_push(server.url(), payload.clone(), auth.clone())).await.unwrap();
    assert_eq!((again.status.as_str(), again.attempts, again.repeat_of.as_deref()), ("repeat", 0, Some(first.export_id.as_str())));
    assert!(again.succeeded());
    assert_eq!(server.requests().len(), 1, "a repeat sends nothing");

    // Forced: sent again, and DHIS2 upserts (updated, nothing new).
    let mut forced = dhis2_push(server.url(), payload, auth);
    forced.force = true;
    let forced = push(&lake, &forced).await.unwrap();
    assert_eq!((forced.status.as_str(), counts(&forced)), ("imported", (Some(0), Some(2), Some(0), Some(0))));
    assert_eq!(server.requests().len(), 2);

    let rows = log(&lake).await;
    assert_eq!(rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(), ["imported", "repeat", "imported"]);
    assert_eq!(rows[1].8.as_deref(), Some(first.export_id.as_str()));
    assert_eq!(rows[0].0, first.export_id);
}

#[tokio::test]
async fn conflicts_are_recorded_and_a_wrong_password_is_rejected() {
    let server = Server::start();
    server.known(&["f7n9E0hX8qk"], &["DiszpKrYNg8"]);
    let (_dir, lake) = lake();
    let payload = value_set(vec![value("f7n9E0hX8qk", "DiszpKrYNg8", "12000"), value("NOSUCHELEMT", "DiszpKrYNg8", "35")]);
    let entry = push(&lake, &dhis2_push(server.url(), payload.clone(), Auth::ApiToken("d2pat_secret".into()))).await.unwrap();
    assert_eq!(
        (entry.status.as_str(), entry.http_status, counts(&entry)),
        ("conflicts", Some(409), (Some(1), Some(0), Some(1), Some(0))),
        "{}",
        entry.one_line()
    );
    let conflicts: serde_json::Value = serde_json::from_str(entry.conflicts.as_deref().unwrap()).unwrap();
    assert_eq!(conflicts[0]["object"], "NOSUCHELEMT");
    assert_eq!(conflicts[0]["errorCode"], "E7610");
    assert_eq!(server.requests()[0].authorization.as_deref(), Some("ApiToken d2pat_secret"));
    let rows = log(&lake).await;
    assert_eq!((rows[0].1.as_str(), rows[0].6), ("conflicts", Some(1)));
    assert!(rows[0].7.as_deref().unwrap().contains("NOSUCHELEMT"));

    // An older DHIS2 answers the summary at the top level, with 200.
    server.set_legacy(true);
    let mut legacy = dhis2_push(server.url(), payload, Auth::None);
    legacy.force = true;
    let entry = push(&lake, &legacy).await.unwrap();
    assert_eq!(
        (entry.status.as_str(), entry.http_status, counts(&entry)),
        ("conflicts", Some(200), (Some(0), Some(1), Some(1), Some(0))),
        "{}",
        entry.one_line()
    );

    // Refused credentials: 401 is final (no retry), status rejected.
    server.require_authorization(Some(&basic("admin", "district")));
    let before = server.requests().len();
    let wrong =
        dhis2_push(server.url(), value_set(vec![value("f7n9E0hX8qk", "DiszpKrYNg8", "1")]), Auth::Basic { user: "admin".into(), password: "wrong".into() });
    let entry = push(&lake, &wrong).await.unwrap();
    assert_eq!((entry.status.as_str(), entry.attempts, entry.http_status), ("rejected", 1, Some(401)));
    assert!(!entry.succeeded());
    assert_eq!(server.requests().len(), before + 1);
}

#[tokio::test]
async fn a_503_is_retried_and_a_dead_server_fails_after_every_attempt() {
    let server = Server::start();
    let (_dir, lake) = lake();
    server.fail_next(1);
    let entry = push(&lake, &dhis2_push(server.url(), value_set(vec![value("f7n9E0hX8qk", "DiszpKrYNg8", "7")]), Auth::None)).await.unwrap();
    assert_eq!((entry.status.as_str(), entry.attempts, entry.http_status, entry.imported), ("imported", 2, Some(200), Some(1)), "{}", entry.one_line());
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body, requests[1].body);

    // Always 503: three attempts, then failed; not a repeat next time (nothing was accepted).
    server.fail_next(10);
    let payload = value_set(vec![value("f7n9E0hX8qk", "DiszpKrYNg8", "8")]);
    let entry = push(&lake, &dhis2_push(server.url(), payload.clone(), Auth::None)).await.unwrap();
    assert_eq!((entry.status.as_str(), entry.attempts, entry.http_status), ("failed", 3, Some(503)));
    assert!(entry.message.as_deref().unwrap_or_default().contains("503"), "{:?}", entry.message);
    server.fail_next(0);
    let entry = push(&lake, &dhis2_push(server.url(), payload, Auth::None)).await.unwrap();
    assert_eq!(entry.status, "imported", "a failed push is not a reason to skip the next one");

    // Nobody listening: connection errors are retried, then failed with the cause.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let entry = push(&lake, &dhis2_push(&format!("http://{closed}"), value_set(vec![]), Auth::None)).await.unwrap();
    assert_eq!((entry.status.as_str(), entry.attempts, entry.http_status), ("failed", 3, None));
    assert!(entry.message.is_some());
    assert_eq!(log(&lake).await.iter().map(|r| r.2).collect::<Vec<_>>(), [2, 3, 1, 3]);
}

#[tokio::test]
async fn a_portal_sees_the_same_idempotency_key_on_a_retry_and_a_rerun_is_a_repeat() {
    let server = Server::start();
    let (_dir, lake) = lake();
    server.fail_next(1);
    let payload = br#"{"table":"province_indicators","where":null,"rows":[{"province_code":"04","value":97.5}]}"#.to_vec();
    let request = Push {
        kind: PushKind::Portal,
        export: "table province_indicators".into(),
        target: server.portal_url(),
        payload: payload.clone(),
        values: Some(1),
        auth: Auth::Bearer("portal-token".into()),
        retry: fast(),
        force: false,
        versions: BTreeMap::from([("models.monthly_values".to_string(), 3)]),
        data_as_of: None,
    };
    let entry = push(&lake, &request).await.unwrap();
    assert_eq!((entry.status.as_str(), entry.attempts, entry.http_status), ("accepted", 2, Some(201)), "{}", entry.one_line());
    assert!(entry.message.as_deref().unwrap().contains("received"), "the answer is recorded: {:?}", entry.message);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].idempotency_key, requests[1].idempotency_key, "the retry carries the same key");
    assert_eq!(requests[0].idempotency_key.as_deref(), Some(entry.idempotency_key.as_str()));
    assert_eq!(requests[1].authorization.as_deref(), Some("Bearer portal-token"));
    assert_eq!(server.portal_payloads().get(&entry.idempotency_key), Some(&payload));

    // Re-run: a repeat, nothing sent. Forced: sent with the same key, and the portal sees a duplicate.
    let again = push(&lake, &request).await.unwrap();
    assert_eq!((again.status.as_str(), again.repeat_of.as_deref()), ("repeat", Some(entry.export_id.as_str())));
    assert_eq!(server.requests().len(), 2);
    let forced = push(&lake, &Push { force: true, ..request }).await.unwrap();
    assert_eq!((forced.status.as_str(), forced.http_status, forced.idempotency_key.as_str()), ("accepted", Some(200), entry.idempotency_key.as_str()));
    assert!(forced.message.as_deref().unwrap().contains("duplicate"));
    assert_eq!(server.portal_payloads().len(), 1, "stored once");
}

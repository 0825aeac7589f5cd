//! Test support for tonghop's push tests: a real HTTP server on `127.0.0.1:0` that implements the
//! documented DHIS2 `POST /api/dataValueSets` contract and a reporting portal, so pushes are tested
//! over real sockets against the contract rather than against mocks of our own code.
//!
//! | route | what it does |
//! |---|---|
//! | `POST /api/dataValueSets` | reads a JSON data value set; stores each value keyed by (dataElement, period, orgUnit, categoryOptionCombo, attributeOptionCombo): `imported` when new, `updated` when it replaces one; values naming an unknown data element or org unit are `ignored` with a conflict (`E7610`, `E7612`). Answers the DHIS2 2.36+ envelope (`{"httpStatus", "httpStatusCode", "status", "message", "response": ImportSummary}`, `409 Conflict` when there are conflicts, as 2.38+ does), or with [`Server::set_legacy`] the older bare `ImportSummary` with `200` |
//! | `POST /portal` | takes any JSON with an `Idempotency-Key`: `201` the first time a key is seen, `200` with `"status": "duplicate"` afterwards (stored once), `400` without a key |
//!
//! [`Server::fail_next`] makes the next requests answer `503` (a gateway in trouble), and
//! [`Server::require_authorization`] makes every request without that exact `Authorization` header
//! answer `401`. Every request is recorded ([`Server::requests`]), failed ones included.
//!
//! ```no_run
//! let server = tonghop_testkit::Server::start();
//! server.fail_next(1);
//! // push to server.url() … then:
//! assert_eq!(server.requests().len(), 2);
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde_json::{json, Value};

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The path (`/api/dataValueSets`, `/portal`).
    pub path: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// The key of a stored DHIS2 value.
pub type ValueKey = (String, String, String, String, String);

#[derive(Default)]
struct Inner {
    data_elements: Option<HashSet<String>>,
    org_units: Option<HashSet<String>>,
    values: HashMap<ValueKey, String>,
    portal: HashMap<String, Vec<u8>>,
    fail_next: usize,
    legacy: bool,
    authorization: Option<String>,
    requests: Vec<Request>,
}

type Shared = Arc<Mutex<Inner>>;

/// The server; it stops when dropped.
pub struct Server {
    url: String,
    inner: Shared,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// `Basic <base64(user:password)>`, the header basic authentication sends.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

impl Server {
    /// Starts the server on `127.0.0.1:0` in a thread of its own (usable from sync and async tests).
    pub fn start() -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let inner: Shared = Arc::default();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new().route("/api/dataValueSets", post(data_value_sets)).route("/portal", post(portal)).with_state(inner.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Server { url, inner, stop: Some(stop) }
    }

    /// `http://127.0.0.1:<port>`: the DHIS2 base URL (requests go to `/api/dataValueSets`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The portal's URL.
    pub fn portal_url(&self) -> String {
        format!("{}/portal", self.url)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Only these data elements and org units exist (by default every id does).
    pub fn known(&self, data_elements: &[&str], org_units: &[&str]) {
        let mut inner = self.lock();
        inner.data_elements = Some(data_elements.iter().map(|s| s.to_string()).collect());
        inner.org_units = Some(org_units.iter().map(|s| s.to_string()).collect());
    }

    /// The next `n` requests answer `503 Service Unavailable`.
    pub fn fail_next(&self, n: usize) {
        self.lock().fail_next = n;
    }

    /// Answer as DHIS2 before 2.36: the import summary at the top level, always `200`.
    pub fn set_legacy(&self, legacy: bool) {
        self.lock().legacy = legacy;
    }

    /// Requests without exactly this `Authorization` header answer `401` (`None`: anyone is let in).
    pub fn require_authorization(&self, header: Option<&str>) {
        self.lock().authorization = header.map(str::to_string);
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.lock().requests.clone()
    }

    /// The DHIS2 values stored.
    pub fn values(&self) -> HashMap<ValueKey, String> {
        self.lock().values.clone()
    }

    /// The portal's payloads by idempotency key.
    pub fn portal_payloads(&self) -> HashMap<String, Vec<u8>> {
        self.lock().portal.clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn json_response(code: StatusCode, body: Value) -> Response {
    (code, [(axum::http::header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Records the request, then answers 401 or 503 when it should; `None` to go on.
fn gate(inner: &mut Inner, path: &str, headers: &HeaderMap, body: &Bytes) -> Option<Response> {
    let authorization = header(headers, "authorization");
    inner.requests.push(Request {
        path: path.to_string(),
        authorization: authorization.clone(),
        idempotency_key: header(headers, "idempotency-key"),
        body: body.to_vec(),
    });
    if inner.authorization.is_some() && inner.authorization != authorization {
        let body = json!({"httpStatus": "Unauthorized", "httpStatusCode": 401, "status": "ERROR", "message": "Unauthorized"});
        return Some(json_response(StatusCode::UNAUTHORIZED, body));
    }
    if inner.fail_next > 0 {
        inner.fail_next -= 1;
        return Some((StatusCode::SERVICE_UNAVAILABLE, "<html><body>503 Service Temporarily Unavailable</body></html>").into_response());
    }
    None
}

fn text(v: &Value, name: &str) -> String {
    v.get(name).and_then(Value::as_str).unwrap_or_default().to_string()
}

async fn data_value_sets(State(inner): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(answer) = gate(&mut inner, "/api/dataValueSets", &headers, &body) {
        return answer;
    }
    let Ok(set) = serde_json::from_slice::<Value>(&body) else {
        let body = json!({"httpStatus": "Bad Request", "httpStatusCode": 400, "status": "ERROR", "message": "Invalid JSON"});
        return json_response(StatusCode::BAD_REQUEST, body);
    };
    let (mut imported, mut updated, mut ignored) = (0, 0, 0);
    let mut conflicts = Vec::new();
    let values = set.get("dataValues").and_then(Value::as_array).cloned().unwrap_or_default();
    for (index, value) in values.iter().enumerate() {
        let (element, org_unit) = (text(value, "dataElement"), text(value, "orgUnit"));
        let unknown = |known: &Option<HashSet<String>>, id: &str| known.as_ref().is_some_and(|k| !k.contains(id));
        let conflict = if unknown(&inner.data_elements, &element) {
            Some(("dataElement", element.clone(), "E7610", format!("Data element not found or not accessible: `{element}`")))
        } else if unknown(&inner.org_units, &org_unit) {
            Some(("orgUnit", org_unit.clone(), "E7612", format!("Organisation unit not found or not accessible: `{org_unit}`")))
        } else {
            None
        };
        if let Some((property, object, code, message)) = conflict {
            ignored += 1;
            conflicts.push(if inner.legacy {
                json!({"object": object, "value": message})
            } else {
                json!({"object": object, "objects": {property: object}, "value": message, "errorCode": code, "property": property, "indexes": [index]})
            });
            continue;
        }
        let key = (element, text(value, "period"), org_unit, text(value, "categoryOptionCombo"), text(value, "attributeOptionCombo"));
        match inner.values.insert(key, text(value, "value")) {
            Some(_) => updated += 1,
            None => imported += 1,
        }
    }
    let status = if conflicts.is_empty() { "SUCCESS" } else { "WARNING" };
    let summary = json!({
        "responseType": "ImportSummary",
        "status": status,
        "importOptions": {"idSchemes": {}, "dryRun": false, "async": false, "importStrategy": "CREATE_AND_UPDATE"},
        "description": "Import process completed successfully",
        "importCount": {"imported": imported, "updated": updated, "ignored": ignored, "deleted": 0},
        "conflicts": conflicts,
        "dataSetComplete": "false",
    });
    if inner.legacy {
        return json_response(StatusCode::OK, summary);
    }
    let (code, http, top, message) = if ignored == 0 {
        (StatusCode::OK, "OK", "OK", "Import was successful.")
    } else {
        (StatusCode::CONFLICT, "Conflict", "WARNING", "One more conflicts encountered, please check import summary.")
    };
    let body = json!({"httpStatus": http, "httpStatusCode": code.as_u16(), "status": top, "message": message, "response": summary});
    json_response(code, body)
}

async fn portal(State(inner): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let mut inner = inner.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(answer) = gate(&mut inner, "/portal", &headers, &body) {
        return answer;
    }
    let Some(key) = header(&headers, "idempotency-key") else {
        return json_response(StatusCode::BAD_REQUEST, json!({"error": "Idempotency-Key header required"}));
    };
    if serde_json::from_slice::<Value>(&body).is_err() {
        return json_response(StatusCode::BAD_REQUEST, json!({"error": "body is not JSON"}));
    }
    if inner.portal.contains_key(&key) {
        return json_response(StatusCode::OK, json!({"status": "duplicate", "key": key}));
    }
    inner.portal.insert(key.clone(), body.to_vec());
    json_response(StatusCode::CREATED, json!({"status": "received", "key": key}))
}

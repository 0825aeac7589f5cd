//! The HTTP API (axum).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /health` | anyone | liveness and version (with an analyst or admin token: also the lake and pipelines) |
//! | `GET /metrics` | anyone | Prometheus text |
//! | `POST /api/submissions?filename=…` | unit tokens, admin | a submission file (CSV, XLSX, JSON, DHIS2) as the body; answered once journaled (see `submit`) |
//! | `GET /api/submissions/{id}` | its sender, analyst, admin | the receipt: status, counts, rejections with reasons |
//! | `GET /api/runs?pipeline=…&limit=…` | analyst, admin | recent runs |
//! | `POST /api/runs/{pipeline}?wait=true` | admin | start a run (and wait for it) |
//! | `POST /sql?format=json|csv|arrow` | analyst, admin | read-only SQL; the body is the query |
//! | `POST /api/plans/progress?filename=…` | agency (admin with `?agency=`) | progress on a plan's tasks: JSON or the XLSX progress form (see [`crate::plans`]) |
//! | `GET /api/plans/{plan}/tasks?period=…` | analyst, admin, the plan's province and agencies | every task's status in a review period, as JSON |
//! | `GET /api/plans/{plan}/review?period=…` | analyst, admin, the plan's province and agencies | the periodic review as a Word document |
//!
//! Tokens go in `Authorization: Bearer <token>`. A missing or unknown token gets 401, a token
//! without the right gets 403 with the reason; both are logged and counted.

use std::sync::Arc;

use arrow::array::RecordBatch;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, MatchedPath, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Caller, Lookup, Role};
use crate::service::{today, Service};
use crate::submit::{self, Refusal};

/// The API's router, with the dashboard's pages unless `[dashboard] enabled = false`.
pub fn router(service: Arc<Service>) -> crate::Result<Router> {
    let limit = service.config.http.max_body_bytes;
    let body_timeout = std::time::Duration::from_secs(service.config.submissions.body_timeout_seconds);
    let uploads = (service.clone(), Arc::new(tokio::sync::Semaphore::new(service.config.submissions.max_concurrent_uploads)));
    let api = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/submissions", post(submit).layer(axum::middleware::from_fn(move |request, next| limit_uploads(uploads.clone(), request, next))))
        .route("/api/submissions/{id}", get(submission))
        .route("/api/runs", get(runs))
        .route("/api/runs/{pipeline}", post(trigger))
        .route("/sql", post(sql))
        .route("/api/plans/progress", post(crate::plans::progress))
        .route("/api/plans/{plan}/tasks", get(crate::plans::tasks))
        .route("/api/plans/{plan}/review", get(crate::plans::review))
        .with_state(service.clone());
    let app = if service.config.dashboard.enabled { api.merge(crate::dashboard::router(service)?) } else { api };
    Ok(app
        .layer(DefaultBodyLimit::max(limit))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_timeout))
        .layer(axum::middleware::map_response(security_headers)))
}

/// Headers on every answer (errors and unknown routes included), unless a route set its own:
/// no content-type sniffing, no referrer, no framing, and nothing kept in caches (every answer is
/// data or a receipt).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// Serves the router until `stop`: hyper's HTTP/1 server with a header read timeout (axum's own
/// `serve` sets none), over TLS when `tls` is given (the handshake within the same timeout), each
/// request carrying its client's address (for the login throttle), and a graceful shutdown that
/// lets requests in flight be answered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    stop: tokio_util::sync::CancellationToken,
    header_timeout: std::time::Duration,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "http: accept failed");
                    continue;
                }
            },
        };
        let app = router.clone().layer(axum::Extension(ConnectInfo(peer)));
        let (watcher, tls) = (graceful.watcher(), tls.clone());
        tokio::spawn(async move {
            let served = match tls {
                None => serve_connection(stream, app, header_timeout, watcher).await,
                Some(acceptor) => match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(stream, app, header_timeout, watcher).await,
                    Ok(Err(e)) => Err(e.into()),
                    Err(_) => Err("TLS handshake timed out".into()),
                },
            };
            if let Err(e) = served {
                tracing::debug!(peer = %peer, error = %e, "http connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// One connection (plain or TLS) served until it closes or the shutdown lets it end.
async fn serve_connection<S>(
    stream: S,
    app: Router,
    header_timeout: std::time::Duration,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let connection = builder.serve_connection(TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(app));
    Ok(watcher.watch(connection).await?)
}

/// At most `submissions.max_concurrent_uploads` submissions with a known token are received and
/// checked at once; the next waits for a slot (its body not yet read) up to
/// `submissions.body_timeout_seconds`, then is answered 503. (A request without a known token
/// takes no slot: it is answered 401 before its body is read.)
async fn limit_uploads(
    (service, uploads): (Arc<Service>, Arc<tokio::sync::Semaphore>),
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let token = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if token.is_none_or(|t| service.access().tokens.caller(t).is_none()) {
        return next.run(request).await;
    }
    let wait = std::time::Duration::from_secs(service.config.submissions.body_timeout_seconds);
    match tokio::time::timeout(wait, uploads.acquire_owned()).await {
        Ok(Ok(_permit)) => next.run(request).await,
        _ => {
            tracing::warn!("submission refused: every upload slot is taken (submissions.max_concurrent_uploads)");
            let mut r = problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many submissions are being received at once; send again in a minute",
                Some("Hệ thống đang nhận nhiều tệp cùng lúc, vui lòng gửi lại sau ít phút.".into()),
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            r
        }
    }
}

/// An error answer: JSON with an English `error` and, for reporting units, a Vietnamese `message_vi`.
pub(crate) fn problem(status: StatusCode, error: impl Into<String>, message_vi: Option<String>) -> Response {
    let mut body = json!({ "error": error.into() });
    if let Some(vi) = message_vi {
        body["message_vi"] = vi.into();
    }
    (status, Json(body)).into_response()
}

/// A 500 answer that says no more than that something failed: the cause (which may name server
/// paths) goes to the log under an incident id that the answer gives.
pub(crate) fn internal_error(what: &str, error: &dyn std::fmt::Display) -> Response {
    let incident = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    tracing::error!(incident, what, error = %error, "internal error");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("internal error while {what} (incident {incident}; the details are in the service log)"),
        Some(format!("Lỗi hệ thống (mã sự cố {incident}); vui lòng thử lại hoặc báo quản trị viên.")),
    )
}

/// A request's caller, from its bearer token, with the route it called (for logs). Extracting it
/// answers 401 (logged and counted) when the token is missing or unknown.
pub(crate) struct Authed {
    pub(crate) caller: Caller,
    pub(crate) route: String,
    /// The client's address (for the audit trail).
    pub(crate) client: Option<String>,
}

impl FromRequestParts<Arc<Service>> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, service: &Arc<Service>) -> Result<Self, Response> {
        let path = parts.extensions.get::<MatchedPath>().map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
        let route = format!("{} {path}", parts.method);
        // Tests and embedders may serve the router without connection info: no address, no throttle.
        let client = parts
            .extensions
            .get::<ConnectInfo<std::net::SocketAddr>>()
            .map(|c| crate::throttle::client_address(c.0.ip(), &parts.headers, &service.trusted_proxies).to_string());
        let address = client.as_ref().map(|c| format!("ip:{c}"));
        let deny = |reason: &str, actor: &str, why: &str| {
            service.metrics.denied(reason);
            service.audit.denied(actor, "http", &route, why, client.as_deref());
        };
        if let Some(wait) = address.as_deref().and_then(|a| service.throttle.blocked([a])) {
            // Counted, not audited: the failures that led here are, and a flood must not fill the lake.
            service.metrics.denied("throttled");
            tracing::warn!(route, address = ?address, "denied: too many unknown tokens from this address");
            let mut r = problem(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests with unknown tokens from this address; try again in {} s", wait.as_secs()),
                Some("Quá nhiều lần dùng mã truy cập không hợp lệ từ địa chỉ này; vui lòng thử lại sau.".into()),
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
            return Err(r);
        }
        let token = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let Some(token) = token else {
            deny("no_token", "anonymous", "no token");
            tracing::warn!(route, "denied: no token");
            // Counted towards the throttle like an unknown token, so that requests without one
            // cannot flood the audit trail.
            if let Some(a) = address.as_deref() {
                service.throttle.failed([a]);
            }
            let mut r = problem(
                StatusCode::UNAUTHORIZED,
                "send your API token as `Authorization: Bearer <token>`",
                Some("Thiếu mã truy cập (API token) của đơn vị.".into()),
            );
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Err(r);
        };
        let access = service.access();
        match access.tokens.lookup(token, chrono::Utc::now()) {
            Lookup::Valid(c) => Ok(Authed { caller: c.clone(), route, client }),
            Lookup::Expired(c) => {
                let at = c.expires.map(|at| at.to_rfc3339()).unwrap_or_default();
                deny("expired_token", &c.submitted_by(), &format!("the token expired at {at}"));
                tracing::warn!(route, token = %c.name, expired = %at, "denied: expired token");
                Err(problem(
                    StatusCode::UNAUTHORIZED,
                    format!("the token {:?} expired at {at}; ask the administrator for a new one", c.name),
                    Some("Mã truy cập đã hết hạn; vui lòng đề nghị quản trị hệ thống cấp mã mới.".into()),
                ))
            }
            Lookup::Unknown => {
                deny("unknown_token", "anonymous", "unknown token");
                tracing::warn!(route, address = ?address, "denied: unknown token");
                if let Some(a) = address.as_deref() {
                    service.throttle.failed([a]);
                }
                Err(problem(StatusCode::UNAUTHORIZED, "unknown API token", Some("Mã truy cập không hợp lệ.".into())))
            }
        }
    }
}

/// No `Authorization` header: no caller (routes open to anyone); one: as [`Authed`], refused if unknown.
impl axum::extract::OptionalFromRequestParts<Arc<Service>> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, service: &Arc<Service>) -> Result<Option<Self>, Response> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            <Authed as FromRequestParts<Arc<Service>>>::from_request_parts(parts, service).await.map(Some)
        } else {
            Ok(None)
        }
    }
}

impl Authed {
    /// The 403 answer, logged and counted.
    pub(crate) fn forbid(&self, service: &Service, why: String, message_vi: &str) -> Response {
        service.metrics.denied("forbidden");
        service.audit.denied(&self.caller.submitted_by(), "http", &self.route, &why, self.client.as_deref());
        tracing::warn!(route = %self.route, token = %self.caller.name, role = ?self.caller.role, reason = %why, "denied");
        problem(StatusCode::FORBIDDEN, why, Some(message_vi.to_string()))
    }

    /// Ok for tokens that may read (analyst, admin), else the 403 answer.
    #[allow(clippy::result_large_err)]
    fn require_reader(&self, service: &Service) -> Result<(), Response> {
        if self.caller.role.reads() {
            Ok(())
        } else {
            let why = format!("token {:?} ({:?}) may only submit; reading needs an analyst token", self.caller.name, self.caller.role);
            Err(self.forbid(service, why, "Mã truy cập này chỉ được gửi số liệu, không được truy vấn."))
        }
    }
}

/// Status and version for anyone (load balancers, `docker compose`); the lake's location and the
/// pipelines only for analyst and admin tokens. A token that is sent must be valid (401 and counted
/// towards the throttle otherwise), so the route cannot be used to try tokens.
async fn health(State(service): State<Arc<Service>>, auth: Option<Authed>) -> Response {
    let mut answer = json!({
        "status": if service.shutdown.is_cancelled() { "stopping" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
    });
    if auth.is_some_and(|a| a.caller.role.reads()) {
        answer["lake"] = service.lake.root().url().to_string().into();
        answer["pipelines"] = service.pipeline_names().into();
    }
    Json(answer).into_response()
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    service.metrics.analyst(service.limits.running(), service.limits.reserved());
    service.metrics.audit_dropped(service.audit.dropped());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], service.metrics.render()).into_response()
}

#[derive(Deserialize)]
struct SubmitParams {
    /// The file name (its extension helps detect the format).
    filename: Option<String>,
}

async fn submit(State(service): State<Arc<Service>>, auth: Authed, headers: HeaderMap, Query(params): Query<SubmitParams>, body: Bytes) -> Response {
    let caller = &auth.caller;
    if caller.role == Role::Analyst {
        return auth.forbid(
            &service,
            format!("token {:?} is an analyst token: it reads but does not submit", caller.name),
            "Mã truy cập của cán bộ phân tích không được gửi số liệu.",
        );
    }
    if service.shutdown.is_cancelled() {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is stopping; send again shortly",
            Some("Hệ thống đang dừng, vui lòng gửi lại sau.".into()),
        );
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let name = params.filename.unwrap_or_else(|| {
        let extension = match content_type.split(';').next().unwrap_or("").trim() {
            "application/json" => "json",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
            "application/xml" | "text/xml" => "xml",
            _ => "csv",
        };
        format!("submission.{extension}")
    });
    let now = chrono::Utc::now();
    let checked = {
        let (service, caller) = (service.clone(), caller.clone());
        tokio::task::spawn_blocking(move || submit::check(body, &name, &service.lake, &caller, &service.registry, &service.catalog, today(), now)).await
    };
    let result = match checked {
        Ok(Ok(checked)) => service.committer.commit(checked).await,
        Ok(Err(refusal)) => Err(refusal),
        Err(e) => Err(Refusal::Failed(format!("reading the submission panicked: {e}"))),
    };
    match result {
        Ok(receipt) => {
            service.remember(&caller.submitted_by(), &receipt);
            let status = match (receipt.duplicate, receipt.status.as_str()) {
                (true, _) => StatusCode::OK,
                (false, "failed" | "rejected") => StatusCode::UNPROCESSABLE_ENTITY,
                _ => StatusCode::CREATED,
            };
            (status, Json(receipt)).into_response()
        }
        Err(Refusal::Forbidden(units)) => {
            let own = caller.unit.as_ref().map_or_else(|| "none".to_string(), |(e, c)| format!("{e}:{c}"));
            auth.forbid(
                &service,
                format!("token {:?} ({:?} {own}) may not submit values for {}", caller.name, caller.role, units.join(", ")),
                &format!(
                    "Mã truy cập của đơn vị {own} không được gửi số liệu của đơn vị khác: {}. Không có số liệu nào của tệp này được ghi nhận.",
                    units.join(", ")
                ),
            )
        }
        Err(Refusal::ProgressForm) => problem(
            StatusCode::BAD_REQUEST,
            "this is a plan's progress form (tonghop template --plan … --agency …): send it to POST /api/plans/progress",
            Some("Đây là biểu mẫu báo cáo tiến độ nhiệm vụ; vui lòng gửi qua chức năng báo cáo tiến độ (POST /api/plans/progress).".into()),
        ),
        Err(Refusal::Unavailable(why)) => problem(StatusCode::SERVICE_UNAVAILABLE, why, Some("Hệ thống đang bận, vui lòng gửi lại sau ít phút.".into())),
        Err(Refusal::Failed(why)) => internal_error("storing the submission (nothing of it was recorded; send it again)", &why),
    }
}

/// Which refused rows `GET /api/submissions/{id}` lists.
#[derive(Deserialize)]
struct PageParams {
    /// Refused rows to skip (default 0).
    offset: Option<usize>,
    /// Refused rows to list (default 50, at most 1,000).
    limit: Option<usize>,
}

async fn submission(State(service): State<Arc<Service>>, auth: Authed, Path(id): Path<String>, Query(page): Query<PageParams>) -> Response {
    let caller = &auth.caller;
    if !id.chars().all(|c| c.is_ascii_hexdigit()) || id.len() != 16 {
        return problem(StatusCode::BAD_REQUEST, "a submission id is 16 hex digits", None);
    }
    let (offset, limit) = (page.offset.unwrap_or(0), page.limit.unwrap_or(submit::RECEIPT_REJECTIONS).min(1000));
    if let Some((senders, receipt)) = service.recent(&id) {
        if !senders.contains(&caller.submitted_by()) && !caller.role.reads() {
            return auth.forbid(&service, format!("submission {id} was sent by another token"), "Tệp này do đơn vị khác gửi.");
        }
        // The receipt as answered, unless another page of its refused rows is asked for (those are
        // read from the lake, where they are a moment after the answer).
        if offset == 0 && limit <= submit::RECEIPT_REJECTIONS {
            return Json(receipt).into_response();
        }
    }
    // Older submissions (before this process started): from the lake.
    let sql = "SELECT submission_id, status, rows_accepted, rows_rejected, error, submitted_by, source, CAST(received_at AS VARCHAR) AS received_at \
               FROM submissions WHERE submission_id = $id";
    let rows = match service.query(sql, &[("id", &id)]).await.and_then(|b| Ok(batches_to_json(&b)?)) {
        Ok(rows) => rows,
        Err(e) => return internal_error("reading a submission", &e),
    };
    let Some(row) = rows.as_array().and_then(|a| a.first()).cloned() else {
        return problem(
            StatusCode::NOT_FOUND,
            format!("no submission {id} (a submission just sent may take a few seconds to appear here after a restart)"),
            Some("Không tìm thấy tệp này.".into()),
        );
    };
    if row["submitted_by"].as_str() != Some(caller.submitted_by().as_str()) && !caller.role.reads() {
        return auth.forbid(&service, format!("submission {id} was sent by another token"), "Tệp này do đơn vị khác gửi.");
    }
    let rejections = service
        .query(
            &format!(
                "SELECT row, location, field, value, reason, message_vi, message_en FROM rejections WHERE submission_id = $id \
             ORDER BY reason = '{}', row, location LIMIT {limit} OFFSET {offset}",
                tonghop_ingest::submission::MORE_REJECTIONS
            ),
            &[("id", &id)],
        )
        .await
        .and_then(|b| Ok(batches_to_json(&b)?))
        .unwrap_or_else(|_| json!([]));
    let mut row = row;
    row["rejections"] = rejections;
    row["offset"] = offset.into();
    Json(row).into_response()
}

#[derive(Deserialize)]
struct RunsParams {
    pipeline: Option<String>,
    limit: Option<usize>,
}

async fn runs(State(service): State<Arc<Service>>, auth: Authed, Query(params): Query<RunsParams>) -> Response {
    if let Err(r) = auth.require_reader(&service) {
        return r;
    }
    let filter = if params.pipeline.is_some() { "WHERE pipeline = $pipeline" } else { "" };
    let sql = format!(
        "SELECT run_id, pipeline, trigger, holder, status, CAST(started_at AS VARCHAR) AS started_at, CAST(finished_at AS VARCHAR) AS finished_at, steps, error \
         FROM runs {filter} ORDER BY started_at DESC LIMIT {}",
        params.limit.unwrap_or(50).min(1000)
    );
    let pipeline: Vec<(&str, &str)> = params.pipeline.as_deref().map(|p| ("pipeline", p)).into_iter().collect();
    match service.query(&sql, &pipeline).await.and_then(|b| Ok(batches_to_json(&b)?)) {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => internal_error("reading the runs", &e),
    }
}

#[derive(Deserialize)]
struct TriggerParams {
    #[serde(default)]
    wait: bool,
}

async fn trigger(State(service): State<Arc<Service>>, auth: Authed, Path(pipeline): Path<String>, Query(params): Query<TriggerParams>) -> Response {
    let caller = &auth.caller;
    if caller.role != Role::Admin {
        return auth.forbid(
            &service,
            format!("token {:?} ({:?}) may not start runs; that needs an admin token", caller.name, caller.role),
            "Chỉ quản trị viên được chạy quy trình.",
        );
    }
    if !service.pipelines.contains_key(&pipeline) {
        return problem(StatusCode::NOT_FOUND, format!("no pipeline {pipeline:?}; known: {}", service.pipeline_names().join(", ")), None);
    }
    let trigger = format!("api:{}", caller.name);
    if !params.wait {
        return if service.spawn_run(&pipeline, &trigger) {
            (StatusCode::ACCEPTED, Json(json!({ "pipeline": pipeline, "status": "started" }))).into_response()
        } else {
            problem(StatusCode::CONFLICT, format!("pipeline {pipeline} is already running in this service"), None)
        };
    }
    match service.run_pipeline(&pipeline, &trigger).await {
        Ok(report) => Json(json!({
            "pipeline": report.pipeline,
            "run_id": report.run_id,
            "status": "succeeded",
            "steps": report.steps.iter().map(|s| json!({ "name": s.name, "seconds": s.seconds, "summary": s.summary })).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(crate::Error::Pipeline(e @ tonghop_pipeline::Error::AlreadyRunning { .. })) => problem(StatusCode::CONFLICT, e.to_string(), None),
        // Like every 500 answer: what failed and an incident id; the error (which may name lake
        // paths) is in the log under that id, and in the run's row of `runs` (GET /api/runs).
        Err(e) => internal_error(&format!("running pipeline {pipeline}"), &e),
    }
}

#[derive(Deserialize)]
struct SqlParams {
    format: Option<String>,
}

async fn sql(State(service): State<Arc<Service>>, auth: Authed, headers: HeaderMap, Query(params): Query<SqlParams>, body: Bytes) -> Response {
    if let Err(r) = auth.require_reader(&service) {
        return r;
    }
    let Ok(text) = std::str::from_utf8(&body) else { return problem(StatusCode::BAD_REQUEST, "the query is not UTF-8", None) };
    // The body is the SQL text, or JSON {"sql": "..."}.
    let query = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) if v.get("sql").and_then(|s| s.as_str()).is_some() => v["sql"].as_str().unwrap_or_default().to_string(),
        _ => text.to_string(),
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let format = params.format.unwrap_or_else(|| {
        if accept.contains("text/csv") {
            "csv".into()
        } else if accept.contains("arrow") {
            "arrow".into()
        } else {
            "json".into()
        }
    });
    if !["json", "csv", "arrow"].contains(&format.as_str()) {
        return problem(StatusCode::BAD_REQUEST, format!("format {format:?}: use json, csv or arrow"), None);
    }
    let started = std::time::Instant::now();
    let mut entry = crate::audit::Entry::new(auth.caller.submitted_by(), "http", "sql");
    entry.role = Some(format!("{:?}", auth.caller.role).to_lowercase());
    entry.target = Some(auth.route.clone());
    entry.detail = Some(query.clone());
    entry.client = auth.client.clone();
    let result = service.analyst_query(&query, service.config.http.max_sql_rows, auth.caller.role == Role::Admin).await;
    entry.duration_ms = Some(started.elapsed().as_millis() as i64);
    let batches = match result {
        Ok(b) => b,
        Err(e) => {
            service.metrics.query("http", false);
            let status = match &e {
                crate::Error::Engine(tonghop_engine::Error::ReadOnly { .. }) | crate::Error::Forbidden(_) => StatusCode::FORBIDDEN,
                crate::Error::Limit { limit, .. } => StatusCode::from_u16(limit.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                _ => StatusCode::BAD_REQUEST,
            };
            entry.outcome = if status == StatusCode::FORBIDDEN { "denied" } else { "error" }.into();
            entry.error = Some(e.to_string());
            service.audit.record(entry);
            return problem(status, e.to_string(), None);
        }
    };
    service.metrics.query("http", true);
    entry.rows = Some(batches.iter().map(|b| b.num_rows() as i64).sum());
    service.audit.record(entry);
    match encode(&batches, &format) {
        Ok((content_type, bytes)) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(e) => internal_error("encoding the answer", &e),
    }
}

fn encode(batches: &[RecordBatch], format: &str) -> Result<(&'static str, Vec<u8>), arrow::error::ArrowError> {
    let mut out = Vec::new();
    match format {
        "csv" => {
            let mut w = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            for b in batches {
                w.write(b)?;
            }
            drop(w);
            Ok(("text/csv; charset=utf-8", out))
        }
        "arrow" => {
            let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
            let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, &schema)?;
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            drop(w);
            Ok(("application/vnd.apache.arrow.stream", out))
        }
        _ => {
            let mut w = arrow::json::ArrayWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            drop(w);
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
            Ok(("application/json", out))
        }
    }
}

pub(crate) fn batches_to_json(batches: &[RecordBatch]) -> Result<serde_json::Value, arrow::error::ArrowError> {
    let (_, bytes) = encode(batches, "json")?;
    serde_json::from_slice(&bytes).map_err(|e| arrow::error::ArrowError::JsonError(e.to_string()))
}

//! The plans over HTTP: agencies report progress on their tasks, and the plan's province and
//! agencies read the tasks' status and the periodic review.
//!
//! `POST /api/plans/progress` takes, with an agency token (or an admin token and `?agency=CODE`):
//!
//! - JSON: `{"plan": "NA_KH_2024", "period": "2026S1", "reports": [{"task": "5", "status":
//!   "Đang triển khai", "text": "…", "date": "2026-06-20", "evidence": "Công văn số 12/SYT"}]}`
//!   (`status`: a label or code of [`tonghop_core::plans::ProgressStatus`]; `date`: `YYYY-MM-DD` or
//!   `DD/MM/YYYY`; `evidence` optional);
//! - or the agency's XLSX progress form (`tonghop template --plan … --agency …`), filled in.
//!
//! Each report is checked on its own (see `tonghop_ingest::progress`): refused ones come back with
//! a reason in Vietnamese and English, the others are committed with the submission, as an ingest
//! of values is. A report on a task the agency neither leads nor co-operates on, or a form of
//! another agency, refuses the whole request (403) and writes nothing. Sending the same content
//! again writes nothing and answers the first receipt (`duplicate: true`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonghop_core::plans::Plan;
use tonghop_core::Epoch;
use tonghop_export::review::{to_docx, Review, ReviewScope};
use tonghop_ingest::submission::{read_progress, Incoming, ProgressBody};

use crate::auth::{Caller, Role};
use crate::http::{internal_error, problem, Authed};
use crate::service::{today, Service};

/// Records what a caller did with a plan in the audit trail (`endpoint` `http`).
fn audit(service: &Service, auth: &Authed, action: &str, detail: String, rows: Option<i64>) {
    let mut entry = crate::audit::Entry::new(auth.caller.submitted_by(), "http", action);
    entry.role = Some(format!("{:?}", auth.caller.role).to_lowercase());
    entry.target = Some(auth.route.clone());
    entry.detail = Some(detail);
    entry.rows = rows;
    entry.client = auth.client.clone();
    service.audit.record(entry);
}

#[derive(Deserialize)]
pub(crate) struct ProgressParams {
    /// The file name, for messages.
    filename: Option<String>,
    /// The agency an admin reports for.
    agency: Option<String>,
}

/// Whether `caller` may read the tasks and the review of `plan`: readers; a province token of the
/// plan's province (in either epoch); an agency of the plan's province.
fn may_read(service: &Service, caller: &Caller, plan: &Plan) -> bool {
    if caller.role.reads() {
        return true;
    }
    let today = service.catalog.plans.unit_today(plan, &service.registry);
    let own = plan.unit().map(|(e, c)| (e, c.to_string()));
    match caller.role {
        Role::Province => caller.unit.as_ref().is_some_and(|u| Some(u) == own.as_ref() || Some(u) == today.as_ref()),
        Role::Agency => caller
            .agency
            .as_deref()
            .and_then(|a| service.catalog.plans.agency(a))
            .and_then(|a| Some((a.epoch.parse::<Epoch>().ok()?, a.unit_code.clone())))
            .is_some_and(|u| Some(&u) == today.as_ref() || Some(&u) == own.as_ref()),
        _ => false,
    }
}

/// `POST /api/plans/progress`.
pub(crate) async fn progress(State(service): State<Arc<Service>>, auth: Authed, Query(params): Query<ProgressParams>, body: Bytes) -> Response {
    let caller = auth.caller.clone();
    let agency = match (caller.role, &caller.agency, &params.agency) {
        (Role::Agency, Some(own), None) => own.clone(),
        (Role::Agency, Some(own), Some(asked)) if asked == own => own.clone(),
        (Role::Admin, _, Some(asked)) => asked.clone(),
        (Role::Admin, _, None) => {
            return problem(StatusCode::BAD_REQUEST, "an admin token reports for an agency named by ?agency=CODE", None);
        }
        _ => {
            return auth.forbid(
                &service,
                format!("token {:?} ({:?}) may not report task progress; that needs the agency's own token", caller.name, caller.role),
                "Chỉ cơ quan được giao nhiệm vụ mới được báo cáo tiến độ (dùng mã truy cập của cơ quan).",
            );
        }
    };
    if service.catalog.plans.agency(&agency).is_none_or(|a| a.is_group()) {
        return problem(StatusCode::BAD_REQUEST, format!("agency {agency:?} is not an agency of catalog/plans/agencies.csv"), None);
    }
    let form = body.starts_with(b"PK");
    let name = params.filename.unwrap_or_else(|| if form { "tien_do.xlsx".into() } else { "tien_do.json".into() });
    let now = chrono::Utc::now();
    let hash = hex::encode(Sha256::digest(&body));
    let incoming = Incoming { source: format!("http:{name}"), name, content_hash: hash, received_at: now, submitted_by: Some(caller.submitted_by()) };
    let id = incoming.submission_id().to_string();
    if let Some((_, receipt)) = service.recent(&id) {
        let mut receipt = receipt;
        receipt.duplicate = true;
        return (StatusCode::OK, Json(receipt)).into_response();
    }
    let read = {
        let (service, incoming, agency) = (service.clone(), incoming.clone(), agency.clone());
        tokio::task::spawn_blocking(move || {
            let body = if form { ProgressBody::Form(&body) } else { ProgressBody::Json(&body) };
            read_progress(&incoming, body, &service.catalog.plans, Some(&agency), today(), now)
        })
        .await
    };
    let read = match read {
        Ok(read) => read,
        Err(e) => return internal_error("reading a progress report", &e),
    };
    if let Some(other) = read.other_agency.as_deref() {
        return auth.forbid(
            &service,
            format!("the form is {other}'s; token {:?} reports for {agency}", caller.name),
            &format!("Biểu mẫu này là của cơ quan {other}; mã truy cập này chỉ được báo cáo cho {agency}. Không có nội dung nào được ghi nhận."),
        );
    }
    if !read.not_assigned.is_empty() {
        let tasks = read.not_assigned.join(", ");
        return auth.forbid(
            &service,
            format!("agency {agency} neither leads nor co-operates on task(s) {tasks} of plan {}; nothing was recorded", read.plan),
            &format!("Cơ quan {agency} không chủ trì hay phối hợp nhiệm vụ số {tasks} của kế hoạch {}; không có nội dung nào được ghi nhận.", read.plan),
        );
    }
    let outcome = read.outcome;
    // Sent before this process started: committed already, so nothing is written again.
    let known = std::collections::BTreeSet::from([id.clone()]);
    match service.lake.committed_among(&known).await {
        Ok(committed) if committed.contains(&id) => {
            let receipt = crate::submit::receipt(&outcome, true, "");
            return (StatusCode::OK, Json(receipt)).into_response();
        }
        Ok(_) => {}
        Err(e) => return internal_error("looking the progress report up in the lake", &e),
    }
    let ingested_at = chrono::Utc::now();
    if outcome.error.is_none() {
        let mut writer = tonghop_ingest::commit::SubmissionWriter::new(&service.lake);
        if let Err(e) = writer.commit(None, std::slice::from_ref(&outcome), ingested_at).await {
            return internal_error("committing a progress report (nothing of it was recorded; send it again)", &e);
        }
        service.mark_changed();
    }
    let receipt = crate::submit::receipt(&outcome, false, "");
    service.remember(&caller.submitted_by(), &receipt);
    audit(
        &service,
        &auth,
        "progress",
        format!("plan={} agency={agency} submission={} status={} rejected={}", read.plan, receipt.submission_id, receipt.status, receipt.rejected),
        Some(receipt.accepted as i64),
    );
    let status = match receipt.status.as_str() {
        "failed" | "rejected" => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::CREATED,
    };
    (status, Json(receipt)).into_response()
}

#[derive(Deserialize)]
pub(crate) struct PeriodParams {
    /// A quarter, half-year, nine months or year.
    period: String,
    /// The unit of the review's figures (`post2025:<code>`).
    unit: Option<String>,
}

/// The plan, or the answer refusing the request.
#[allow(clippy::result_large_err)]
fn readable_plan(service: &Service, auth: &Authed, code: &str) -> Result<Plan, Response> {
    let Some(plan) = service.catalog.plans.plan(code).cloned() else {
        return Err(problem(StatusCode::NOT_FOUND, format!("no plan {code:?} in catalog/plans/plans.csv"), Some("Không có kế hoạch này.".into())));
    };
    if !may_read(service, &auth.caller, &plan) {
        return Err(auth.forbid(
            service,
            format!("token {:?} ({:?}) may not read plan {code}: it is for the plan's province, its agencies and analysts", auth.caller.name, auth.caller.role),
            "Mã truy cập này không được xem kế hoạch và báo cáo sơ kết của tỉnh.",
        ));
    }
    Ok(plan)
}

/// `GET /api/plans/{plan}/tasks?period=…`: `task_status` of the plan in the period.
pub(crate) async fn tasks(State(service): State<Arc<Service>>, auth: Authed, Path(code): Path<String>, Query(params): Query<PeriodParams>) -> Response {
    let plan = match readable_plan(&service, &auth, &code) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Err(e) = tonghop_core::plans::review_period(&params.period) {
        return problem(StatusCode::BAD_REQUEST, e, None);
    }
    let sql = "SELECT task, content_vi, lead_vi, deadline_vi, deadline_kind, CAST(due_date AS VARCHAR) AS due_date, CAST(as_of AS VARCHAR) AS as_of, \
               lead_agencies, leads_done, agencies_behind, status, status_vi, behind \
               FROM task_status WHERE plan = $plan AND period = $period ORDER BY task_order";
    match service.query(sql, &[("plan", &plan.code), ("period", &params.period)]).await.and_then(|b| Ok(crate::http::batches_to_json(&b)?)) {
        Ok(rows) => {
            audit(&service, &auth, "plan_tasks", format!("plan={} period={}", plan.code, params.period), rows.as_array().map(|a| a.len() as i64));
            Json(rows).into_response()
        }
        Err(e) => internal_error("reading the tasks' status", &e),
    }
}

/// `GET /api/plans/{plan}/review?period=…`: the review as a Word document.
pub(crate) async fn review(State(service): State<Arc<Service>>, auth: Authed, Path(code): Path<String>, Query(params): Query<PeriodParams>) -> Response {
    let plan = match readable_plan(&service, &auth, &code) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let scope = match ReviewScope::resolve(&service.catalog.plans, &service.registry, &plan.code, &params.period, params.unit.as_deref()) {
        Ok(s) => s,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e, None),
    };
    let engine = service.engine();
    let review = match Review::gather(&engine, &service.registry, &service.catalog, &scope, today(), chrono::Utc::now()).await {
        Ok(r) => r,
        Err(e) => return internal_error("gathering the review", &e),
    };
    let bytes = match to_docx(&review) {
        Ok(b) => b,
        Err(e) => return internal_error("writing the review", &e),
    };
    audit(&service, &auth, "review", format!("plan={} period={} unit=post2025:{}", plan.code, scope.period, scope.unit.code), Some(review.tasks.len() as i64));
    let disposition = format!("attachment; filename=\"{}\"", scope.file_name());
    (
        [
            (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.wordprocessingml.document".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}

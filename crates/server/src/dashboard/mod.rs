//! The dashboard for leaders and health officers: pages rendered on the server (minijinja
//! templates embedded in the binary) and served by `tonghop serve` beside the API. No inline
//! script or style: every page is sent with `Content-Security-Policy: default-src 'self'` and loads
//! nothing from another host (the one script, the trend chart's, and its library are served here).
//! Vietnamese text, numbers written the Vietnamese way.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | → the overview (or the sign-in form) |
//! | `GET /dang-nhap`, `POST /dang-nhap` | sign-in: a tonghop token, or a PostgreSQL user's name and password (an analyst), for a session cookie (see [`session`]) |
//! | `POST /dang-xuat` | sign-out |
//! | `GET /tong-quan?epoch&unit&period&indicator&sort&view` | one unit: a card per indicator, the map of provinces (nationally), its units one level down (table and ranked bars) |
//! | `GET /tong-quan/csv?…&part=cards\|units` | the page's two tables, exactly as shown, as CSV |
//! | `GET /xu-huong?…` (and `/csv`) | trends: the unit's indicator over time, with last year's line and the target |
//! | `GET /bao-cao?…` (and `/csv?part=units\|missing\|issues`) | reporting: completeness and timeliness, communes that missed a report, data-quality findings |
//! | `GET /static/{file}` | the stylesheet (screen and print), the trend chart's script and the vendored uPlot |
//!
//! Who sees what: analysts and admins every unit of both epochs; a province, district or
//! commune token its own unit and the units inside it, in its own epoch. A page of another unit is
//! refused (403), however its address was reached, and the refusal is audited.

mod boundaries;
mod data;
mod format;
mod map;
mod overview;
mod reporting;
mod select;
mod session;
mod trends;

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use minijinja::{context, Environment, Value};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Caller, Lookup, Role, UserLookup};
use crate::service::Service;
use session::{Sessions, Who};

/// The policy sent with every page: nothing from another host, no inline script or style.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The pages' templates (minijinja), embedded in the binary.
const TEMPLATES: [(&str, &str); 7] = [
    ("base.html", include_str!("templates/base.html")),
    ("filters.html", include_str!("templates/filters.html")),
    ("login.html", include_str!("templates/login.html")),
    ("message.html", include_str!("templates/message.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("trends.html", include_str!("templates/trends.html")),
    ("reporting.html", include_str!("templates/reporting.html")),
];

/// The files under `/static/`: (name, content type, bytes). uPlot is vendored (see
/// `static/vendor/uplot/VENDOR.md`).
const ASSETS: [(&str, &str, &str); 4] = [
    ("app.css", "text/css; charset=utf-8", include_str!("static/app.css")),
    ("trend.js", "text/javascript; charset=utf-8", include_str!("static/trend.js")),
    ("uPlot.iife.min.js", "text/javascript; charset=utf-8", include_str!("static/vendor/uplot/uPlot.iife.min.js")),
    ("uPlot.min.css", "text/css; charset=utf-8", include_str!("static/vendor/uplot/uPlot.min.css")),
];

struct Dashboard {
    service: Arc<Service>,
    /// The configured boundary file, drawn instead of the tile grid.
    boundaries: Option<boundaries::Boundaries>,
    sessions: Sessions,
    templates: Environment<'static>,
    /// Cookies are `Secure` when the service speaks HTTPS.
    secure: bool,
    /// The last build's state, as read for the SQL session it was read with.
    build_state: std::sync::Mutex<Option<BuildStateOf>>,
}

/// A build state and the SQL session it was read for.
type BuildStateOf = (std::sync::Weak<tonghop_engine::Engine>, Option<Arc<tonghop_engine::refresh::BuildState>>);

/// The dashboard's router (merged into the API's by [`crate::http::router`]); a configured
/// boundary file with problems stops it, naming them all.
pub fn router(service: Arc<Service>) -> crate::Result<Router> {
    let mut templates = Environment::new();
    for (name, source) in TEMPLATES {
        templates.add_template(name, source).expect("the dashboard's templates parse (checked by its tests)");
    }
    let boundaries =
        load_boundaries(&service.config.dashboard, service.project.root(), &service.registry).map_err(|problems| crate::Error::Config(problems.into()))?;
    let dashboard = Arc::new(Dashboard {
        boundaries,
        sessions: Sessions::new(std::time::Duration::from_secs(service.config.dashboard.session_hours.max(1) * 3600)),
        secure: service.config.http.tls_cert.is_some(),
        build_state: std::sync::Mutex::new(None),
        service,
        templates,
    });
    Ok(Router::new()
        .route("/", get(home))
        .route("/dang-nhap", get(login_form).post(login))
        .route("/dang-xuat", post(logout))
        .route("/tong-quan", get(overview::overview))
        .route("/tong-quan/csv", get(overview::overview_csv))
        .route("/xu-huong", get(trends::trends))
        .route("/xu-huong/csv", get(trends::trends_csv))
        .route("/bao-cao", get(reporting::reporting))
        .route("/bao-cao/csv", get(reporting::reporting_csv))
        .route("/static/{file}", get(asset))
        .layer(axum::middleware::map_response(page_headers))
        .with_state(dashboard))
}

/// The configured boundary file, read and checked (none when there is none); every problem at once.
fn load_boundaries(
    config: &crate::config::DashboardConfig,
    project_root: &std::path::Path,
    registry: &tonghop_core::UnitRegistry,
) -> Result<Option<boundaries::Boundaries>, Vec<String>> {
    let Some(path) = &config.boundaries else { return Ok(None) };
    let path = project_root.join(path);
    let loaded = boundaries::Boundaries::load(&path, &config.boundary_code_property, registry)?;
    tracing::info!(file = %path.display(), "dashboard: the map draws the configured boundaries");
    Ok(Some(loaded))
}

/// The problems of the configured boundary file (`[dashboard] boundaries`), as `tonghop validate
/// --config` reports them before a start would.
pub fn boundary_problems(config: &crate::config::DashboardConfig, project_root: &std::path::Path, registry: &tonghop_core::UnitRegistry) -> Vec<String> {
    load_boundaries(config, project_root, registry).err().unwrap_or_default()
}

async fn page_headers(mut response: Response) -> Response {
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=3600")], *body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The client's address, when the server gave it (for the audit trail and the login throttle).
struct Client(Option<String>);

impl FromRequestParts<Arc<Dashboard>> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, d: &Arc<Dashboard>) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| crate::throttle::client_address(c.0.ip(), &parts.headers, &d.service.trusted_proxies).to_string()),
        ))
    }
}

/// Who is looking, from the session cookie; none sends the browser to the sign-in form.
struct Viewer {
    caller: Caller,
    /// Who, as the audit trail names them: `token:NAME` or `pg:USER`.
    actor: String,
    session_id: String,
    csrf: String,
    client: Option<String>,
}

impl FromRequestParts<Arc<Dashboard>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, d: &Arc<Dashboard>) -> Result<Self, Response> {
        let Client(client) = Client::from_request_parts(parts, d).await.unwrap_or(Client(None));
        let to_login = || {
            let next = parts.uri.path_and_query().map_or("/tong-quan", |p| p.as_str());
            let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
            Redirect::to(&format!("/dang-nhap?next={next}")).into_response()
        };
        let Some(id) = session::cookie(&parts.headers, session::COOKIE) else { return Err(to_login()) };
        let Some(s) = d.sessions.get(id) else { return Err(to_login()) };
        let (access, now) = (d.service.access(), chrono::Utc::now());
        let found = match &s.who {
            Who::Token(hash) => match access.tokens.lookup_hash(hash, now) {
                Lookup::Valid(caller) => Some((caller.clone(), caller.submitted_by())),
                _ => None,
            },
            // PostgreSQL users are analysts.
            Who::User(name) => match access.user(name, now) {
                UserLookup::Valid(_) => {
                    Some((Caller { name: name.clone(), role: Role::Analyst, unit: None, agency: None, expires: None }, format!("pg:{name}")))
                }
                _ => None,
            },
        };
        match found {
            Some((caller, actor)) => Ok(Viewer { caller, actor, session_id: id.to_string(), csrf: s.csrf, client }),
            // Revoked, expired or removed since the sign-in: the session ends with the credential.
            None => {
                d.sessions.close(id);
                Err(to_login())
            }
        }
    }
}

impl Dashboard {
    /// The last build's state (its months, its time) as the current SQL session sees it: read once
    /// per session (the service opens a new one when the lake changes), not at every page.
    async fn build_state(&self) -> crate::Result<Option<Arc<tonghop_engine::refresh::BuildState>>> {
        let engine = self.service.engine();
        let same_session = |cached: &BuildStateOf| cached.0.upgrade().is_some_and(|e| Arc::ptr_eq(&e, &engine));
        if let Some(cached) = self.build_state.lock().unwrap_or_else(|e| e.into_inner()).as_ref().filter(|c| same_session(c)) {
            return Ok(cached.1.clone());
        }
        let state = engine.load_state().await?.map(Arc::new);
        *self.build_state.lock().unwrap_or_else(|e| e.into_inner()) = Some((Arc::downgrade(&engine), state.clone()));
        Ok(state)
    }

    fn page(&self, status: StatusCode, template: &str, context: Value) -> Response {
        let rendered = self.templates.get_template(template).and_then(|t| t.render(context));
        match rendered {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template, error = %e, "dashboard: a template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Lỗi hiển thị trang; chi tiết trong nhật ký của dịch vụ.").into_response()
            }
        }
    }

    fn message(&self, status: StatusCode, viewer: Option<&Viewer>, title: &str, text: &str) -> Response {
        let user = viewer.map(user_context);
        self.page(status, "message.html", context! { title, text, user, version => env!("CARGO_PKG_VERSION") })
    }
}

fn user_context(v: &Viewer) -> serde_json::Value {
    let role = match v.caller.role {
        Role::Commune => "xã",
        Role::District => "huyện",
        Role::Province => "tỉnh",
        Role::Agency => "cơ quan",
        Role::Analyst => "phân tích",
        Role::Admin => "quản trị",
    };
    json!({ "name": v.caller.name, "role": role, "csrf": v.csrf })
}

async fn home(headers: HeaderMap) -> Redirect {
    if session::cookie(&headers, session::COOKIE).is_some() {
        Redirect::to("/tong-quan")
    } else {
        Redirect::to("/dang-nhap")
    }
}

#[derive(Deserialize)]
struct NextParam {
    next: Option<String>,
}

/// Only a path of this site (not `//host`, not a scheme) may follow a sign-in.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") && !n.chars().any(char::is_control) => n,
        _ => "/tong-quan",
    }
}

async fn login_form(State(d): State<Arc<Dashboard>>, Query(q): Query<NextParam>) -> Response {
    login_page(&d, StatusCode::OK, safe_next(q.next.as_deref()), None)
}

/// The sign-in form, with a fresh CSRF value in its hidden field and its cookie.
fn login_page(d: &Dashboard, status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let csrf = session::random();
    let mut r = d.page(status, "login.html", context! { title => "Đăng nhập", csrf, next, error, version => env!("CARGO_PKG_VERSION") });
    let cookie = session::set_cookie(session::LOGIN_COOKIE, &csrf, "/dang-nhap", Some(std::time::Duration::from_secs(3600)), d.secure);
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// The sign-in form: a token, or the name and password of a PostgreSQL user of the configuration.
#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

/// The answer to a sign-in that succeeded: the session cookie, and the way on.
fn signed_in(d: &Dashboard, who: Who, actor: &str, role: Role, client: Option<String>, next: &str) -> Response {
    let id = d.sessions.open(who);
    let mut entry = crate::audit::Entry::new(actor, "dashboard", "login");
    entry.role = Some(format!("{role:?}").to_lowercase());
    entry.client = client;
    d.service.audit.record(entry);
    tracing::info!(actor, "dashboard: signed in");
    let mut r = Redirect::to(next).into_response();
    for cookie in [
        session::set_cookie(session::COOKIE, &id, "/", Some(d.sessions.lifetime()), d.secure),
        session::set_cookie(session::LOGIN_COOKIE, "", "/dang-nhap", None, d.secure),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

/// A sign-in with the name and password of a PostgreSQL user (throttled per address and per name,
/// like the PostgreSQL endpoint's logins).
fn user_login(d: &Dashboard, form: &LoginForm, client: Option<String>, next: &str) -> Response {
    let service = &d.service;
    let name = form.user.trim();
    let (address, account) = (client.as_ref().map(|c| format!("ip:{c}")), format!("user:{name}"));
    let keys: Vec<&str> = address.as_deref().into_iter().chain([account.as_str()]).collect();
    if service.throttle.blocked(keys.iter().copied()).is_some() {
        service.metrics.denied("throttled");
        return login_page(d, StatusCode::TOO_MANY_REQUESTS, next, Some("Quá nhiều lần đăng nhập sai; vui lòng thử lại sau ít phút."));
    }
    let access = service.access();
    let actor = format!("pg:{name}");
    match access.user(name, chrono::Utc::now()) {
        UserLookup::Valid(verifier) if verifier.matches_password(&form.password) => {
            signed_in(d, Who::User(name.to_string()), &actor, Role::Analyst, client, next)
        }
        UserLookup::Expired => {
            service.metrics.denied("expired_user");
            service.audit.denied(&actor, "dashboard", "POST /dang-nhap", "expired user", client.as_deref());
            login_page(d, StatusCode::UNAUTHORIZED, next, Some("Tài khoản đã hết hạn; vui lòng đề nghị quản trị hệ thống gia hạn."))
        }
        found => {
            if matches!(found, UserLookup::Unknown) {
                // As long as a wrong password takes, so that the answer's time does not say which names exist.
                let _ = crate::scram::Verifier::new(&form.password, b"tonghop-no-such-user", crate::scram::ITERATIONS);
            }
            service.metrics.denied("wrong_password");
            service.audit.denied(&actor, "dashboard", "POST /dang-nhap", "wrong password or unknown user", client.as_deref());
            service.throttle.failed(keys.iter().copied());
            login_page(d, StatusCode::UNAUTHORIZED, next, Some("Tên đăng nhập hoặc mật khẩu không đúng."))
        }
    }
}

async fn login(State(d): State<Arc<Dashboard>>, Client(client): Client, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let next = safe_next(Some(&form.next)).to_string();
    let service = &d.service;
    let address = client.as_ref().map(|c| format!("ip:{c}"));
    if address.as_deref().and_then(|a| service.throttle.blocked([a])).is_some() {
        service.metrics.denied("throttled");
        return login_page(&d, StatusCode::TOO_MANY_REQUESTS, &next, Some("Quá nhiều lần đăng nhập sai từ địa chỉ này; vui lòng thử lại sau ít phút."));
    }
    if !session::cookie(&headers, session::LOGIN_COOKIE).is_some_and(|c| session::same(c, &form.csrf)) {
        return login_page(&d, StatusCode::FORBIDDEN, &next, Some("Biểu mẫu đăng nhập đã hết hạn; vui lòng nhập lại."));
    }
    if !form.user.trim().is_empty() {
        return user_login(&d, &form, client, &next);
    }
    let token = form.token.trim();
    let hash = crate::auth::hash_token(token);
    let access = service.access();
    match access.tokens.lookup_hash(&hash, chrono::Utc::now()) {
        Lookup::Valid(caller) => signed_in(&d, Who::Token(hash), &caller.submitted_by(), caller.role, client, &next),
        Lookup::Expired(caller) => {
            service.metrics.denied("expired_token");
            service.audit.denied(&caller.submitted_by(), "dashboard", "POST /dang-nhap", "expired token", client.as_deref());
            login_page(&d, StatusCode::UNAUTHORIZED, &next, Some("Mã truy cập đã hết hạn; vui lòng đề nghị quản trị hệ thống cấp mã mới."))
        }
        Lookup::Unknown => {
            service.metrics.denied("unknown_token");
            service.audit.denied("anonymous", "dashboard", "POST /dang-nhap", "unknown token", client.as_deref());
            if let Some(a) = address.as_deref() {
                service.throttle.failed([a]);
            }
            login_page(&d, StatusCode::UNAUTHORIZED, &next, Some("Mã truy cập không đúng."))
        }
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: String,
}

async fn logout(State(d): State<Arc<Dashboard>>, viewer: Viewer, Form(form): Form<LogoutForm>) -> Response {
    if !session::same(&form.csrf, &viewer.csrf) {
        return d.message(StatusCode::FORBIDDEN, Some(&viewer), "Không thực hiện được", "Yêu cầu đăng xuất không hợp lệ; vui lòng tải lại trang rồi thử lại.");
    }
    d.sessions.close(&viewer.session_id);
    let mut entry = crate::audit::Entry::new(viewer.actor.clone(), "dashboard", "logout");
    entry.client = viewer.client;
    d.service.audit.record(entry);
    let mut r = Redirect::to("/dang-nhap").into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(session::COOKIE, "", "/", None, d.secure)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_templates_parse() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap();
        }
        let html = env.get_template("message.html").unwrap().render(context! { title => "<Tiêu đề>", text => "Nội dung", version => "0" }).unwrap();
        assert!(html.contains("&lt;Tiêu đề&gt;"), "escaped: {html}");
    }

    #[test]
    fn only_paths_of_this_site_follow_a_sign_in() {
        assert_eq!(safe_next(Some("/tong-quan?unit=04")), "/tong-quan?unit=04");
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil.example", "tong-quan", "", "/a\r\nSet-Cookie: x=1", "/a\u{1}"] {
            assert_eq!(safe_next(Some(bad)), "/tong-quan", "{bad}");
        }
    }

    #[test]
    fn vendored_files_match_vendor_md() {
        use sha2::{Digest, Sha256};
        let vendor = include_str!("static/vendor/uplot/VENDOR.md");
        for (name, _, body) in ASSETS.iter().filter(|(name, _, _)| name.starts_with("uPlot")) {
            let sum = hex::encode(Sha256::digest(body.as_bytes()));
            let line = vendor.lines().find(|l| l.contains(&format!("`{name}`"))).unwrap_or_else(|| panic!("{name} is not in VENDOR.md"));
            assert!(line.contains(&sum), "{name}: sha256 {sum} is not the one VENDOR.md gives: {line}");
            let digits = body.len().to_string();
            let size: String =
                digits.chars().enumerate().flat_map(|(i, c)| (i > 0 && (digits.len() - i).is_multiple_of(3)).then_some(',').into_iter().chain([c])).collect();
            assert!(line.contains(&size), "{name}: {size} bytes is not the size VENDOR.md gives: {line}");
        }
    }
}

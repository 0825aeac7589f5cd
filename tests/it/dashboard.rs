//! The dashboard in a real browser: headless Chromium driven through chromedriver (fantoccini)
//! against `tonghop serve` on port 0, over the lake of province 04 (July 2025 to March 2026).
//! Every figure the pages show is compared with the same rows read through `POST /sql`.
//!
//! `TONGHOP_SCREENSHOTS=<folder>` also writes screenshots of the overview, a province page and
//! the print view (PDF) there, for a person to look at.

use std::collections::BTreeMap;
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::helpers::{config_path, make_token, pg_user, q1_demo_lake, repo_root, serve, tonghop_command, Browser, Served};

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(120)).build().unwrap()
}

async fn sql(server: &Served, token: &str, query: &str) -> Vec<Value> {
    let r = http().post(format!("{}/sql", server.http)).bearer_auth(token).body(query.to_string()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.json::<Value>().await.unwrap().as_array().cloned().unwrap_or_default()
}

/// A value as the pages write it: one decimal, a decimal comma, ` %`.
fn percent(v: &Value) -> String {
    match v.as_f64() {
        None => "—".into(),
        Some(x) => format!("{:.1} %", (x * 10.0).round() / 10.0).replace('.', ","),
    }
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).text().await.unwrap()
}

async fn sign_in(c: &Client, server: &Served, token: &str) {
    c.goto(&format!("{}/tong-quan", server.http)).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/dang-nhap"), "a visitor is sent to the sign-in form");
    c.find(Locator::Css("#token")).await.unwrap().send_keys(token).await.unwrap();
    c.find(Locator::Css("section.login button[type=submit]")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#heading")).await.unwrap();
}

/// Waits up to 30 s for the browser's address to satisfy `ok`.
async fn wait_url(c: &Client, ok: impl Fn(&str) -> bool) {
    for _ in 0..300 {
        if ok(c.current_url().await.unwrap().as_str()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser stayed at {}", c.current_url().await.unwrap());
}

/// The selected value of a `<select>`.
async fn selected(c: &Client, id: &str) -> String {
    c.find(Locator::Css(&format!("#{id}"))).await.unwrap().prop("value").await.unwrap().unwrap_or_default()
}

/// The cards' values by indicator.
async fn cards(c: &Client) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for card in c.find_all(Locator::Css("article.card")).await.unwrap() {
        let indicator = card.attr("data-indicator").await.unwrap().unwrap();
        out.insert(indicator, card.find(Locator::Css(".value")).await.unwrap().text().await.unwrap());
    }
    out
}

fn expected_cards(rows: &[Value]) -> BTreeMap<String, String> {
    rows.iter().map(|r| (r["indicator"].as_str().unwrap().to_string(), percent(&r["value"]))).collect()
}

/// Every resource the page loaded came from the server.
async fn loaded_only_from(c: &Client, origin: &str) {
    let names = c
        .execute("return [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map(e => e.name)", vec![])
        .await
        .unwrap();
    let names: Vec<String> = serde_json::from_value(names).unwrap();
    assert!(!names.is_empty());
    for n in &names {
        assert!(n.starts_with(origin), "the page loaded {n} from outside {origin}");
    }
}

async fn screenshot(c: &Client, name: &str) {
    if let Some(dir) = std::env::var_os("TONGHOP_SCREENSHOTS") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), c.screenshot().await.unwrap()).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn leaders_read_the_overview_drill_down_switch_periods_and_download_what_they_see() {
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let (analyst, analyst_entry) = make_token(&lake, "lanh-dao", "analyst", None);
    let (officer, officer_entry) = make_token(&lake, "so-y-te-cao-bang", "province", Some("post2025:04"));
    let server =
        serve(&lake, &format!("[postgres]\nenabled = false\n[scheduler]\nenabled = false\n[audit]\nflush_seconds = 1\n\n{analyst_entry}\n{officer_entry}"));
    let browser = Browser::start().await;
    let c = &browser.client;

    // The overview of the nation, after signing in.
    sign_in(c, &server, &analyst).await;
    let period = selected(c, "period").await;
    assert_eq!(period, "2026YTD03", "the default period is the year to date of the last month built");
    assert_eq!(text(c, "#heading").await, "Toàn quốc — Từ tháng 1 đến tháng 3 năm 2026");
    let rows = sql(
        &server,
        &analyst,
        &format!("SELECT indicator, value FROM indicator_values WHERE epoch = 'post2025' AND level = 'national' AND period = '{period}'"),
    )
    .await;
    assert_eq!(rows.len(), 12, "one row per indicator");
    assert_eq!(cards(c).await, expected_cards(&rows), "the cards show indicator_values");
    assert!(text(c, "#filters-line").await.contains("Số liệu tổng hợp lúc: "), "the date of the data is written on the page");
    let map = c.find(Locator::Css("svg.tile-map")).await.unwrap().html(false).await.unwrap();
    assert!(map.contains("QĐ Hoàng Sa (TP Đà Nẵng)") && map.contains("QĐ Trường Sa (Khánh Hòa)"), "the archipelagos are on the map");
    assert_eq!(c.find_all(Locator::Css("svg.tile-map a.tile")).await.unwrap().len(), 36, "34 provinces and 2 archipelagos, each a link");
    loaded_only_from(c, &server.http).await;
    screenshot(c, "overview.png").await;

    // The tile of province 04 leads to its communes.
    c.find(Locator::Css("svg.tile-map a.tile[data-code='04']:not(.archipelago)")).await.unwrap().click().await.unwrap();
    wait_url(c, |u| u.contains("unit=04")).await;
    assert_eq!(text(c, "#heading").await, "Tỉnh Cao Bằng — Từ tháng 1 đến tháng 3 năm 2026");
    let communes = sql(
        &server,
        &analyst,
        &format!("SELECT unit_code, value FROM indicator_values WHERE epoch = 'post2025' AND level = 'commune' AND province_code = '04' AND indicator = 'BHYT_BAO_PHU' AND period = '{period}' ORDER BY unit_code"),
    )
    .await;
    let shown = c.find_all(Locator::Css("#units-table tbody tr[data-code]")).await.unwrap();
    assert_eq!(shown.len(), communes.len(), "one row per commune of the province");
    assert!(communes.len() > 10);
    for (tr, row) in shown.iter().zip(&communes) {
        assert_eq!(tr.attr("data-code").await.unwrap().as_deref(), row["unit_code"].as_str());
        assert_eq!(tr.find(Locator::Css("td.value")).await.unwrap().text().await.unwrap(), percent(&row["value"]));
    }
    // Sorted by value, highest first, when asked (twice on the header).
    c.find(Locator::Css("#sort-value")).await.unwrap().click().await.unwrap();
    wait_url(c, |u| u.contains("sort=value")).await;
    c.find(Locator::Css("#sort-value")).await.unwrap().click().await.unwrap();
    wait_url(c, |u| u.contains("sort=-value")).await;
    let mut by_value: Vec<f64> = communes.iter().filter_map(|r| r["value"].as_f64()).collect();
    by_value.sort_by(|a, b| b.partial_cmp(a).unwrap());
    let first = c.find(Locator::Css("#units-table tbody tr[data-code] td.value")).await.unwrap().text().await.unwrap();
    assert_eq!(first, percent(&Value::from(by_value[0])));
    assert!(c.find(Locator::Css("svg.bars")).await.is_ok(), "ranked bars");
    screenshot(c, "province.png").await;

    // Another period, picked in the form.
    c.find(Locator::Css("#period")).await.unwrap().select_by_value("2026Q1").await.unwrap();
    c.find(Locator::Css("#apply")).await.unwrap().click().await.unwrap();
    wait_url(c, |u| u.contains("period=2026Q1")).await;
    assert_eq!(text(c, "#heading").await, "Tỉnh Cao Bằng — Quý I năm 2026");
    let rows = sql(
        &server,
        &analyst,
        "SELECT indicator, value FROM indicator_values WHERE epoch = 'post2025' AND level = 'province' AND unit_code = '04' AND period = '2026Q1'",
    )
    .await;
    assert_eq!(cards(c).await, expected_cards(&rows));

    // The same as a table, and as CSV: exactly the rows shown, unrounded.
    c.find(Locator::Css("#show-table")).await.unwrap().click().await.unwrap();
    let table = c.find_all(Locator::Css("#cards-table tbody tr")).await.unwrap();
    assert_eq!(table.len(), rows.len());
    let session = c.get_named_cookie("tonghop_session").await.unwrap();
    let cookie = format!("tonghop_session={}", session.value());
    let href = c.find(Locator::Css("#csv-units")).await.unwrap().attr("href").await.unwrap().unwrap();
    let r = http().get(format!("{}{href}", server.http)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains(".csv"));
    let body = r.text().await.unwrap();
    let mut csv = csv::ReaderBuilder::new().from_reader(body.trim_start_matches('\u{feff}').as_bytes());
    assert_eq!(&csv.headers().unwrap()[0], "Mã đơn vị");
    let downloaded: Vec<(String, Option<f64>)> = csv.records().map(|r| r.unwrap()).map(|r| (r[0].to_string(), r[2].parse().ok())).collect();
    let communes = sql(
        &server,
        &analyst,
        "SELECT unit_code, value FROM indicator_values WHERE epoch = 'post2025' AND level = 'commune' AND province_code = '04' AND indicator = 'BHYT_BAO_PHU' AND period = '2026Q1' ORDER BY value DESC NULLS LAST, unit_code",
    )
    .await;
    let expected: Vec<(String, Option<f64>)> = communes.iter().map(|r| (r["unit_code"].as_str().unwrap().to_string(), r["value"].as_f64())).collect();
    // In the order the page shows (by value, highest first), unrounded: equal to the last bit but
    // for serde_json's parsing of the SQL answer (without `float_roundtrip`, off by one ulp at times).
    assert_eq!(downloaded.len(), expected.len());
    for (got, want) in downloaded.iter().zip(&expected) {
        assert_eq!(got.0, want.0, "{downloaded:?}");
        match (got.1, want.1) {
            (Some(a), Some(b)) => assert!((a - b).abs() <= 1e-12 * b.abs(), "{}: {a} ≠ {b}", got.0),
            (a, b) => assert_eq!(a, b, "{}", got.0),
        }
    }

    // The print view: A4, with the unit, period and date of the data written on it, no buttons.
    let pdf = c.print(fantoccini::wd::PrintConfiguration::builder().size(fantoccini::wd::PrintSize::A4).background(true).build().unwrap()).await.unwrap();
    let pdf_path = dir.path().join("print.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let info = std::process::Command::new("pdfinfo").arg(&pdf_path).output().expect("pdfinfo (Debian's poppler-utils)");
    assert!(String::from_utf8_lossy(&info.stdout).contains("(A4)"), "{}", String::from_utf8_lossy(&info.stdout));
    let printed = std::process::Command::new("pdftotext").args([pdf_path.to_str().unwrap(), "-"]).output().unwrap();
    let printed = String::from_utf8(printed.stdout).unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        printed.contains("Đơn vị: Tỉnh Cao Bằng") && printed.contains("Kỳ báo cáo: Quý I năm 2026") && printed.contains("Số liệu tổng hợp lúc"),
        "{printed}"
    );
    assert!(!printed.contains("Đăng xuất") && !printed.contains("Tải CSV"), "the print view has no buttons: {printed}");
    if let Some(out) = std::env::var_os("TONGHOP_SCREENSHOTS") {
        std::fs::write(std::path::Path::new(&out).join("print.pdf"), &pdf).unwrap();
    }
    loaded_only_from(c, &server.http).await;

    // Signing out ends the session.
    c.find(Locator::Css("form.logout button")).await.unwrap().click().await.unwrap();
    wait_url(c, |u| u.ends_with("/dang-nhap")).await;
    let r = http().get(format!("{}/tong-quan", server.http)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303, "the old cookie no longer opens a page");

    // A province officer sees the province and its communes, nothing else: not by link, not by URL.
    c.delete_all_cookies().await.unwrap();
    sign_in(c, &server, &officer).await;
    assert!(text(c, "#heading").await.starts_with("Tỉnh Cao Bằng"), "the officer lands on the province");
    assert_eq!(c.find_all(Locator::Css("#unit option")).await.unwrap().len(), 1, "the unit picker offers only the province");
    c.find(Locator::Css("#units-table tbody tr[data-code] a")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#heading")).await.unwrap();
    assert!(c.find(Locator::Css("article.card")).await.is_ok(), "a commune of the province opens");
    c.find(Locator::Css("nav.breadcrumb a")).await.unwrap().click().await.unwrap(); // Toàn quốc
    c.wait().for_element(Locator::Css("section.message h1")).await.unwrap();
    assert_eq!(text(c, "section.message h1").await, "Không có quyền xem");
    for forbidden in ["unit=01", "unit=VN", "epoch=pre2025", "unit=00004"] {
        c.goto(&format!("{}/tong-quan?{forbidden}", server.http)).await.unwrap();
        assert_eq!(text(c, "section.message h1").await, "Không có quyền xem", "{forbidden}");
    }
    let officer_cookie = format!("tonghop_session={}", c.get_named_cookie("tonghop_session").await.unwrap().value());
    let r = http().get(format!("{}/tong-quan/csv?unit=01&part=units", server.http)).header("cookie", &officer_cookie).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "nor as CSV");
    browser.close().await;

    // Headers of every page: the content policy, no caching.
    let r = http().get(format!("{}/tong-quan", server.http)).header("cookie", &officer_cookie).send().await.unwrap();
    assert!(r.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    assert!(!page.contains("<script") && !page.contains(" style="), "no script, no inline style");
    assert!(page.len() < 1_500_000);
    // What the officer tried is in the audit trail.
    let seen = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(200));
        let rows = crate::helpers::sql_rows(
            &lake,
            "SELECT count(*) FROM lake.audit WHERE endpoint = 'dashboard' AND actor = 'token:so-y-te-cao-bang' AND outcome = 'denied'",
        );
        rows.first().and_then(|r| r.first()).and_then(|n| n.parse::<u32>().ok()).unwrap_or(0) >= 5
    });
    assert!(seen, "the refused pages are audited");
}

/// The sign-in form over plain HTTP: its CSRF cookie (`tonghop_login=…`), the whole `Set-Cookie`
/// value, the page, and the CSRF value in its hidden field.
async fn login_form(server: &Served) -> (String, String, String, String) {
    let form = http().get(format!("{}/dang-nhap", server.http)).send().await.unwrap();
    let set_cookie = form.headers()["set-cookie"].to_str().unwrap().to_string();
    let login_cookie = set_cookie.split(';').next().unwrap().to_string();
    let page = form.text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    (login_cookie, set_cookie, page, csrf)
}

/// The session cookie (`tonghop_session=…`) a sign-in answer sets.
fn session_cookie(answer: &reqwest::Response) -> String {
    let cookie = answer.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).find(|c| c.starts_with("tonghop_session=")).unwrap();
    cookie.split(';').next().unwrap().to_string()
}

/// Signs in through the form with plain HTTP; the session cookie (`tonghop_session=…`).
async fn sign_in_http(server: &Served, token: &str) -> String {
    let (login_cookie, _, _, csrf) = login_form(server).await;
    let r = http().post(format!("{}/dang-nhap", server.http)).header("cookie", login_cookie).form(&[("token", token), ("csrf", &csrf)]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    session_cookie(&r)
}

/// A GeoJSON of squares, one per post-2025 province but `leave_out`, with a part of 48 and 56 in
/// their archipelagos' areas when `archipelagos`.
fn squares(leave_out: &[&str], archipelagos: bool) -> String {
    let list = std::fs::read_to_string(repo_root().join("reference/admin-units/post2025/provinces_34_2025-07-01.csv")).unwrap();
    let square = |lon: f64, lat: f64, size: f64| serde_json::json!([[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]]);
    let features: Vec<Value> = list
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .filter(|c| !leave_out.contains(&c.as_str()))
        .enumerate()
        .map(|(i, code)| {
            let mut parts = vec![square(103.0 + (i % 5) as f64, 22.0 - (i / 5) as f64 * 2.0, 0.9)];
            match code.as_str() {
                "48" if archipelagos => parts.push(square(112.0, 16.5, 0.2)),
                "56" if archipelagos => parts.push(square(114.0, 9.0, 0.2)),
                _ => {}
            }
            serde_json::json!({ "type": "Feature", "properties": { "code": code }, "geometry": { "type": "MultiPolygon", "coordinates": parts } })
        })
        .collect();
    serde_json::json!({ "type": "FeatureCollection", "features": features }).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_configured_boundary_file_replaces_the_grid_and_a_wrong_one_stops_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let (analyst, entry) = make_token(&lake, "lanh-dao", "analyst", None);
    let good = dir.path().join("vn.geojson");
    std::fs::write(&good, squares(&[], true)).unwrap();
    let server =
        serve(&lake, &format!("[postgres]\nenabled = false\n[scheduler]\nenabled = false\n[dashboard]\nboundaries = \"{}\"\n\n{entry}", good.display()));
    let cookie = sign_in_http(&server, &analyst).await;
    let page = http().get(format!("{}/tong-quan", server.http)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    let map = &page[page.find("<svg class=\"boundary-map\"").expect("the boundary map")..];
    let map = &map[..map.find("</svg>").unwrap()];
    assert_eq!(map.matches("<a href=").count(), 34, "a linked shape per province");
    assert!(map.contains("data-code=\"04\"") && map.contains("QĐ Hoàng Sa (TP Đà Nẵng)") && map.contains("QĐ Trường Sa (Khánh Hòa)"));
    assert!(!page.contains("tile-map"), "instead of the grid");
    drop(server);

    // A file without Hà Nội and without the archipelagos: the service does not start, and says why.
    let bad = dir.path().join("bad.geojson");
    std::fs::write(&bad, squares(&["01"], false)).unwrap();
    let config = config_path(&lake);
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[postgres]\nenabled = false\n[scheduler]\nenabled = false\n[dashboard]\nboundaries = \"{}\"\n",
            bad.display()
        ),
    )
    .unwrap();
    // `tonghop validate --config` says the same before a start would.
    for command in ["serve", "validate"] {
        let out = tonghop_command(&lake, &[command, "--config", config.to_str().unwrap()]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{command}");
        for expected in ["01 Hà Nội", "province 48 has no part in the area of QĐ Hoàng Sa", "province 56 has no part in the area of QĐ Trường Sa"] {
            assert!(stderr.contains(expected), "{command}: {expected:?} not in: {stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_user_signs_in_with_a_password_and_is_signed_out_when_removed() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let user = pg_user(&lake, "bi", "mật-khẩu-dài");
    let server = serve(&lake, &format!("[postgres]\nenabled = false\n[scheduler]\nenabled = false\n[audit]\nflush_seconds = 1\n\n{user}"));
    let (login_cookie, _, page, csrf) = login_form(&server).await;
    assert!(page.contains("id=\"user-form\""));
    let post = |user: &str, password: &str| {
        http()
            .post(format!("{}/dang-nhap", server.http))
            .header("cookie", login_cookie.clone())
            .form(&[("user", user), ("password", password), ("csrf", &csrf)])
            .send()
    };
    for (name, password) in [("bi", "sai"), ("khong-co", "mật-khẩu-dài")] {
        let r = post(name, password).await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{name}");
        assert!(r.text().await.unwrap().contains("Tên đăng nhập hoặc mật khẩu không đúng."));
    }
    let r = post("bi", "mật-khẩu-dài").await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let session = session_cookie(&r);
    let r = http().get(format!("{}/tong-quan", server.http)).header("cookie", &session).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "signed in (an analyst: the nation is open to them)");
    assert!(r.text().await.unwrap().contains("bi · phân tích"));

    // The user removed from the configuration: the session ends within seconds.
    let path = config_path(&lake);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(user.trim(), "")).unwrap();
    let mut ended = false;
    for _ in 0..100 {
        let r = http().get(format!("{}/tong-quan", server.http)).header("cookie", &session).send().await.unwrap();
        if r.status().as_u16() == 303 {
            ended = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ended, "the removed user's session still opens pages after 10 s");
    // The sign-in and the refusals are in the audit trail, under the user's name, never the password.
    let seen = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(200));
        let rows = crate::helpers::sql_rows(&lake, "SELECT action, outcome, detail FROM lake.audit WHERE endpoint = 'dashboard' AND actor = 'pg:bi'");
        rows.iter().any(|r| r[0] == "login") && rows.iter().any(|r| r[1] == "denied")
    });
    assert!(seen, "the sign-in and the wrong password are audited");
    let everything = format!("{:?}", crate::helpers::sql_rows(&lake, "SELECT * FROM lake.audit"));
    assert!(!everything.contains("mật-khẩu-dài") && !everything.contains("\"sai\""), "no password in the audit trail");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_or_a_forged_form_does_not_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let (analyst, entry) = make_token(&lake, "lanh-dao", "analyst", None);
    let server = serve(&lake, &format!("[postgres]\nenabled = false\n[scheduler]\nenabled = false\n\n{entry}"));
    let client = http();
    let (login_cookie, set_cookie, _, csrf) = login_form(&server).await;
    assert!(set_cookie.contains("HttpOnly; SameSite=Strict"));
    let post = |token: &str, csrf: &str, cookie: &str| {
        client
            .post(format!("{}/dang-nhap", server.http))
            .header("cookie", cookie.to_string())
            .form(&[("token", token), ("csrf", csrf), ("next", "//evil.example/")])
            .send()
    };
    let r = post("th_wrong", &csrf, &login_cookie).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.text().await.unwrap().contains("Mã truy cập không đúng."));
    let r = post(&analyst, "forged", &login_cookie).await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "a form not from this site's page");
    let r = post(&analyst, &csrf, "").await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "no sign-in cookie");
    let r = post(&analyst, &csrf, &login_cookie).await.unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/tong-quan", "never sent to another site after signing in");
    let cookies: Vec<&str> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(cookies.iter().any(|c| c.starts_with("tonghop_session=") && c.contains("HttpOnly") && c.contains("SameSite=Strict")), "{cookies:?}");
    // A lake with no build yet says so, in Vietnamese.
    let session = session_cookie(&r);
    let page = client.get(format!("{}/tong-quan", server.http)).header("cookie", session).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Chưa có số liệu"), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn trends_draw_the_series_and_reporting_shows_completeness_and_who_has_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let (analyst, entry) = make_token(&lake, "lanh-dao", "analyst", None);
    let server = serve(&lake, &format!("[postgres]\nenabled = false\n[scheduler]\nenabled = false\n\n{entry}"));
    let browser = Browser::start().await;
    let c = &browser.client;
    sign_in(c, &server, &analyst).await;

    // Trends: the province's quarters, each equal to indicator_values, drawn by the vendored uPlot.
    c.goto(&format!("{}/tong-quan?unit=04&period=2026Q1&indicator=QLSK_BAO_PHU", server.http)).await.unwrap();
    c.find(Locator::Css("#tab-trends")).await.unwrap().click().await.unwrap();
    wait_url(c, |u| u.contains("/xu-huong")).await;
    assert!(text(c, "#heading").await.starts_with("Xu hướng: Tỷ lệ dân số được quản lý sức khỏe — Tỉnh Cao Bằng"));
    let quarters = sql(
        &server,
        &analyst,
        "SELECT period, value, value_previous_year FROM indicator_values WHERE epoch = 'post2025' AND level = 'province' AND unit_code = '04' AND indicator = 'QLSK_BAO_PHU' AND period_type = 'quarter' ORDER BY period",
    )
    .await;
    assert_eq!(quarters.iter().map(|r| r["period"].as_str().unwrap()).collect::<Vec<_>>(), ["2025Q3", "2025Q4", "2026Q1"]);
    let shown = c.find_all(Locator::Css("#trend-table tbody tr td.value")).await.unwrap();
    assert_eq!(shown.len(), quarters.len());
    for (td, row) in shown.iter().zip(&quarters) {
        assert_eq!(td.text().await.unwrap(), percent(&row["value"]));
    }
    c.wait().for_element(Locator::Css("#trend-chart[data-drawn='true'] canvas")).await.expect("uPlot drew the chart under the content policy");
    loaded_only_from(c, &server.http).await;
    screenshot(c, "trends.png").await;
    let session = format!("tonghop_session={}", c.get_named_cookie("tonghop_session").await.unwrap().value());
    let href = c.find(Locator::Css("#csv-trend")).await.unwrap().attr("href").await.unwrap().unwrap();
    let body = http().get(format!("{}{href}", server.http)).header("cookie", &session).send().await.unwrap().text().await.unwrap();
    let mut csv = csv::ReaderBuilder::new().from_reader(body.trim_start_matches('\u{feff}').as_bytes());
    let periods: Vec<String> = csv.records().map(|r| r.unwrap()[0].to_string()).collect();
    assert_eq!(periods, ["2025Q3", "2025Q4", "2026Q1"]);

    // Reporting: the province's completeness, its communes, and who has not reported, as in the models.
    c.find(Locator::Css("#tab-reporting")).await.unwrap().click().await.unwrap();
    wait_url(c, |u| u.contains("/bao-cao")).await;
    let own = sql(
        &server,
        &analyst,
        "SELECT completeness_pct, timeliness_pct, reports_missing FROM completeness WHERE epoch = 'post2025' AND period = '2026Q1' AND level = 'province' AND unit_code = '04'",
    )
    .await;
    assert_eq!(text(c, "#own-completeness .value").await, percent(&own[0]["completeness_pct"]));
    assert_eq!(text(c, "#own-timeliness .value").await, percent(&own[0]["timeliness_pct"]));
    let communes = sql(
        &server,
        &analyst,
        "SELECT c.unit_code, c.reports_missing FROM completeness c JOIN units u ON u.epoch = c.epoch AND u.level = c.level AND u.code = c.unit_code \
         WHERE c.epoch = 'post2025' AND c.period = '2026Q1' AND u.parent_code = '04' ORDER BY c.unit_code",
    )
    .await;
    assert_eq!(c.find_all(Locator::Css("#units-table tbody tr[data-code]")).await.unwrap().len(), communes.len());
    assert_eq!(communes.len(), 56);
    let missing: Vec<&str> = communes.iter().filter(|r| r["reports_missing"].as_i64().unwrap_or(0) > 0).map(|r| r["unit_code"].as_str().unwrap()).collect();
    let mut listed = Vec::new();
    for tr in c.find_all(Locator::Css("#missing-table tbody tr[data-code]")).await.unwrap() {
        listed.push(tr.attr("data-code").await.unwrap().unwrap());
    }
    listed.sort();
    assert_eq!(listed, missing, "the communes that missed a report");
    let total: i64 = communes.iter().filter_map(|r| r["reports_missing"].as_i64()).sum();
    assert_eq!(own[0]["reports_missing"].as_i64(), Some(total), "the province's missing reports are its communes'");
    assert_eq!(text(c, "#own-missing .value").await, total.to_string());
    let issues = sql(
        &server,
        &analyst,
        "SELECT count(*) AS n FROM quality_issues WHERE epoch = 'post2025' AND province_code = '04' AND period IN ('202601', '202602', '202603')",
    )
    .await;
    let heading = text(c, "#issues-heading").await;
    assert!(heading.ends_with(&format!("({})", issues[0]["n"])), "{heading}: {issues:?}");
    loaded_only_from(c, &server.http).await;
    screenshot(c, "reporting.png").await;
    browser.close().await;
}

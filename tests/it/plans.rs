//! The plans (issue: the plans' tasks, their progress and the periodic review): the seed plan's
//! deadlines checked by `tonghop validate`; progress from two agencies over HTTP and a third by
//! the XLSX form (filled by openpyxl, as a spreadsheet program would); the task status model; the
//! review as a Word document read back by python-docx; who may report and who may read.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::export::{sheet, sheets, text};
use crate::helpers::{copy_project, make_token, repo_root, serve, sql_rows, tonghop, tonghop_in, tonghop_raw, Served};

const PLAN: &str = "NA_KH_2024";

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(300)).build().unwrap()
}

/// An agency token and its `[[tokens]]` entry.
fn agency_token(lake: &Path, name: &str, agency: &str) -> (String, String) {
    let out = tonghop_raw(lake, &["token", "--name", name, "--role", "agency", "--agency", agency]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let stderr = String::from_utf8(out.stderr).unwrap();
    (token, stderr[stderr.find("[[tokens]]").unwrap()..].to_string())
}

async fn post_progress(server: &Served, token: &str, body: Vec<u8>, query: &str) -> (u16, Value) {
    let r = client().post(format!("{}/api/plans/progress{query}", server.http)).bearer_auth(token).body(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(server: &Served, token: &str, path: &str) -> reqwest::Response {
    client().get(format!("{}{path}", server.http)).bearer_auth(token).send().await.unwrap()
}

/// What python-docx finds in a .docx (see tests/it/review_docx_check.py).
fn read_docx(path: &Path) -> Value {
    let out = Command::new("python3").arg(repo_root().join("tests/it/review_docx_check.py")).arg(path).output().expect("python3");
    assert!(out.status.success(), "python-docx could not read {}: {} (pip install python-docx)", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rows of the document's table whose header row starts with `first` and has `second`.
fn table<'a>(doc: &'a Value, first: &str, second: &str) -> &'a Vec<Value> {
    doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["rows"].as_array().unwrap())
        .find(|rows| rows.first().is_some_and(|h| h[0] == first && h[1] == second))
        .unwrap_or_else(|| panic!("no table headed {first:?}, {second:?}"))
}

fn cell(row: &Value, i: usize) -> &str {
    row[i].as_str().unwrap_or_default()
}

/// `87,9`: one decimal with a decimal comma, as the review prints percentages.
fn vi(value: f64) -> String {
    format!("{value:.1}").replace('.', ",")
}

#[test]
fn the_seed_plans_load_and_a_malformed_deadline_is_named_with_the_accepted_forms() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = tonghop(&lake, &["validate"]);
    assert!(out.contains("4 plan(s) with 18 task(s)"), "{out}");
    let tasks = sql_rows(&lake, &format!("SELECT task, deadline_kind, CAST(due_date AS VARCHAR) FROM plan_tasks WHERE plan = '{PLAN}' ORDER BY task_order"));
    assert_eq!(tasks.len(), 18);
    let by_task: HashMap<&str, (&str, &str)> = tasks.iter().map(|r| (r[0].as_str(), (r[1].as_str(), r[2].as_str()))).collect();
    assert_eq!(by_task["1"], ("date", "2024-09-30"), "Quý 3/2024");
    assert_eq!(by_task["6"], ("date", "2025-06-30"), "Quý 2/2025");
    assert_eq!(by_task["11"], ("date", "2025-12-31"), "Năm 2025");
    assert_eq!(by_task["2"].0, "recurring", "Nhiệm vụ thường xuyên");
    assert_eq!(by_task["7"].0, "conditional", "Sau khi có Quyết định sắp xếp đơn vị hành chính");
    assert_eq!(by_task["10"].0, "conditional", "Theo hướng dẫn của Bộ Y tế");

    // A copy of the project with two broken rows: both reported at once, each with file, row and fix.
    let project = copy_project(&dir.path().join("project"));
    let path = project.join("catalog/plans/tasks.csv");
    let csv = std::fs::read_to_string(&path).unwrap().replacen("Quý 2/2025", "Qúy hai 2025", 1).replacen("NA_SNV;NA_LIEN_QUAN", "NA_SNVV;NA_LIEN_QUAN", 1);
    std::fs::write(&path, csv).unwrap();
    let out = tonghop_in(&project, dir.path(), lake.to_str().unwrap(), &["validate"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 problem(s)"), "{err}");
    assert!(err.contains("tasks.csv row 7 (plan NA_KH_2024, task 6): deadline \"Qúy hai 2025\" cannot be read; write one of: Quý 3/2024"), "{err}");
    assert!(err.contains("Nhiệm vụ thường xuyên"), "{err}");
    assert!(err.contains("tasks.csv row 6 (plan NA_KH_2024, task 5): cooperating names NA_SNVV, which is not in agencies.csv (did you mean NA_SNV?)"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn agencies_report_progress_and_the_review_is_written_as_a_word_document() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, inbox) = (dir.path().join("lake"), dir.path().join("inbox"));
    // Nghệ An (post2025 40, the plan's province today) from July 2025 to June 2026.
    tonghop(&lake, &["demo", "--inbox", inbox.to_str().unwrap(), "--until", "2026-07-15", "--provinces", "post2025:40"]);
    tonghop(&lake, &["ingest", inbox.to_str().unwrap()]);
    tonghop(&lake, &["build"]);
    let commune =
        sql_rows(&lake, "SELECT code FROM units WHERE epoch = 'post2025' AND level = 'commune' AND province_code = '40' ORDER BY code LIMIT 1")[0][0].clone();

    let (syt, syt_entry) = agency_token(&lake, "so-y-te", "NA_SYT");
    let (snv, snv_entry) = agency_token(&lake, "so-noi-vu", "NA_SNV");
    let (quang_tri, quang_tri_entry) = agency_token(&lake, "syt-quang-tri", "QT_SYT");
    let (province, province_entry) = make_token(&lake, "tinh-nghe-an", "province", Some("post2025:40"));
    let (station, station_entry) = make_token(&lake, "tram-y-te", "commune", Some(&format!("post2025:{commune}")));
    let (analyst, analyst_entry) = make_token(&lake, "phan-tich", "analyst", None);
    let config = format!("[scheduler]\nenabled = false\n\n{syt_entry}\n{snv_entry}\n{quang_tri_entry}\n{province_entry}\n{station_entry}\n{analyst_entry}");
    let mut server = serve(&lake, &config);

    // Sở Y tế: three good reports and two refused, each with its reason; the good ones are kept.
    let body = json!({"plan": PLAN, "period": "2026S1", "reports": [
        {"task": 5, "status": "Hoàn thành", "text": "Đề án Phát triển nguồn nhân lực y tế đến năm 2030 đã được UBND tỉnh phê duyệt.", "date": "2026-03-10", "evidence": "Quyết định số 512/QĐ-UBND"},
        {"task": "6", "status": "Đang triển khai", "text": "Đã bàn giao 12/21 Trung tâm Y tế.", "date": "15/06/2026"},
        {"task": "2", "status": "đang triển khai", "text": "Kiểm tra 40 trạm y tế xã vùng sâu, vùng xa.", "date": "2026-05-20"},
        {"task": "99", "status": "Hoàn thành", "text": "?", "date": "2026-05-20"},
        {"task": "8", "status": "Xong", "text": "Bệnh viện vệ tinh tiếp tục hoạt động.", "date": "2026-05-20"}
    ]});
    let body = serde_json::to_vec(&body).unwrap();
    let (status, receipt) = post_progress(&server, &syt, body.clone(), "").await;
    assert_eq!(status, 201, "{receipt}");
    assert_eq!(
        (receipt["status"].as_str(), receipt["accepted"].as_u64(), receipt["rejected"].as_u64()),
        (Some("partly_accepted"), Some(3), Some(2)),
        "{receipt}"
    );
    let reasons: Vec<&str> = receipt["rejections"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["task_unknown", "status_invalid"], "{receipt}");
    assert!(receipt["rejections"][1]["message_vi"].as_str().unwrap().contains("Xong"), "{receipt}");
    // The same content again: the first receipt, nothing written twice.
    let (status, again) = post_progress(&server, &syt, body.clone(), "").await;
    let first_body = body;
    assert_eq!((status, again["duplicate"].as_bool(), &again["submission_id"]), (200, Some(true), &receipt["submission_id"]));

    // Sở Nội vụ co-operates on task 5 and is one of "Các sở, ngành" leading task 2.
    let body = json!({"plan": PLAN, "period": "2026Q1", "reports": [
        {"task": "5", "status": "Đang triển khai", "text": "Thẩm định biên chế của Đề án.", "date": "2026-02-20"},
        {"task": "2", "status": "Đang triển khai", "text": "Phối hợp kiểm tra tổ chức bộ máy y tế cơ sở.", "date": "2026-03-25", "evidence": "Công văn số 88/SNV"}
    ]});
    let (status, receipt) = post_progress(&server, &snv, serde_json::to_vec(&body).unwrap(), "").await;
    assert_eq!((status, receipt["accepted"].as_u64()), (201, Some(2)), "{receipt}");

    // Quảng Trị's Sở Y tế has no part in Nghệ An's task 5: 403, and nothing of the request is written.
    let body = json!({"plan": PLAN, "period": "2026S1", "reports": [{"task": "5", "status": "Hoàn thành", "text": "x", "date": "2026-03-10"}]});
    let (status, denied) = post_progress(&server, &quang_tri, serde_json::to_vec(&body).unwrap(), "").await;
    assert_eq!(status, 403, "{denied}");
    assert!(denied["error"].as_str().unwrap().contains("task(s) 5"), "{denied}");
    // A commune token may not report progress at all.
    let (status, _) = post_progress(&server, &station, serde_json::to_vec(&body).unwrap(), "").await;
    assert_eq!(status, 403);

    // Sở Giáo dục và Đào tạo fills its form in a spreadsheet program (openpyxl) and the province
    // puts it in the inbox; one row has a status that is not one of the four.
    let form = dir.path().join("tien_do_sgddt.xlsx");
    tonghop(&lake, &["template", "--plan", PLAN, "--agency", "NA_SGDDT", "--period", "2026S1", "--output", form.to_str().unwrap()]);
    let filled = dir.path().join("inbox2/tien_do_sgddt.xlsx");
    std::fs::create_dir_all(filled.parent().unwrap()).unwrap();
    let script = r#"
import sys, datetime, openpyxl
book = openpyxl.load_workbook(sys.argv[1])
sheet = book["Tiến độ"]
codes = [c.value for c in sheet[8]]
col = {code: i + 1 for i, code in enumerate(codes) if code}
rows = {str(sheet.cell(r, col["task"]).value): r for r in range(9, sheet.max_row + 1)}
def fill(task, status, text, date, evidence=None):
    r = rows[task]
    sheet.cell(r, col["status"]).value = status
    sheet.cell(r, col["text"]).value = text
    sheet.cell(r, col["reported_on"]).value = date
    if evidence:
        sheet.cell(r, col["evidence"]).value = evidence
fill("17", "Hoàn thành", "Tập huấn y tế trường học cho 350 nhân viên.", datetime.datetime(2026, 5, 30), "Báo cáo số 77/BC-SGDĐT")
fill("1", "Đang triển khai", "Quán triệt Chỉ thị 25 tới các trường.", "15/06/2026")
fill("3", "Xong", "Tuyên truyền trong trường học.", "01/06/2026")
book.save(sys.argv[2])
# The same form once more, with a changed text (other bytes), for the --strict ingest.
fill("1", "Đang triển khai", "Quán triệt Chỉ thị 25 tới các trường (gửi lại).", "15/06/2026")
book.save(sys.argv[3])
"#;
    let strict = dir.path().join("inbox3/tien_do_sgddt_gui_lai.xlsx");
    std::fs::create_dir_all(strict.parent().unwrap()).unwrap();
    let out = Command::new("python3").arg("-c").arg(script).arg(&form).arg(&filled).arg(&strict).output().unwrap();
    assert!(out.status.success(), "openpyxl (pip install openpyxl): {}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&filled).unwrap();
    // Sent over HTTP by Sở Nội vụ, it is another agency's form: 403. As data, it is misdirected: 400.
    let (status, denied) = post_progress(&server, &snv, bytes.clone(), "?filename=tien_do_sgddt.xlsx").await;
    assert_eq!(status, 403, "{denied}");
    let r = client().post(format!("{}/api/submissions?filename=tien_do.xlsx", server.http)).bearer_auth(&station).body(bytes).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // With --strict, the form with a refused report is refused whole: none of its reports is kept.
    let out = tonghop(&lake, &["ingest", strict.parent().unwrap().to_str().unwrap(), "--strict"]);
    assert!(out.contains("1 refused"), "{out}");
    assert!(sql_rows(&lake, "SELECT 1 FROM task_progress WHERE text LIKE '%(gửi lại)%'").is_empty(), "--strict kept nothing of the form");
    let out = tonghop(&lake, &["ingest", filled.parent().unwrap().to_str().unwrap()]);
    assert!(out.contains("1 file"), "{out}");
    let rejected = sql_rows(
        &lake,
        "SELECT r.reason, r.location, r.field FROM rejections AS r JOIN submissions AS s USING (submission_id) WHERE s.format = 'xlsx-progress' AND s.status <> 'refused'",
    );
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!((rejected[0][0].as_str(), rejected[0][2].as_str()), ("status_invalid", "status"), "{rejected:?}");
    assert!(rejected[0][1].starts_with("Tiến độ!"), "the cell is named: {rejected:?}");

    // Every version is kept: a correction of task 6 supersedes the first report, both stay in the lake.
    let body = json!({"plan": PLAN, "period": "2026S1", "reports": [
        {"task": "6", "status": "Hoàn thành", "text": "Đã bàn giao đủ 21 Trung tâm Y tế.", "date": "2026-06-25"}
    ]});
    let (status, _) = post_progress(&server, &syt, serde_json::to_vec(&body).unwrap(), "").await;
    assert_eq!(status, 201);
    let versions =
        sql_rows(&lake, &format!("SELECT status FROM task_progress WHERE plan = '{PLAN}' AND task = '6' AND agency = 'NA_SYT' ORDER BY received_at"));
    assert_eq!(versions, [["dang_trien_khai"], ["hoan_thanh"]]);
    assert!(sql_rows(&lake, "SELECT 1 FROM task_progress WHERE agency = 'QT_SYT'").is_empty(), "the refused request wrote nothing");

    // The status model: as of 30 June 2026.
    let status_of: HashMap<String, (String, String)> =
        sql_rows(&lake, &format!("SELECT task, status, status_vi FROM task_status WHERE plan = '{PLAN}' AND period = '2026S1'"))
            .into_iter()
            .map(|r| (r[0].clone(), (r[1].clone(), r[2].clone())))
            .collect();
    assert_eq!(status_of.len(), 18);
    assert_eq!(status_of["5"].0, "done_late", "done in 2026, due Quý 3/2024");
    assert_eq!(status_of["6"].0, "done_late", "the correction: done on 25/06/2026, due Quý 2/2025");
    assert_eq!(status_of["2"].0, "reported");
    assert_eq!(status_of["17"].0, "reported", "reported by the form");
    assert_eq!(status_of["1"].0, "overdue", "Quý 3/2024 and not every lead agency done");
    assert_eq!(status_of["7"].0, "awaiting_condition");
    assert_eq!(status_of["8"].0, "not_reported", "the refused row does not count");
    let summary =
        sql_rows(&lake, &format!("SELECT done_late, overdue FROM agency_task_summary WHERE plan = '{PLAN}' AND period = '2026S1' AND agency = 'NA_SYT'"));
    assert_eq!(summary[0][0], "2");

    // The tasks over HTTP for the province's agency, as in SQL (the service's session follows the lake).
    let mut seen = Value::Null;
    for _ in 0..60 {
        let r = get(&server, &syt, &format!("/api/plans/{PLAN}/tasks?period=2026S1")).await;
        assert_eq!(r.status().as_u16(), 200);
        seen = r.json().await.unwrap();
        if seen.as_array().unwrap().iter().any(|t| t["task"] == "6" && t["status"] == "done_late") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    for t in seen.as_array().unwrap() {
        assert_eq!(status_of[t["task"].as_str().unwrap()].0, t["status"].as_str().unwrap(), "{t}");
    }

    // The review for 2026S1, read by python-docx.
    let path = dir.path().join("so_ket.docx");
    let out = tonghop(&lake, &["export", "review", "--plan", PLAN, "--period", "2026S1", "--out", path.to_str().unwrap()]);
    assert!(out.contains("18 tasks"), "{out}");
    let doc = read_docx(&path);
    let paragraphs: Vec<&str> = doc["paragraphs"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(paragraphs.contains(&"BÁO CÁO"), "{paragraphs:?}");
    assert!(paragraphs.iter().any(|p| p.starts_with("Sơ kết 6 tháng đầu năm 2026 thực hiện Kế hoạch số")), "{paragraphs:?}");
    let all_text = doc.to_string();
    assert!(all_text.contains("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM") && all_text.contains("Độc lập - Tự do - Hạnh phúc") && all_text.contains("SỞ Y TẾ"));
    for said in
        ["Đã bàn giao đủ 21 Trung tâm Y tế.", "Thẩm định biên chế của Đề án.", "Tập huấn y tế trường học cho 350 nhân viên.", "Quyết định số 512/QĐ-UBND"]
    {
        assert!(paragraphs.iter().any(|p| p.contains(said)), "section I holds {said:?}: {paragraphs:?}");
    }
    assert_eq!(doc["sections"][0]["page_width_mm"].as_f64().map(f64::round), Some(210.0), "{}", doc["sections"]);
    assert!(doc["fonts"].as_array().unwrap().iter().any(|f| f == "Times New Roman"));

    // Section III: every task with its status as the model has it, overdue ones first.
    let tasks = table(&doc, "TT", "Nội dung nhiệm vụ");
    assert_eq!(tasks.len(), 19, "a header and 18 tasks");
    for row in &tasks[1..] {
        assert_eq!(cell(row, 4), status_of[cell(row, 0)].1, "task {}", cell(row, 0));
    }
    assert_eq!(cell(&tasks[1], 4), "Quá hạn", "overdue first");
    let overdue_rows = tasks[1..].iter().take_while(|r| cell(r, 4) == "Quá hạn").count();
    assert_eq!(overdue_rows, status_of.values().filter(|s| s.0 == "overdue").count());

    // Section II: every indicator value equal to indicator_values for the province in today's units.
    let values: HashMap<String, f64> = sql_rows(
        &lake,
        "SELECT indicator_name, value FROM indicator_values WHERE epoch = 'post2025' AND period = '2026S1' AND level = 'province' AND unit_code = '40'",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse().unwrap()))
    .collect();
    let indicators = table(&doc, "TT", "Chỉ tiêu");
    assert_eq!(indicators.len() - 1, values.len());
    for row in &indicators[1..] {
        assert_eq!(cell(row, 2), vi(values[cell(row, 1)]), "{}", cell(row, 1));
    }
    // Appendix 2: a row per commune of the province.
    let communes =
        sql_rows(&lake, "SELECT COUNT(*) FROM units WHERE epoch = 'post2025' AND level = 'commune' AND province_code = '40'")[0][0].parse::<usize>().unwrap();
    let appendix = table(&doc, "TT", "Đơn vị");
    assert!(appendix.len() > communes, "appendices list the communes: {} rows", appendix.len());

    // The review over HTTP: the province and its agencies may read it; a commune and another
    // province's agency may not.
    for (token, want) in [(&province, 200), (&syt, 200), (&analyst, 200), (&station, 403), (&quang_tri, 403)] {
        let r = get(&server, token, &format!("/api/plans/{PLAN}/review?period=2026S1")).await;
        assert_eq!(r.status().as_u16(), want);
        if want == 200 {
            assert!(r.bytes().await.unwrap().starts_with(b"PK"));
        }
    }

    // Reports and reads of the plan are in the audit trail (written every few seconds).
    let audited = (0..40)
        .find_map(|_| {
            let rows = sql_rows(
                &lake,
                "SELECT action, outcome FROM lake.audit WHERE action IN ('progress', 'review') OR (outcome = 'denied' AND target LIKE '%plans%')",
            );
            let has = |action: &str| rows.iter().any(|r| r[0] == action);
            let reviews = rows.iter().filter(|r| r[0] == "review").count();
            if has("progress") && reviews >= 3 && rows.iter().any(|r| r[1] == "denied") {
                Some(rows)
            } else {
                std::thread::sleep(std::time::Duration::from_millis(500));
                None
            }
        })
        .expect("progress, the three reviews read and denials audited");
    assert!(audited.iter().all(|r| r[0] != "review" || r[1] == "ok"), "{audited:?}");

    // The Excel report of the province for the period carries the same tasks on a sheet of its own.
    let report = dir.path().join("bao_cao.xlsx");
    tonghop(&lake, &["export", "report", "--unit", "post2025:40", "--period", "2026S1", "--out", report.to_str().unwrap()]);
    let book = sheets(&report);
    let s = sheet(&book, "Nhiệm vụ NA_KH_2024");
    let mut found = 0;
    for r in 0..200 {
        if let Some((_, want)) = status_of.get(&text(s, r, 0)).filter(|_| !text(s, r, 4).is_empty()) {
            assert_eq!(&text(s, r, 4), want, "row {r}");
            found += 1;
        }
    }
    assert_eq!(found, 18);

    // After a restart the same content is still known: answered as a duplicate, written once.
    assert!(server.stop());
    let server = serve(&lake, &config);
    let (status, again) = post_progress(&server, &syt, first_body, "").await;
    assert_eq!((status, again["duplicate"].as_bool(), again["accepted"].as_u64()), (200, Some(true), Some(3)), "{again}");
    let copies = sql_rows(&lake, &format!("SELECT COUNT(*) FROM task_progress WHERE plan = '{PLAN}' AND task = '5' AND agency = 'NA_SYT'"));
    assert_eq!(copies[0][0], "1");

    // The lake is sound: every committed progress submission has its accepted rows.
    let out = tonghop(&lake, &["check"]);
    assert!(out.contains("tables/task_progress"), "{out}");
}

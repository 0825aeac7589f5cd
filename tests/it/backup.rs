//! `tonghop backup`, `tonghop restore` and `tonghop check` on a real lake: a backup taken while
//! the service takes submissions restores to a sound lake; backup → wipe → restore gives the same
//! answers; a damaged lake is named file by file.

use serde_json::Value;

use crate::helpers::{make_token, q1_demo_lake, serve, sql_rows, tonghop_raw};

const INDICATORS: &str = "SELECT count(*) AS n, round(sum(value), 6) AS total FROM indicator_values";
const VALUES: &str = "SELECT count(*) FROM data_values";
const SUBMISSIONS: &str = "SELECT count(*) FROM submissions";

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_under_submissions_restores_to_a_sound_lake_with_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let lake = q1_demo_lake(dir.path());
    let indicators = sql_rows(&lake, INDICATORS);
    let submissions_before: usize = sql_rows(&lake, SUBMISSIONS)[0][0].parse().unwrap();
    let check = ok(tonghop_raw(&lake, &["check"]));
    assert!(check.contains("is sound") && check.contains("tables/data_values"), "{check}");

    // Submissions keep arriving while the backup is taken.
    let (admin, entry) = make_token(&lake, "quan-tri", "admin", None);
    let mut server = serve(&lake, &format!("[scheduler]\nenabled = false\npipelines = []\n[postgres]\nenabled = false\n\n{entry}"));
    let (http, token) = (server.http.clone(), admin.clone());
    let sender = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut answered = Vec::new();
        for i in 0..60 {
            let body = format!("period,org_unit,data_element,value\n2026{:02},00004,DS_TONG,{}\n", i % 3 + 1, 5000 + i);
            let r = client.post(format!("{http}/api/submissions?filename=s{i}.csv")).bearer_auth(&token).body(body).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 201);
            answered.push(r.json::<Value>().await.unwrap()["submission_id"].as_str().unwrap().to_string());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        answered
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let during = dir.path().join("backup-during");
    let copied = ok(tonghop_raw(&lake, &["backup", during.to_str().unwrap()]));
    assert!(copied.contains("object(s)"), "{copied}");
    let answered = sender.await.unwrap();
    assert!(server.stop());

    // Restored, it is sound and answers as the lake did (the models were not rebuilt meanwhile);
    // a service started on it commits what its journal held, and every submission it holds was
    // answered.
    let restored = dir.path().join("restored");
    ok(tonghop_raw(&restored, &["restore", during.to_str().unwrap()]));
    let check = ok(tonghop_raw(&restored, &["check"]));
    assert!(check.contains("is sound"), "{check}");
    assert_eq!(sql_rows(&restored, INDICATORS), indicators);
    let mut server = serve(&restored, "[scheduler]\nenabled = false\npipelines = []\n[postgres]\nenabled = false\n");
    assert!(server.stop());
    let held: usize = sql_rows(&restored, SUBMISSIONS)[0][0].parse().unwrap();
    assert!(held >= submissions_before && held <= submissions_before + answered.len(), "{held} submissions after restore");
    eprintln!("the backup taken under load holds {} of the {} submissions answered meanwhile", held - submissions_before, answered.len());
    let check = ok(tonghop_raw(&restored, &["check", "--deep"]));
    assert!(check.contains("is sound") && check.contains("every row read"), "{check}");

    // Backup of the quiet lake, wipe, restore: the same answers, every answered submission there.
    let values = sql_rows(&lake, VALUES);
    let quiet = dir.path().join("backup-quiet");
    ok(tonghop_raw(&lake, &["backup", quiet.to_str().unwrap()]));
    std::fs::remove_dir_all(&lake).unwrap();
    ok(tonghop_raw(&lake, &["restore", quiet.to_str().unwrap()]));
    assert!(ok(tonghop_raw(&lake, &["check"])).contains("is sound"));
    assert_eq!(sql_rows(&lake, INDICATORS), indicators);
    assert_eq!(sql_rows(&lake, VALUES), values);
    let ids = sql_rows(&lake, "SELECT submission_id FROM submissions").into_iter().map(|r| r[0].clone()).collect::<std::collections::HashSet<_>>();
    assert!(answered.iter().all(|id| ids.contains(id)), "every answered submission is in the restored lake");
    let out = tonghop_raw(&lake, &["restore", quiet.to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not empty"), "a restore never mixes two lakes");

    // Damage is named: a live file gone.
    let gone =
        std::fs::read_dir(lake.join("tables/submissions")).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "parquet")).unwrap();
    std::fs::remove_file(&gone).unwrap();
    let out = tonghop_raw(&lake, &["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    let name = gone.file_name().unwrap().to_str().unwrap();
    assert!(text.lines().any(|l| l.starts_with("PROBLEM") && l.contains("tables/submissions") && l.contains(name) && l.contains("missing")), "{text}");
}

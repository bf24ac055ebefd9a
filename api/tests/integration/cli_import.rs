//! `quaderno import FILE… --study ID [--case ID]` against the binary, next to a running
//! server on the same data directory.

use std::io::{Cursor, Write};
use std::process::{Command, Output};

use crate::common::{gql, serve, stdout_of, wait_ready, BIN};
use serde_json::Value;

const SEARCH: &str = r#"{ search(query: "ornitorinco") { totalCount } }"#;

fn import(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("import")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

fn docx(paragraphs: &[(&str, bool)]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|(t, bold)| {
            let b = if *bold { "<w:rPr><w:b/></w:rPr>" } else { "" };
            format!("<w:p><w:r>{b}<w:t>{t}</w:t></w:r></w:p>")
        })
        .collect();
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    w.start_file(
        "word/document.xml",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    w.write_all(xml.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

async fn case_interviews(url: &str, case: &str) -> Vec<Value> {
    let q = format!(
        r#"{{ interviews(caseId: "{case}", first: 100) {{ edges {{ node {{ label transcript sourceFile normalisation }} }} }} }}"#
    );
    gql(url, None, &q).await["data"]["interviews"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

#[tokio::test]
async fn import_puts_files_into_a_case_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &[]);
    wait_ready(&server.url).await;
    let studies = gql(
        &server.url,
        None,
        "{ studies { edges { node { id cases { edges { node { id label } } } } } } }",
    )
    .await;
    let study = studies["data"]["studies"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["node"]["cases"]["edges"].as_array().unwrap().len() > 1)
        .expect("a demo study with cases")["node"]
        .clone();
    let study_id = study["id"].as_str().unwrap();
    let case = &study["cases"]["edges"][0]["node"];
    let (case_id, case_label) = (
        case["id"].as_str().unwrap(),
        case["label"].as_str().unwrap(),
    );
    let before = case_interviews(&server.url, case_id).await.len();
    let unseen = gql(&server.url, None, SEARCH).await;
    assert_eq!(unseen["data"]["search"]["totalCount"], 0, "{unseen}");

    let files = tempfile::tempdir().unwrap();
    let path = |n: &str| files.path().join(n).display().to_string();
    std::fs::write(
        path("Nuova 1.txt"),
        "INT: Com’è andata?\r\nR: Bene, in città.\r\n",
    )
    .unwrap();
    std::fs::write(path("Nuova 2.md"), "## Nuova 2\n\n**R:** Più o *meno*.\n").unwrap();
    std::fs::write(
        path("Nuova 3.docx"),
        docx(&[
            ("Intervistatore", true),
            ("E poi?", false),
            ("Intervistato", true),
            ("Poi è cambiato, come l’ornitorinco.", false),
        ]),
    )
    .unwrap();
    std::fs::write(path("vecchia.txt"), b"R: citt\xe0").unwrap();
    std::fs::write(path("progetto.qdpx"), b"PK").unwrap();

    // Without --case, a study of several cases is refused, listing them.
    let out = import(dir.path(), &[&path("Nuova 1.txt"), "--study", study_id]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("name one with --case") && stderr.contains(case_label),
        "{stderr}"
    );

    // One bad file: nothing imported, every bad file named.
    let out = import(
        dir.path(),
        &[
            &path("Nuova 1.txt"),
            &path("vecchia.txt"),
            "--study",
            study_id,
            "--case",
            case_label,
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("nothing imported") && stderr.contains("vecchia.txt: not UTF-8"),
        "{stderr}"
    );
    assert_eq!(case_interviews(&server.url, case_id).await.len(), before);

    // A REFI-QDA project goes through the REFI-QDA reader: a broken one is refused whole.
    let out = import(
        dir.path(),
        &[
            &path("progetto.qdpx"),
            "--study",
            study_id,
            "--case",
            case_id,
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("progetto.qdpx"), "{stderr}");
    assert_eq!(case_interviews(&server.url, case_id).await.len(), before);

    let out = import(
        dir.path(),
        &[
            &path("Nuova 1.txt"),
            &path("Nuova 2.md"),
            &path("Nuova 3.docx"),
            "--study",
            study_id,
            "--case",
            case_id,
        ],
    );
    let stdout = stdout_of(out);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(
        stdout.lines().next().unwrap().starts_with("Nuova 1.txt\t"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 turns (Intervistatore, Intervistato)"),
        "{stdout}"
    );

    let after = case_interviews(&server.url, case_id).await;
    assert_eq!(after.len(), before + 3);
    let by_label = |l: &str| after.iter().find(|i| i["label"] == l).unwrap().clone();
    assert_eq!(
        by_label("Nuova 1")["transcript"],
        "INT: Com’è andata?\nR: Bene, in città.\n"
    );
    assert_eq!(
        by_label("Nuova 1")["normalisation"],
        serde_json::json!(["LINE_ENDINGS"])
    );
    assert_eq!(
        by_label("Nuova 2")["transcript"],
        "Nuova 2\n\nR: Più o meno.\n"
    );
    assert_eq!(
        by_label("Nuova 3")["transcript"],
        "Intervistatore:\nE poi?\n\nIntervistato:\nPoi è cambiato, come l’ornitorinco."
    );
    assert_eq!(by_label("Nuova 3")["sourceFile"], "Nuova 3.docx");

    // The running server's index follows the change log the import wrote.
    let mut found = 0;
    for _ in 0..100 {
        let r = gql(&server.url, None, SEARCH).await;
        found = r["data"]["search"]["totalCount"].as_i64().unwrap_or(0);
        if found > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(found > 0, "the imported interview is searchable");
}

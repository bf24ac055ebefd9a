//! `quaderno import` of REFI-QDA files and `quaderno export --format qdpx|csv|matrix-csv`, as an
//! operator runs them on a data directory.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::{stdout_of, BIN};

fn quaderno(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .args(["--no-demo", "--data-dir"])
        .arg(dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run quaderno")
}

fn sample() -> String {
    format!(
        "{}/../../shared/refi/demo-qualitative-coding.qdpx",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn import_and_export_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = stdout_of(quaderno(dir.path(), &["import", &sample()]));
    assert!(
        stdout.contains("study 1 ") && stdout.contains("262 codes, 2 interviews, 158 quotations"),
        "{stdout}"
    );

    // Again into the same study: the codebook is reused, the sources come in once more.
    let out = quaderno(dir.path(), &["import", &sample(), "--study", "1"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("0 codes, 2 interviews, 158 quotations"),
        "{stdout}"
    );

    let qdpx = dir.path().join("study.qdpx");
    let out = quaderno(
        dir.path(),
        &[
            "export",
            "--study",
            "1",
            "--format",
            "qdpx",
            "-o",
            qdpx.to_str().unwrap(),
        ],
    );
    stdout_of(out);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&qdpx).unwrap()).unwrap();
    assert_eq!(zip.len(), 5, "project.qde and four sources");
    let mut qde = String::new();
    zip.by_name("project.qde")
        .unwrap()
        .read_to_string(&mut qde)
        .unwrap();
    assert_eq!(qde.matches("<PlainTextSelection ").count(), 316);

    let csv_path = dir.path().join("quotations.csv");
    let out = quaderno(
        dir.path(),
        &[
            "export",
            "--study",
            "1",
            "--format",
            "csv",
            "-o",
            csv_path.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    assert_eq!(reader.headers().unwrap().len(), 10);
    assert_eq!(reader.records().count(), 316);

    let matrix = dir.path().join("matrix.csv");
    let out = quaderno(
        dir.path(),
        &[
            "export",
            "--study",
            "1",
            "--format",
            "matrix-csv",
            "-o",
            matrix.to_str().unwrap(),
        ],
    );
    assert!(out.status.success());
    let mut reader = csv::Reader::from_path(&matrix).unwrap();
    assert_eq!(reader.records().count(), 262, "one row per code");

    // A broken file fails the command with the reason, and writes nothing.
    let broken = dir.path().join("broken.qdpx");
    let bytes = std::fs::read(sample()).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 3]).unwrap();
    let out = quaderno(dir.path(), &["import", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a readable zip"), "{stderr}");
    let nowhere = dir.path().join("nothing.qdpx");
    let out = quaderno(
        dir.path(),
        &[
            "export",
            "--study",
            "2",
            "--format",
            "qdpx",
            "-o",
            nowhere.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "no study 2 was created");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
}

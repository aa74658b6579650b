//! `embed --format parquet`, read back by an independent reader: pyarrow, from PyPI, in a venv
//! the test makes outside the project.

mod common;

use common::*;

/// Prints the table as JSON: the schema's types, the ids and the vectors.
const READ: &str = r#"
import json, sys
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1])
print(json.dumps({
    "types": {f.name: str(f.type) for f in table.schema},
    "rows": table.to_pylist(),
}))
"#;

#[test]
fn embed_writes_a_parquet_table_that_pyarrow_reads_back() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("corpus.parquet");
    let npy = dir.path().join("corpus.npy");
    Outcome::of(
        themescope_with_real_model(home.path())
            .args([
                "-q",
                "embed",
                "data/nato-ukraine",
                "--format",
                "parquet",
                "-o",
            ])
            .arg(&table),
    )
    .ok();
    Outcome::of(
        themescope_with_real_model(home.path())
            .args(["-q", "embed", "data/nato-ukraine", "-o"])
            .arg(&npy),
    )
    .ok();
    let vectors: ndarray::Array2<f32> = ndarray_npy::read_npy(&npy).unwrap();
    let sidecar = read_jsonl(&dir.path().join("corpus.ids.jsonl"));

    let Some(python) = python_with("themescope-test-pyarrow", "pyarrow", "pyarrow.parquet") else {
        return;
    };
    let script = dir.path().join("read.py");
    std::fs::write(&script, READ).unwrap();
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(&table)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        read["types"]["vector"],
        "fixed_size_list<item: float not null>[384]"
    );
    assert_eq!(read["types"]["line"], "uint64");
    let rows = read["rows"].as_array().unwrap();
    assert_eq!(rows.len(), vectors.nrows());
    assert_eq!(rows.len(), sidecar.len());
    for (i, (row, meta)) in rows.iter().zip(&sidecar).enumerate() {
        for key in ["id", "doc", "line", "kind", "text"] {
            assert_eq!(row[key], meta[key], "row {i}: {key}");
        }
        let vector: Vec<f32> = row["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(
            vector,
            vectors.row(i).to_vec(),
            "row {i}: the same float32s"
        );
    }
}

#[test]
fn parquet_needs_an_output_and_jsonl_refuses_one() {
    let home = tempfile::tempdir().unwrap();
    Outcome::of(themescope(home.path()).args([
        "embed",
        "data/nato-ukraine",
        "--format",
        "parquet",
    ]))
    .fails(2, &["--format parquet needs --output"]);
    Outcome::of(themescope(home.path()).args([
        "embed",
        "data/nato-ukraine",
        "--format",
        "jsonl",
        "-o",
        "x.jsonl",
    ]))
    .fails(2, &["--format jsonl prints to stdout"]);
}

#[test]
fn index_export_writes_the_whole_index_as_one_table() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("ix");
    let table = dir.path().join("index.parquet");
    let npy = dir.path().join("corpus.npy");
    Outcome::of(
        themescope_with_real_model(home.path())
            .args(["-q", "index", "build", "data/nato-ukraine", "--index"])
            .arg(&index),
    )
    .ok();
    Outcome::of(
        themescope(home.path())
            .args(["-q", "index", "export"])
            .arg(&index)
            .arg("-o")
            .arg(&table),
    )
    .ok();
    Outcome::of(
        themescope(home.path())
            .args(["index", "export"])
            .arg(&index)
            .arg("-o")
            .arg(&table),
    )
    .fails(1, &["already exists", "--force"]);
    Outcome::of(
        themescope_with_real_model(home.path())
            .args(["-q", "embed", "data/nato-ukraine", "-o"])
            .arg(&npy),
    )
    .ok();
    let vectors: ndarray::Array2<f32> = ndarray_npy::read_npy(&npy).unwrap();
    let sidecar = read_jsonl(&dir.path().join("corpus.ids.jsonl"));

    let Some(python) = python_with("themescope-test-pyarrow", "pyarrow", "pyarrow.parquet") else {
        return;
    };
    let script = dir.path().join("read.py");
    std::fs::write(&script, READ).unwrap();
    let out = std::process::Command::new(python)
        .arg(&script)
        .arg(&table)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        read["types"]["vector"],
        "fixed_size_list<item: float not null>[384]"
    );
    let rows = read["rows"].as_array().unwrap();
    assert_eq!(rows.len(), sidecar.len());
    for (i, (row, meta)) in rows.iter().zip(&sidecar).enumerate() {
        for key in ["id", "doc", "line", "kind", "text"] {
            assert_eq!(row[key], meta[key], "row {i}: {key}");
        }
        let vector: Vec<f32> = row["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        let cosine: f32 = vector.iter().zip(vectors.row(i)).map(|(a, b)| a * b).sum();
        assert!(
            cosine > 0.99999,
            "row {i}: cosine {cosine} to `embed`'s vector"
        );
    }
}

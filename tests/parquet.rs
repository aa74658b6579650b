//! `embed --format parquet` and `index export`, read back by independent readers: pyarrow and
//! DuckDB, from PyPI, each in a venv the test makes outside the project.

mod common;

use std::path::Path;

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

/// Each query's 10 nearest rows of a Parquet table by DuckDB's own cosine: (id, score) lists.
const DUCKDB_TOP10: &str = r#"
import json, sys
import duckdb
queries = json.load(open(sys.argv[2]))
print(json.dumps([
    duckdb.execute(
        "SELECT id, list_cosine_similarity(vector::FLOAT[], ?::FLOAT[]) AS score "
        "FROM read_parquet(?) ORDER BY score DESC LIMIT 10",
        [query, sys.argv[1]],
    ).fetchall()
    for query in queries
]))
"#;

/// DuckDB, reading what `embed --format parquet` and `index export` write, finds the same 10
/// nearest paragraphs as `nearest` over the corpus and over the index.
#[test]
fn duckdb_over_our_parquet_finds_the_same_top_10_as_nearest() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (embedded, exported) = (dir.path().join("e.parquet"), dir.path().join("x.parquet"));
    let index = dir.path().join("ix");
    let cli = |args: &[&str], paths: &[&std::path::Path]| {
        let mut command = themescope_with_real_model(home.path());
        command.arg("-q").args(args).args(paths);
        Outcome::of(&mut command).ok().stdout
    };
    cli(
        &["embed", "data/nato-ukraine", "--format", "parquet", "-o"],
        &[&embedded],
    );
    cli(
        &["index", "build", "data/nato-ukraine", "--index"],
        &[&index],
    );
    cli(&["index", "export"], &[&index, Path::new("-o"), &exported]);
    let queries = [
        "security guarantees for Ukraine",
        "European countries left out of the peace talks",
        "how much allies spend on defence",
    ];
    // The queries' vectors as the command line embeds them, for DuckDB.
    let records = dir.path().join("queries.jsonl");
    let lines: Vec<String> = queries
        .iter()
        .map(|q| serde_json::json!({ "text": q }).to_string())
        .collect();
    std::fs::write(&records, lines.join("\n") + "\n").unwrap();
    let npy = dir.path().join("queries.npy");
    cli(&["embed", "--keep-all", "-o"], &[&npy, &records]);
    let vectors: ndarray::Array2<f32> = ndarray_npy::read_npy(&npy).unwrap();
    assert_eq!(vectors.nrows(), queries.len());
    let as_json: Vec<Vec<f32>> = vectors.rows().into_iter().map(|r| r.to_vec()).collect();
    let vectors_json = dir.path().join("queries.json");
    std::fs::write(&vectors_json, serde_json::to_string(&as_json).unwrap()).unwrap();

    let Some(python) = python_with("themescope-test-duckdb", "duckdb", "duckdb") else {
        return;
    };
    let script = dir.path().join("top10.py");
    std::fs::write(&script, DUCKDB_TOP10).unwrap();
    let duckdb = |table: &std::path::Path| -> Vec<Vec<(String, f64)>> {
        let out = std::process::Command::new(&python)
            .arg(&script)
            .arg(table)
            .arg(&vectors_json)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let hits = |json: String| -> Vec<(String, f64)> {
        let hits: serde_json::Value = serde_json::from_str(&json).unwrap();
        hits.as_array()
            .unwrap()
            .iter()
            .map(|h| {
                let id = h["id"].as_str().unwrap().to_string();
                (id, h["score"].as_f64().unwrap())
            })
            .collect()
    };
    for (table, over) in [(&embedded, None), (&exported, Some(&index))] {
        let from_duckdb = duckdb(table);
        for (query, duck) in queries.iter().zip(&from_duckdb) {
            let ours = match over {
                None => cli(
                    &["nearest", query, "data/nato-ukraine", "--json", "-k", "10"],
                    &[],
                ),
                Some(index) => cli(
                    &["nearest", query, "--json", "-k", "10", "--index"],
                    &[index],
                ),
            };
            let ours = hits(ours);
            assert_eq!(ours.len(), 10);
            let ids = |hits: &[(String, f64)]| hits.iter().map(|h| h.0.clone()).collect::<Vec<_>>();
            assert_eq!(ids(duck), ids(&ours), "{query:?} over {}", table.display());
            for ((_, a), (_, b)) in duck.iter().zip(&ours) {
                assert!((a - b).abs() < 1e-4, "{query:?}: DuckDB {a}, ours {b}");
            }
        }
    }
}

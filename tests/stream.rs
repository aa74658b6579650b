//! `embed` streams: rows read, embedded and written a slice at a time give the files the
//! in-memory path gives (checked byte for byte on 10,000 rows of a tiny model the test builds),
//! and a run killed on the way leaves no output; paragraphs added to an index from memory equal
//! those built from files.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::tiny::{tiny_model_dir, Tiny};
use common::*;
use ndarray_npy::WriteNpyExt;
use themescope::index::export::RowRecord;
use themescope::{Corpus, CorpusOptions, ModelChoice, Options, Themescope};

const SENTENCES: [&str; 5] = [
    "the ministers discussed the peace plan for ukraine in brussels",
    "security guarantees were the main subject of the talks between the allies",
    "europe worries that it has been left out of the negotiations",
    "the alliance will meet again next month to talk about the war",
    "nato asks for a seat at the table in the peace talks",
];

/// `rows` JSONL records over 2 files, some repeating earlier texts (cache hits inside a run),
/// some with ids, some without.
fn write_corpus(dir: &Path, rows: usize) -> Vec<std::path::PathBuf> {
    let files = [dir.join("a.jsonl"), dir.join("b.jsonl")];
    let mut texts = [String::new(), String::new()];
    for i in 0..rows {
        let text = if i % 7 == 3 {
            SENTENCES[i % 5].to_string()
        } else {
            format!("{} number {i} of {}", SENTENCES[i % 5], i % 13)
        };
        let record = if i % 2 == 0 {
            serde_json::json!({ "id": format!("r{i}"), "text": text })
        } else {
            serde_json::json!({ "text": text })
        };
        let file = usize::from(i >= rows / 3);
        texts[file].push_str(&record.to_string());
        texts[file].push('\n');
    }
    for (file, text) in files.iter().zip(&texts) {
        std::fs::write(file, text).unwrap();
    }
    files.to_vec()
}

#[test]
fn streamed_npy_sidecar_and_parquet_equal_the_in_memory_path_on_10000_rows() {
    let model = tiny_model_dir(&Tiny::default());
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let inputs = write_corpus(work.path(), 10_000);

    // The in-memory path: the whole corpus loaded, embedded in one call, encoded at once.
    let scope = Themescope::try_new(Options {
        model: ModelChoice::Given(model.path().display().to_string()),
        cache: false,
        ..Options::default()
    })
    .unwrap();
    let options = CorpusOptions {
        keep_records: true,
        ..CorpusOptions::default()
    };
    let corpus = Corpus::load(&inputs, options).unwrap();
    let (index, _) = scope.index(corpus.paragraphs).unwrap();
    assert_eq!(index.paragraphs.len(), 10_000);
    let mut npy = Vec::new();
    index.vectors.write_npy(&mut npy).unwrap();
    let mut sidecar = String::new();
    for p in &index.paragraphs {
        sidecar.push_str(&serde_json::to_string(&RowRecord::new(p, None)).unwrap());
        sidecar.push('\n');
    }
    let parquet =
        themescope::index::parquet::to_parquet(&index.paragraphs, index.vectors.view()).unwrap();

    // The CLI, streaming; run twice so the second takes every vector from the cache.
    for run in ["embedded", "from the cache"] {
        let out = work.path().join(format!("{}.npy", run.replace(' ', "-")));
        let table = out.with_extension("parquet");
        let cli = |args: &[&str]| {
            let mut cmd = themescope(home.path());
            cmd.arg("-q")
                .arg("--model")
                .arg(model.path())
                .arg("embed")
                .args(&inputs)
                .args(args);
            cmd
        };
        Outcome::of(&mut cli(&["-o", out.to_str().unwrap()])).ok();
        Outcome::of(&mut cli(&[
            "--format",
            "parquet",
            "-o",
            table.to_str().unwrap(),
        ]))
        .ok();
        let streamed: ndarray::Array2<f32> = ndarray_npy::read_npy(&out).unwrap();
        let differ: Vec<usize> = (0..streamed.nrows())
            .filter(|&r| streamed.row(r) != index.vectors.row(r))
            .collect();
        assert!(
            differ.is_empty(),
            "{run}: rows differ: {} {:?}",
            differ.len(),
            &differ[..differ.len().min(10)]
        );
        assert!(std::fs::read(&out).unwrap() == npy, "{run}: .npy differs");
        assert_eq!(
            std::fs::read_to_string(out.with_extension("ids.jsonl")).unwrap(),
            sidecar,
            "{run}: sidecar differs"
        );
        assert!(
            std::fs::read(&table).unwrap() == parquet,
            "{run}: Parquet differs"
        );
    }

    // JSON lines on stdout: the same rows and vectors.
    let printed = Outcome::of(
        themescope(home.path())
            .arg("-q")
            .arg("--model")
            .arg(model.path())
            .arg("embed")
            .args(&inputs)
            .args(["--format", "jsonl"]),
    )
    .ok();
    let lines: Vec<&str> = printed.stdout.lines().collect();
    assert_eq!(lines.len(), 10_000);
    for (row, line) in [0, 4095, 4096, 9999].map(|r| (r, lines[r])) {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["id"], index.paragraphs[row].id.as_str());
        let vector: Vec<f32> = serde_json::from_value(record["vector"].clone()).unwrap();
        assert_eq!(vector, index.vectors.row(row).to_vec(), "row {row}");
    }
}

#[test]
fn a_record_that_is_not_json_stops_embed_with_its_line_and_writes_nothing() {
    let model = tiny_model_dir(&Tiny::default());
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let inputs = write_corpus(work.path(), 9_000);
    // Far past the first slice: the error comes after rows were embedded and written.
    let mut b = std::fs::read_to_string(&inputs[1]).unwrap();
    b.push_str("{\"text\": \"unfinished\n");
    std::fs::write(&inputs[1], b).unwrap();
    let out = work.path().join("out.npy");
    let failed = Outcome::of(
        themescope(home.path())
            .arg("--model")
            .arg(model.path())
            .arg("embed")
            .args(&inputs)
            .arg("-o")
            .arg(&out),
    );
    failed.fails(1, &["b.jsonl:6001: not valid JSON"]);
    let listing: Vec<String> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".jsonl"))
        .collect();
    assert!(listing.is_empty(), "no output, no temporary: {listing:?}");
}

#[test]
fn embed_killed_mid_way_leaves_no_output_file() {
    let model = tiny_model_dir(&Tiny::default());
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let text: String = (0..KILLED_ROWS)
        .map(|i| format!("{} (paragraph {i}).\n", SENTENCES[i % 5]))
        .collect();
    let input = work.path().join("many.txt");
    std::fs::write(&input, text).unwrap();
    let out = work.path().join("many.npy");
    let mut child = themescope(home.path())
        .args(["-q", "--no-cache", "--model"])
        .arg(model.path())
        .arg("embed")
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Slices written: the temporary files have grown past their write buffers.
    let started = Instant::now();
    let written = || {
        std::fs::read_dir(work.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .max()
            .unwrap_or(0)
    };
    while written() < 2 << 20 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "embed ended before it could be killed"
        );
        assert!(started.elapsed() < Duration::from_secs(300));
        std::thread::sleep(Duration::from_millis(5));
    }
    // kill -9: no handler runs.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "no .npy");
    assert!(!out.with_extension("ids.jsonl").exists(), "no sidecar");
}

/// Enough rows that the tiny model takes seconds: the run is still going when it is killed.
const KILLED_ROWS: usize = 400_000;

/// Paragraphs held in memory go into an index as the same paragraphs read from files do: the
/// same rows, ids and vectors to the bit; given again, none is added.
#[test]
fn paragraphs_added_from_memory_equal_those_built_from_files() {
    let model = tiny_model_dir(&Tiny::default());
    let work = tempfile::tempdir().unwrap();
    let inputs = write_corpus(work.path(), 1_000);
    let scope = Themescope::try_new(Options {
        model: ModelChoice::Given(model.path().display().to_string()),
        cache: false,
        ..Options::default()
    })
    .unwrap();
    let (from_files, from_memory) = (work.path().join("files"), work.path().join("memory"));
    let built = scope
        .build_index(
            &from_files,
            &inputs,
            CorpusOptions::default(),
            300,
            &mut |_, _| {},
        )
        .unwrap();
    let paragraphs = Corpus::load(&inputs, CorpusOptions::default())
        .unwrap()
        .paragraphs;
    let added = scope
        .add_to_index(&from_memory, paragraphs.clone(), 300, &mut |_, _| {})
        .unwrap();
    assert_eq!((built.added, added.added), (1_000, 1_000));
    assert_eq!(added.new_rows, 0..1_000);
    let (a, b) = (
        scope.open_index(&from_files).unwrap(),
        scope.open_index(&from_memory).unwrap(),
    );
    assert_eq!(
        a.read_rows(0, 1_000).unwrap(),
        b.read_rows(0, 1_000).unwrap()
    );
    let stored = |index: &themescope::DiskIndex| -> Vec<(String, String, usize)> {
        let rows = index.paragraphs().unwrap().map(Result::unwrap);
        rows.map(|p| (p.id, p.text, p.line)).collect()
    };
    assert_eq!(stored(&a), stored(&b));
    let again = scope
        .add_to_index(&from_memory, paragraphs, 300, &mut |_, _| {})
        .unwrap();
    assert_eq!((again.read, again.added, again.stored), (1_000, 0, 1_000));
    assert_eq!(scope.open_index(&from_memory).unwrap().len(), 1_000);
}

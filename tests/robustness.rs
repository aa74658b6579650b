//! Bad input, one case per test: every case ends in a clear one-line error and a documented exit
//! code (or a warning and a good result), never a panic, a hang or a half-written file.
//! The real model and the `themescope` binary, as a user runs them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::tiny::{tiny_model_dir, Tiny};
use common::*;
use themescope::corpus::{Corpus, CorpusError, CorpusOptions, ParagraphKind, Warning};
use themescope::embed::{EmbedError, EmbedOptions, Embedder, LongText};
use themescope::index::{embed_cached, EmbeddingCache};

const CORPUS: &str = "data/nato-ukraine";

/// A scratch directory for inputs and outputs, and a THEMESCOPE_HOME of its own (the cache).
struct Sandbox {
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `themescope --model <real model> ARGS`, run in the sandbox with the project's data
    /// reachable as `data/...` through an absolute path.
    fn command(&self, args: &[&str]) -> Command {
        self.command_with_model(&real_model().path, args)
    }

    fn command_with_model(&self, model: &Path, args: &[&str]) -> Command {
        let mut cmd = themescope(self.home.path());
        cmd.current_dir(self.dir.path())
            .arg("--model")
            .arg(model)
            .args(args.iter().map(|a| project_path(a)))
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Outcome {
        outcome(self.command(args).output().unwrap())
    }

    /// Files in the sandbox directory (temporary files included).
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn cache_dir(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    fn cache_packs(&self) -> Vec<PathBuf> {
        walkdir::WalkDir::new(self.cache_dir())
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| e.into_path())
            .filter(|p| p.is_file())
            .collect()
    }
}

fn outcome(out: std::process::Output) -> Outcome {
    out.into()
}

/// `data/...` arguments point into the project; everything else is passed as is.
fn project_path(arg: &str) -> String {
    if arg.starts_with("data/") {
        project_dir().join(arg).display().to_string()
    } else {
        arg.to_string()
    }
}

fn load(inputs: &[&Path]) -> Result<Corpus, CorpusError> {
    Corpus::load(inputs, CorpusOptions::default())
}

fn read_npy(path: &Path) -> ndarray::Array2<f32> {
    ndarray_npy::read_npy(path).unwrap()
}

const PARAGRAPHS: &str =
    "NATO foreign ministers met in Brussels to discuss the peace plan for Ukraine.\n\
    Security guarantees for Ukraine were the main subject of the talks between the allies.\n\
    Europe worries that it has been left out of the negotiations between Washington and Moscow.\n";

// ---------------------------------------------------------------------------------------------
// Inputs

#[test]
fn input_missing_path() {
    let sb = Sandbox::new();
    sb.run(&["nearest", "peace", "no/such/dir"])
        .fails(1, &["no/such/dir", "does not exist"]);
}

#[test]
fn input_empty_directory() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.path("empty")).unwrap();
    sb.run(&["themes", "empty"])
        .fails(1, &["no .txt, .md, .jsonl, .html or .pdf files in empty"]);
}

#[test]
fn include_and_exclude_narrow_a_folder_and_say_when_nothing_is_left() {
    let sb = Sandbox::new();
    sb.write(
        "site/a.txt",
        "The alliance met in Brussels to discuss the peace plan for Ukraine.\n",
    );
    sb.write(
        "site/news/b.html",
        "<p>Europe asks for a seat at the table in the peace talks on Ukraine.</p>",
    );
    sb.write(
        "site/news/old/c.md",
        "Security guarantees were the main subject of the ministers' talks.\n",
    );
    let docs = |out: Outcome| -> Vec<String> {
        let hits: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let mut docs: Vec<String> = hits
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["doc"].as_str().unwrap().to_string())
            .collect();
        docs.sort();
        docs
    };
    let nearest = ["nearest", "peace", "site", "--json", "-k", "5"];
    let with = |extra: &[&str]| docs(sb.run(&[&nearest[..], extra].concat()).ok());
    assert_eq!(with(&["--include", "*.html"]), ["site/news/b.html"]);
    assert_eq!(
        with(&["--exclude", "news/old/**"]),
        ["site/a.txt", "site/news/b.html"]
    );
    assert_eq!(
        with(&["--include", "news/**", "--exclude", "*.md"]),
        ["site/news/b.html"]
    );
    sb.run(&[&nearest[..], &["--include", "*.pdf"]].concat())
        .fails(1, &["no files in site pass --include / --exclude"]);
    sb.run(&[&nearest[..], &["--include", "a[b"]].concat())
        .fails(1, &["bad glob \"a[b\""]);
}

#[test]
fn input_directory_without_text_files() {
    let sb = Sandbox::new();
    sb.write("docs/report.docx", b"PK\x03\x04");
    sb.write("docs/table.csv", "a,b\n1,2\n");
    sb.run(&["nearest", "peace", "docs"])
        .fails(1, &["no .txt, .md, .jsonl, .html or .pdf files in docs"]);
    // A folder whose only PDF cannot be read says why, then that nothing is left.
    sb.write("docs/report.pdf", b"%PDF-1.4");
    let out = sb
        .run(&["nearest", "peace", "docs"])
        .fails(1, &["no paragraphs to work on in docs: no text"]);
    assert!(
        out.stderr
            .contains("themescope: warning: skipped docs/report.pdf: not a readable PDF"),
        "{}",
        out.stderr
    );
}

#[test]
fn input_empty_file() {
    let sb = Sandbox::new();
    sb.write("empty.txt", "");
    sb.run(&["themes", "empty.txt"])
        .fails(1, &["no paragraphs to work on in empty.txt", "no text"]);
}

#[test]
fn input_file_of_only_blank_lines() {
    let sb = Sandbox::new();
    sb.write("blank.md", "\n\n   \n\t\n\r\n");
    sb.run(&["nearest", "peace", "blank.md"])
        .fails(1, &["no paragraphs to work on in blank.md", "no text"]);
}

#[test]
fn input_binary_file_among_text_files_is_skipped_with_a_warning() {
    let sb = Sandbox::new();
    sb.write("articles/a.txt", PARAGRAPHS);
    let mut binary = b"PK\x03\x04".to_vec();
    binary.extend((0..4096u32).map(|i| (i * 7 % 256) as u8));
    sb.write("articles/b.txt", binary);
    let out = sb
        .run(&["nearest", "security guarantees", "articles", "--json"])
        .ok();
    assert!(
        out.stderr.contains("warning: skipped ") && out.stderr.contains("b.txt: binary file"),
        "{}",
        out.stderr
    );
    let hits: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits
        .iter()
        .all(|h| h["doc"].as_str().unwrap().ends_with("a.txt")));
    assert!(hits[0]["text"]
        .as_str()
        .unwrap()
        .contains("Security guarantees"));
}

#[test]
fn input_invalid_utf8_is_replaced_with_a_warning_naming_file_and_line() {
    let sb = Sandbox::new();
    let mut bytes = b"The first paragraph is plain ASCII text about NATO.\n\n".to_vec();
    bytes.extend(b"The third line has a stray byte \xff\xfe in Latin-1 caf\xe9 text.\n");
    let path = sb.write("latin1.txt", &bytes);
    let corpus = load(&[&path]).unwrap();
    assert_eq!(corpus.paragraphs.len(), 2);
    assert!(corpus.paragraphs[1].text.contains('\u{fffd}'));
    assert_eq!(corpus.paragraphs[1].line, 3);
    assert_eq!(corpus.warnings.len(), 1, "{:?}", corpus.warnings);
    assert!(
        matches!(&corpus.warnings[0], Warning::InvalidUtf8 { doc, line: 3 } if doc.ends_with("latin1.txt")),
        "{:?}",
        corpus.warnings
    );
    let out = sb.run(&["nearest", "NATO", "latin1.txt", "-q"]).ok();
    assert!(out.stdout.contains("latin1.txt:1"), "{}", out.stdout);
}

#[test]
fn input_crlf_and_utf8_bom_read_like_plain_lf() {
    let sb = Sandbox::new();
    let lf = "Title Of The Article Here\n\nFirst paragraph about the NATO summit in Brussels.\nSecond paragraph about the peace talks and Ukraine.\n";
    let crlf = format!("\u{feff}{}", lf.replace('\n', "\r\n"));
    let a = sb.write("lf.txt", lf);
    let b = sb.write("crlf.txt", crlf);
    let (a, b) = (load(&[&a]).unwrap(), load(&[&b]).unwrap());
    let view = |c: &Corpus| -> Vec<(usize, String, ParagraphKind)> {
        c.paragraphs
            .iter()
            .map(|p| (p.line, p.text.clone(), p.kind))
            .collect()
    };
    assert_eq!(view(&a), view(&b));
    assert_eq!(b.paragraphs[0].text, "Title Of The Article Here");
    assert!(b.warnings.is_empty());
}

#[test]
fn input_fifty_megabyte_single_line_is_cut_with_a_warning() {
    let sb = Sandbox::new();
    let sentence = "The alliance discussed security guarantees for Ukraine in Brussels. ";
    let line = sentence.repeat(50 * 1024 * 1024 / sentence.len() + 1);
    assert!(line.len() >= 50 * 1024 * 1024);
    sb.write("huge.txt", format!("{line}\n"));
    let out = sb
        .run(&["embed", "huge.txt", "-o", "huge.npy", "--truncate"])
        .ok();
    assert!(
        out.stderr.contains("huge.txt:1: paragraph of")
            && out.stderr.contains("cut to 100000 (--max-chars)"),
        "{}",
        out.stderr
    );
    let vectors = read_npy(&sb.path("huge.npy"));
    assert_eq!(vectors.dim(), (1, 384));
}

#[test]
fn input_ten_thousand_word_paragraph_is_embedded_as_windows() {
    let sb = Sandbox::new();
    let words = "the ceasefire line along the river was monitored by observers every night";
    let long: Vec<&str> = words.split(' ').cycle().take(10_000).collect();
    let text = format!(
        "{}.\nA recipe for apple pie with cinnamon and butter.\nThe football match ended in a draw after extra time.\n",
        long.join(" ")
    );
    sb.write("long.txt", text);
    let out = sb
        .run(&["nearest", "monitoring the ceasefire", "long.txt", "--json"])
        .ok();
    assert!(
        out.stderr
            .contains("1 longer than 256 tokens embedded as windows"),
        "{}",
        out.stderr
    );
    let hits: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(hits[0]["line"], 1, "{}", out.stdout);
    assert!(hits[0]["score"].as_f64().unwrap() > 0.4);
}

#[test]
fn input_jsonl_with_a_malformed_line_names_file_and_line() {
    let sb = Sandbox::new();
    sb.write(
        "records.jsonl",
        "{\"text\": \"NATO ministers met in Brussels on Wednesday.\"}\n\n{\"text\": \"unterminated\n",
    );
    sb.run(&["nearest", "peace", "records.jsonl"])
        .fails(1, &["records.jsonl:3: not valid JSON"]);
}

#[test]
fn input_jsonl_without_a_text_field() {
    let sb = Sandbox::new();
    sb.write(
        "records.jsonl",
        "{\"text\": \"NATO ministers met in Brussels on Wednesday.\"}\n{\"body\": \"no text field\"}\n",
    );
    sb.run(&["themes", "records.jsonl"])
        .fails(1, &["records.jsonl:2: record has no \"text\" field"]);
}

#[test]
fn input_jsonl_with_a_non_string_text() {
    let sb = Sandbox::new();
    sb.write(
        "records.jsonl",
        "{\"text\": \"NATO ministers met in Brussels on Wednesday.\"}\n{\"text\": 42}\n",
    );
    sb.run(&["embed", "records.jsonl", "--format", "jsonl"])
        .fails(
            1,
            &["records.jsonl:2: \"text\" must be a string, found a number"],
        );
}

#[test]
fn input_duplicate_paragraphs_keep_their_own_ids_and_equal_vectors() {
    let sb = Sandbox::new();
    let repeated = "Security guarantees for Ukraine were the main subject of the talks.";
    sb.write(
        "dup.txt",
        format!("{repeated}\n{PARAGRAPHS}{repeated}\n{repeated}\n"),
    );
    // JSONL ids given twice are made unique, with a warning.
    sb.write(
        "dup.jsonl",
        "{\"id\": \"a\", \"text\": \"The summit ended without a joint statement on Ukraine.\"}\n{\"id\": \"a\", \"text\": \"Ministers will meet again in Brussels next month.\"}\n",
    );
    let out = sb
        .run(&["embed", "dup.txt", "dup.jsonl", "-o", "v.npy"])
        .ok();
    assert!(
        out.stderr
            .contains("dup.jsonl:2: id \"a\" is already used; this paragraph is"),
        "{}",
        out.stderr
    );
    let ids: Vec<serde_json::Value> = read_jsonl(&sb.path("v.ids.jsonl"));
    let id_list: Vec<&str> = ids.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let unique: std::collections::HashSet<&&str> = id_list.iter().collect();
    assert_eq!(unique.len(), id_list.len(), "{id_list:?}");
    assert_eq!(id_list.len(), 8);
    let vectors = read_npy(&sb.path("v.npy"));
    let rows: Vec<usize> = ids
        .iter()
        .enumerate()
        .filter(|(_, r)| r["text"] == repeated)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(rows.len(), 3);
    for &r in &rows[1..] {
        assert_eq!(vectors.row(r), vectors.row(rows[0]));
    }
    sb.run(&["themes", "dup.txt", "-q"]).ok();
}

#[test]
fn input_non_latin_scripts_and_emoji() {
    let sb = Sandbox::new();
    sb.write(
        "scripts.txt",
        "北约外长在布鲁塞尔举行会议，讨论乌克兰和平计划。\n\
         Министры иностранных дел НАТО обсудили в Брюсселе мирный план для Украины.\n\
         ناقش وزراء خارجية حلف الناتو خطة السلام لأوكرانيا في بروكسل.\n\
         The allies 🤝 agreed on the plan 🕊️ for peace talks in Brussels 🇪🇺 today.\n",
    );
    let corpus = load(&[&sb.path("scripts.txt")]).unwrap();
    assert_eq!(corpus.paragraphs.len(), 4, "{:?}", corpus.skipped);
    let out = sb.run(&["embed", "scripts.txt", "--format", "jsonl"]).ok();
    let records: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    for record in &records {
        let vector: Vec<f64> = record["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert!(vector.iter().all(|x| x.is_finite()));
        let norm = vector.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    assert!(records[3]["text"].as_str().unwrap().contains('🤝'));
    sb.run(&["themes", "scripts.txt", "-q"]).ok();
}

// ---------------------------------------------------------------------------------------------
// Parameters

#[test]
fn param_k_zero() {
    let sb = Sandbox::new();
    sb.run(&["themes", CORPUS, "-k", "0"])
        .fails(2, &["'0'", "k must be at least 1"]);
    sb.run(&["nearest", "peace", CORPUS, "-k", "0"])
        .fails(2, &["'0'", "-k"]);
    assert!(!sb.cache_dir().exists(), "refused before any embedding");
}

#[test]
fn param_k_larger_than_the_paragraphs() {
    let sb = Sandbox::new();
    sb.write("three.txt", PARAGRAPHS);
    sb.run(&["themes", "three.txt", "-k", "4"]).fails(
        2,
        &["k = 4 is more than the 3 paragraphs", "at most 3 themes"],
    );
    let out = sb
        .run(&["nearest", "peace", "three.txt", "-k", "50", "--json"])
        .ok();
    let hits: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 3, "all there are");
}

#[test]
fn param_one_paragraph_only() {
    let sb = Sandbox::new();
    sb.write(
        "one.txt",
        "NATO foreign ministers met in Brussels to discuss the peace plan.\n",
    );
    let out = sb.run(&["themes", "one.txt"]).ok();
    assert!(
        out.stdout
            .starts_with("1 theme in 1 paragraph from 1 document"),
        "{}",
        out.stdout
    );
    // Density needs min_points neighbours: one paragraph cannot form a dense group.
    sb.run(&["themes", "one.txt", "--method", "density"])
        .fails(1, &["no dense groups", "--method kmeans"]);
    let out = sb
        .run(&["similarity", "--matrix", "one.txt", "--json"])
        .ok();
    assert!(out.stdout.contains("1.0"), "{}", out.stdout);
}

#[test]
fn param_all_paragraphs_identical() {
    let sb = Sandbox::new();
    let line = "The same paragraph about NATO and the peace talks in Brussels.\n";
    sb.write("same.txt", line.repeat(12));
    let out = sb.run(&["themes", "same.txt", "--format", "json"]).ok();
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["themes"].as_array().unwrap().len(), 1);
    let out = sb.run(&["themes", "same.txt", "-k", "3"]).ok();
    assert!(
        out.stderr.contains("asked for 3 themes, found 1"),
        "{}",
        out.stderr
    );
    sb.run(&["themes", "same.txt", "--method", "density", "-q"])
        .ok();
}

#[test]
fn param_empty_query() {
    let sb = Sandbox::new();
    sb.run(&["nearest", "", CORPUS])
        .fails(2, &["the query is empty"]);
    sb.run(&["nearest", "  \t ", CORPUS])
        .fails(2, &["the query is empty"]);
    sb.run(&["similarity", "", "peace talks"])
        .fails(2, &["empty text"]);
}

#[test]
fn param_negative_or_absurd_k() {
    let sb = Sandbox::new();
    sb.run(&["nearest", "peace", CORPUS, "-k", "-3"])
        .fails(2, &["'-3'", "-k"]);
    sb.run(&["nearest", "peace", CORPUS, "-k", "99999999999999999999999"])
        .fails(2, &["number too large"]);
    sb.run(&["themes", CORPUS, "-k", "-2"])
        .fails(2, &["'-2'", "k must be at least 1"]);
    sb.run(&["themes", CORPUS, "-k", "banana"])
        .fails(2, &["not a number of themes"]);
    sb.run(&["themes", CORPUS, "-k", "100000"])
        .fails(2, &["more than the 66 paragraphs"]);
}

#[test]
fn param_unknown_format() {
    let sb = Sandbox::new();
    sb.run(&["themes", CORPUS, "--format", "pdf"])
        .fails(2, &["'pdf'", "possible values: text, markdown, json, html"]);
    sb.run(&["embed", CORPUS, "--format", "csv"])
        .fails(2, &["'csv'", "jsonl"]);
}

// ---------------------------------------------------------------------------------------------
// Model

/// A copy of the real model directory to damage.
fn model_copy(sb: &Sandbox) -> PathBuf {
    let dir = sb.path("model");
    for entry in walkdir::WalkDir::new(&real_model().path) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&real_model().path).unwrap();
        let target = dir.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
    dir
}

fn with_model(sb: &Sandbox, model: &Path, args: &[&str]) -> Outcome {
    outcome(sb.command_with_model(model, args).output().unwrap())
}

#[test]
fn model_missing_directory() {
    let sb = Sandbox::new();
    with_model(&sb, Path::new("/no/such/model"), &["similarity", "a", "b"])
        .fails(1, &["/no/such/model", "does not exist", "--model DIR"]);
}

#[test]
fn model_missing_file() {
    let sb = Sandbox::new();
    let model = model_copy(&sb);
    std::fs::remove_file(model.join("tokenizer.json")).unwrap();
    with_model(&sb, &model, &["similarity", "a", "b"]).fails(
        1,
        &[
            "tokenizer.json is missing",
            "not a complete sentence-transformers model directory",
        ],
    );
}

#[test]
fn model_truncated_weights() {
    let sb = Sandbox::new();
    let model = model_copy(&sb);
    let weights = std::fs::OpenOptions::new()
        .write(true)
        .open(model.join("model.safetensors"))
        .unwrap();
    weights.set_len(1_000_000).unwrap();
    drop(weights);
    with_model(&sb, &model, &["similarity", "a", "b"])
        .fails(1, &["model.safetensors", "damaged or incomplete"]);
}

#[test]
fn model_truncated_or_bit_flipped_weights_in_the_store_fail_the_checksum() {
    let sb = Sandbox::new();
    let stored = sb.home.path().join("models/all-MiniLM-L6-v2");
    std::fs::create_dir_all(stored.parent().unwrap()).unwrap();
    std::fs::rename(model_copy(&sb), &stored).unwrap();
    let run = |sb: &Sandbox| {
        Outcome::of(themescope(sb.home.path()).args(["similarity", "peace talks", "a ceasefire"]))
    };
    run(&sb).ok();

    let weights = stored.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[45_000_000] ^= 0x10;
    std::fs::write(&weights, &bytes).unwrap();
    run(&sb).fails(
        1,
        &[
            "model.safetensors is corrupt: sha256",
            "themescope model fetch --force",
        ],
    );

    bytes[45_000_000] ^= 0x10;
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&weights, &bytes).unwrap();
    run(&sb).fails(1, &["model.safetensors is corrupt: sha256"]);
}

#[test]
fn model_config_json_that_does_not_parse() {
    let sb = Sandbox::new();
    let model = model_copy(&sb);
    std::fs::write(
        model.join("config.json"),
        "{\"vocab_size\": 30522, \"hidden",
    )
    .unwrap();
    with_model(&sb, &model, &["similarity", "a", "b"]).fails(1, &["cannot parse", "config.json"]);
    std::fs::write(model.join("config.json"), "[1, 2, 3]").unwrap();
    with_model(&sb, &model, &["similarity", "a", "b"]).fails(1, &["cannot parse", "config.json"]);
}

#[test]
fn model_tokenizer_for_another_vocabulary() {
    let sb = Sandbox::new();
    let tiny = tiny_model_dir(&Tiny::default());
    std::fs::copy(
        real_model().path.join("tokenizer.json"),
        tiny.path().join("tokenizer.json"),
    )
    .unwrap();
    with_model(&sb, tiny.path(), &["similarity", "a", "b"]).fails(
        1,
        &["tokenizer.json", "30522 tokens", "belongs to another model"],
    );
}

/// A Hugging Face cache holding the model's files (as an earlier download left them).
fn hub_cache(files_from: &Path) -> tempfile::TempDir {
    let hf_home = tempfile::tempdir().unwrap();
    let manifest = &themescope::model::known_models()[0];
    let snapshot = hf_home
        .path()
        .join("hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots")
        .join(&manifest.revision);
    for file in &manifest.files {
        let target = snapshot.join(&file.path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(files_from.join(&file.path), target).unwrap();
    }
    hf_home
}

fn fetch(home: &Path, hf_home: &Path) -> Outcome {
    let out = themescope(home)
        .env("HF_HOME", hf_home)
        .env("HF_HUB_OFFLINE", "1")
        .env("THEMESCOPE_PYTHON", "/no/such/python3")
        .args(["model", "fetch", "-q"])
        .output()
        .unwrap();
    outcome(out)
}

#[test]
fn model_interrupted_fetch_is_never_used_and_the_next_fetch_starts_clean() {
    let sb = Sandbox::new();
    let store = themescope::model::Store::new(sb.home.path().to_path_buf());
    let manifest = &themescope::model::known_models()[0];
    let models = sb.home.path().join("models");

    // A fetch killed mid-download leaves its staging directory with a partial file.
    let staging = models.join(".fetch-all-MiniLM-L6-v2-killed");
    std::fs::create_dir_all(&staging).unwrap();
    let partial = std::fs::read(real_model().path.join("model.safetensors")).unwrap();
    std::fs::write(staging.join("model.safetensors"), &partial[..5_000_000]).unwrap();
    assert!(!store.is_installed(manifest));

    // A download that stopped half-way in the hub cache is caught by the checksum.
    let copy = model_copy(&sb);
    let weights = std::fs::OpenOptions::new()
        .write(true)
        .open(copy.join("model.safetensors"))
        .unwrap();
    weights.set_len(5_000_000).unwrap();
    drop(weights);
    let broken_hub = hub_cache(&copy);
    fetch(sb.home.path(), broken_hub.path()).fails(1, &["model.safetensors", "sha256"]);
    assert!(!store.is_installed(manifest));
    assert!(!store.model_path(&manifest.name).exists());

    // The next fetch, from a complete source, installs a verified model and clears the debris.
    let hub = hub_cache(&real_model().path);
    fetch(sb.home.path(), hub.path()).ok();
    assert!(store.is_installed(manifest));
    store.open(manifest).unwrap();
    let leftovers: Vec<String> = std::fs::read_dir(&models)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".fetch-") || n.starts_with(".old-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

// No hub and no pip: tests/model_store.rs, no_hub_and_no_pip_says_what_to_do.

// ---------------------------------------------------------------------------------------------
// Output

#[test]
fn output_in_a_missing_directory() {
    let sb = Sandbox::new();
    sb.run(&["themes", CORPUS, "-o", "no/such/report.txt"])
        .fails(
            1,
            &["no/such/report.txt", "directory no/such does not exist"],
        );
    sb.run(&["embed", CORPUS, "-o", "nowhere/v.npy"])
        .fails(1, &["nowhere/v.npy", "does not exist"]);
    assert!(!sb.cache_dir().exists(), "refused before any embedding");
}

/// Runs `themescope ARGS` with a fresh tmpfs mounted (with `options`) on `dir`, in a mount
/// namespace of its own, then lists `dir` on stdout; None where namespaces are not allowed.
fn with_tmpfs(sb: &Sandbox, dir: &Path, options: &str, args: &[&str]) -> Option<Outcome> {
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return None;
    }
    let script = r#"mount -t tmpfs -o "$1" tmpfs "$2" || exit 99
dir=$2; shift 2
"$@" > /dev/null; code=$?
ls -A "$dir"; exit $code"#;
    let themescope = sb.command(args);
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        script,
        "sh",
    ])
    .arg(options)
    .arg(dir)
    .arg(themescope.get_program())
    .args(themescope.get_args())
    .current_dir(sb.dir.path())
    .envs(
        themescope
            .get_envs()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
    )
    .env_remove("THEMESCOPE_MODEL")
    .stdin(Stdio::null());
    let out = outcome(cmd.output().unwrap());
    assert_ne!(out.code, Some(99), "mount failed: {}", out.stderr);
    Some(out)
}

#[test]
fn output_in_a_read_only_directory() {
    let sb = Sandbox::new();
    let dir = sb.path("readonly");
    std::fs::create_dir(&dir).unwrap();
    let args = ["themes", CORPUS, "-o", "readonly/report.txt"];
    match with_tmpfs(&sb, &dir, "ro", &args) {
        Some(out) => {
            let out = Outcome {
                stderr: out.stderr,
                ..out
            };
            assert!(
                out.stdout.trim().is_empty(),
                "nothing written: {}",
                out.stdout
            );
            out.fails(
                1,
                &["cannot write readonly/report.txt", "read-only file system"],
            );
        }
        None => {
            // Without mount namespaces: permissions, which bind everyone but root.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
            sb.run(&args).fails(
                1,
                &["cannot write readonly/report.txt", "permission denied"],
            );
        }
    }
    assert!(!sb.cache_dir().exists(), "refused before any embedding");
}

#[test]
fn output_existing_file_is_never_clobbered_without_force() {
    let sb = Sandbox::new();
    sb.write("report.txt", "precious");
    sb.run(&["themes", CORPUS, "-o", "report.txt"])
        .fails(1, &["report.txt already exists", "--force"]);
    assert_eq!(
        std::fs::read_to_string(sb.path("report.txt")).unwrap(),
        "precious"
    );

    // For embed, either file of the pair counts.
    sb.write("v.ids.jsonl", "precious");
    sb.run(&["embed", CORPUS, "-o", "v.npy"])
        .fails(1, &["v.ids.jsonl already exists"]);
    assert!(!sb.path("v.npy").exists());
    assert_eq!(
        std::fs::read_to_string(sb.path("v.ids.jsonl")).unwrap(),
        "precious"
    );

    sb.run(&["themes", CORPUS, "-o", "report.txt", "--force", "-q"])
        .ok();
    assert!(std::fs::read_to_string(sb.path("report.txt"))
        .unwrap()
        .contains("themes in 66 paragraphs"));
    sb.run(&["embed", CORPUS, "-o", "v.npy", "--force", "-q"])
        .ok();
    assert_eq!(read_npy(&sb.path("v.npy")).nrows(), 66);
    assert_eq!(sb.listing(), ["report.txt", "v.ids.jsonl", "v.npy"]);
}

#[test]
fn output_on_a_full_disk_fails_cleanly() {
    let sb = Sandbox::new();
    let dir = sb.path("small");
    std::fs::create_dir(&dir).unwrap();
    // 66 × 384 float32 is 101 KB: more than the 64 KB this disk holds.
    let Some(out) = with_tmpfs(
        &sb,
        &dir,
        "size=64k",
        &["embed", CORPUS, "-o", "small/v.npy", "-q"],
    ) else {
        eprintln!("output_on_a_full_disk_fails_cleanly: no mount namespaces here; not simulated");
        return;
    };
    assert!(
        out.stdout.trim().is_empty(),
        "no partial file left: {}",
        out.stdout
    );
    let out = Outcome {
        stdout: String::new(),
        ..out
    };
    out.fails(1, &["cannot write small/v.npy", "no space left on device"]);
}

#[test]
fn output_stdout_closed_early() {
    let sb = Sandbox::new();
    for args in [
        &["embed", CORPUS, "--format", "jsonl", "-q"][..],
        &["themes", CORPUS, "-q"][..],
    ] {
        let mut child = sb
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 16];
        std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
        drop(stdout);
        let out = outcome(child.wait_with_output().unwrap());
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
        assert!(out.stderr.is_empty(), "{args:?}: {}", out.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// Cache

#[test]
fn cache_corrupt_or_truncated_entry_is_detected_and_rebuilt() {
    let sb = Sandbox::new();
    sb.run(&["embed", CORPUS, "-o", "first.npy", "-q"]).ok();
    let first = read_npy(&sb.path("first.npy"));
    let packs = sb.cache_packs();
    assert_eq!(packs.len(), 1, "{packs:?}");

    let mut bytes = std::fs::read(&packs[0]).unwrap();
    bytes[5000] ^= 0x01;
    std::fs::write(&packs[0], &bytes).unwrap();
    let out = sb.run(&["embed", CORPUS, "-o", "second.npy", "-v"]).ok();
    assert!(
        out.stderr.contains("removed 1 damaged cache files"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("from cache"), "{}", out.stderr);
    assert_eq!(read_npy(&sb.path("second.npy")), first);

    let packs = sb.cache_packs();
    assert_eq!(packs.len(), 1);
    let bytes = std::fs::read(&packs[0]).unwrap();
    std::fs::write(&packs[0], &bytes[..bytes.len() / 2]).unwrap();
    let out = sb.run(&["embed", CORPUS, "-o", "third.npy", "-v"]).ok();
    assert!(out.stderr.contains("removed 1 damaged cache files"));
    assert_eq!(read_npy(&sb.path("third.npy")), first);

    let out = sb.run(&["embed", CORPUS, "-o", "fourth.npy"]).ok();
    assert!(out.stderr.contains("66 from cache"), "{}", out.stderr);
    assert_eq!(read_npy(&sb.path("fourth.npy")), first);
}

#[test]
fn cache_two_processes_embedding_the_same_corpus_at_once() {
    let sb = Sandbox::new();
    let spawn = |name: &str| {
        sb.command(&["embed", CORPUS, "-o", name, "-q"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a.npy"), spawn("b.npy"));
    outcome(a.wait_with_output().unwrap()).ok();
    outcome(b.wait_with_output().unwrap()).ok();
    let (a, b) = (read_npy(&sb.path("a.npy")), read_npy(&sb.path("b.npy")));
    assert_eq!(a, b);
    assert_eq!(a.nrows(), 66);

    let out = sb.run(&["embed", CORPUS, "-o", "c.npy", "-v"]).ok();
    assert!(out.stderr.contains("66 from cache"), "{}", out.stderr);
    assert!(!out.stderr.contains("damaged"), "{}", out.stderr);
    assert_eq!(read_npy(&sb.path("c.npy")), a);
    let temporary: Vec<PathBuf> = sb
        .cache_packs()
        .into_iter()
        .filter(|p| p.extension().is_none_or(|x| x != "pack"))
        .collect();
    assert!(temporary.is_empty(), "{temporary:?}");
}

#[test]
fn cache_that_cannot_be_written_does_not_fail_the_run() {
    let sb = Sandbox::new();
    // THEMESCOPE_HOME is a file: no cache directory can be made under it.
    let home_file = sb.write("home-is-a-file", "x");
    let out = outcome(
        sb.command(&["nearest", "security guarantees", CORPUS, "-k", "1"])
            .env("THEMESCOPE_HOME", &home_file)
            .output()
            .unwrap(),
    )
    .ok();
    assert!(
        out.stderr
            .contains("warning: new vectors not cached: embedding cache"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("001_f3dada96465da5af.txt:9"),
        "{}",
        out.stdout
    );
}

// ---------------------------------------------------------------------------------------------
// Interrupt

#[test]
fn interrupt_during_a_long_embed_writes_nothing_and_keeps_the_cache_consistent() {
    let sb = Sandbox::new();
    let sentences = [
        "The ministers discussed the peace plan for Ukraine in Brussels on Wednesday",
        "Security guarantees were the main subject of the talks between the allies",
        "Europe worries that it has been left out of the negotiations with Moscow",
    ];
    let text: String = (0..600)
        .map(|i| format!("{} (paragraph {i}).\n", sentences[i % 3]))
        .collect();
    sb.write("many.txt", text);
    let mut child = sb
        .command(&["embed", "many.txt", "-o", "many.npy", "-v", "--batch", "8"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    // The model is loaded after the corpus: from here on the run is embedding.
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0 {
        if line.contains("loaded in") {
            break;
        }
        line.clear();
    }
    assert!(line.contains("loaded in"), "{line}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(
        rest.contains("themescope: interrupted: no output was written"),
        "{rest}"
    );
    assert_eq!(sb.listing(), ["many.txt"], "no output, no temporary file");

    let out = sb.run(&["embed", "many.txt", "-o", "many.npy", "-v"]).ok();
    assert!(!out.stderr.contains("damaged"), "{}", out.stderr);
    assert_eq!(read_npy(&sb.path("many.npy")).nrows(), 600);
}

#[test]
fn interrupt_keeps_the_vectors_of_finished_slices_in_the_cache() {
    let model = tiny_model_dir(&Tiny::default());
    let model_dir = themescope::model::ModelDir::open(model.path()).unwrap();
    let mut embedder = Embedder::from_model(
        &model_dir,
        EmbedOptions {
            batch_size: 64,
            long_text: LongText::default(),
            ..EmbedOptions::default()
        },
    )
    .unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    embedder.set_cancel(flag.clone());
    let cache_root = tempfile::tempdir().unwrap();
    let cache = EmbeddingCache::new(cache_root.path(), "tiny", 16, LongText::default());
    let texts: Vec<String> = (0..3000)
        .map(|i| format!("the nato alliance and ukraine peace talks {i}"))
        .collect();

    let result = embed_cached(&embedder, Some(&cache), &texts, &mut |done, _| {
        if done > 2500 {
            flag.store(true, Ordering::Relaxed);
        }
    });
    assert!(
        matches!(result, Err(EmbedError::Interrupted(_))),
        "{result:?}"
    );

    flag.store(false, Ordering::Relaxed);
    let (vectors, _, stats) =
        embed_cached(&embedder, Some(&cache), &texts, &mut |_, _| {}).unwrap();
    assert_eq!(
        stats.hits, 2048,
        "the first slice was stored before the interrupt"
    );
    assert_eq!(stats.misses, 3000 - 2048);
    let fresh = embedder.embed(&texts).unwrap().vectors;
    let (min, _) = min_row_cosine(&vectors, &fresh);
    assert!(min > 0.99999, "{min}");
}

// ---------------------------------------------------------------------------------------------
// Behaviour

#[test]
fn errors_are_one_line_and_verbose_adds_the_cause_chain() {
    let sb = Sandbox::new();
    let model = model_copy(&sb);
    let weights = std::fs::OpenOptions::new()
        .write(true)
        .open(model.join("model.safetensors"))
        .unwrap();
    weights.set_len(1_000_000).unwrap();
    drop(weights);
    with_model(&sb, &model, &["similarity", "a", "b"]).fails(1, &["model.safetensors"]);
    let out = with_model(&sb, &model, &["-v", "similarity", "a", "b"]);
    assert_eq!(out.code, Some(1));
    let lines: Vec<&str> = out.stderr.trim().lines().collect();
    assert!(lines.len() >= 2, "{}", out.stderr);
    assert!(
        lines[1].trim_start().starts_with("caused by: "),
        "{}",
        out.stderr
    );
}

#[test]
fn usage_errors_are_one_line_with_exit_code_two() {
    let sb = Sandbox::new();
    sb.run(&["frobnicate"])
        .fails(2, &["unrecognized subcommand 'frobnicate'", "--help"]);
    sb.run(&["nearest"])
        .fails(2, &["required arguments were not provided", "<QUERY>"]);
    sb.run(&["themes", CORPUS, "--batch", "0"])
        .fails(2, &["--batch"]);
}

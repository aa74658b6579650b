//! The Python package (`bindings/python`): its wheel built by maturin (the PEP 517 backend, from
//! PyPI) and installed into a fresh venv outside the project, then used as a Python user would:
//! vectors and theme reports equal to the command line's, the GIL released, Ctrl-C, errors,
//! the `themescope` command the wheel installs, and the README's quick start.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// The package's venv, made once per test run.
fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| venv_with_wheel("themescope-test-python-package", &[]))
        .as_deref()
}

/// Runs `script` in the package's venv with `home` as THEMESCOPE_HOME and the real model as
/// THEMESCOPE_MODEL, from the project root; its stdout, or a failure with its stderr.
fn run_python(python: &Path, home: &Path, script: &str, args: &[&Path]) -> String {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .current_dir(project_dir())
        .env("THEMESCOPE_HOME", home)
        .env("THEMESCOPE_MODEL", &real_model().path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The sample corpus's paragraphs as the command line reads them: (id, text) per paragraph.
fn sample_paragraphs(home: &Path, dir: &Path) -> PathBuf {
    let npy = dir.join("sample.npy");
    Outcome::of(
        themescope_with_real_model(home)
            .args(["-q", "--no-cache", "embed", "data/nato-ukraine", "-o"])
            .arg(&npy),
    )
    .ok();
    npy
}

#[test]
fn vectors_from_python_equal_the_command_lines_bit_for_bit_at_both_precisions() {
    let Some(python) = python() else { return };
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f32_npy = sample_paragraphs(home.path(), dir.path());
    let int8_npy = dir.path().join("int8.npy");
    Outcome::of(
        themescope_with_real_model(home.path())
            .args([
                "-q",
                "--no-cache",
                "--precision",
                "int8",
                "embed",
                "data/nato-ukraine",
            ])
            .arg("-o")
            .arg(&int8_npy),
    )
    .ok();
    let out = run_python(
        python,
        home.path(),
        r#"
import json, sys
import numpy as np
import themescope
texts = [json.loads(l)["text"] for l in open(sys.argv[1][:-4] + ".ids.jsonl")]
for precision, path in (("f32", sys.argv[1]), ("int8", sys.argv[2])):
    got = themescope.Themescope(precision=precision, cache=False).embed(texts)
    want = np.load(path)
    assert got.dtype == np.float32 and got.shape == want.shape, (got.shape, want.shape)
    assert got.tobytes() == want.tobytes(), f"{precision}: vectors differ"
    print(precision, got.shape)
"#,
        &[&f32_npy, &int8_npy],
    );
    assert_eq!(out, "f32 (66, 384)\nint8 (66, 384)\n");
}

#[test]
fn themes_from_python_equal_the_command_lines_json_and_nearest_its_hits() {
    let Some(python) = python() else { return };
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let npy = sample_paragraphs(home.path(), dir.path());
    // The same paragraphs as one JSONL file, with their ids, for the command line.
    let records = dir.path().join("records.jsonl");
    let lines: Vec<String> = read_jsonl(&npy.with_extension("ids.jsonl"))
        .iter()
        .map(|r| serde_json::json!({"id": r["id"], "text": r["text"]}).to_string())
        .collect();
    std::fs::write(&records, lines.join("\n") + "\n").unwrap();
    let cli: serde_json::Value = serde_json::from_str(
        &Outcome::of(
            themescope_with_real_model(home.path())
                .args(["-q", "themes", "--format", "json"])
                .arg(&records),
        )
        .ok()
        .stdout,
    )
    .unwrap();
    let guided: serde_json::Value = serde_json::from_str(
        &Outcome::of(
            themescope_with_real_model(home.path())
                .args(["-q", "themes", "--format", "json"])
                .args([
                    "--theme",
                    "security guarantees",
                    "--theme",
                    "recipes for apple pie",
                ])
                .arg(&records),
        )
        .ok()
        .stdout,
    )
    .unwrap();
    let nearest = Outcome::of(
        themescope_with_real_model(home.path())
            .args([
                "-q",
                "nearest",
                "security guarantees for Ukraine",
                "--json",
                "-k",
                "5",
            ])
            .arg(&records),
    )
    .ok()
    .stdout;
    let out = run_python(
        python,
        home.path(),
        r#"
import json, sys
import themescope
records = [json.loads(l) for l in open(sys.argv[1])]
scope = themescope.Themescope()
report = scope.themes([r["text"] for r in records], ids=[r["id"] for r in records], doc=sys.argv[1])
guided = scope.themes([r["text"] for r in records], ids=[r["id"] for r in records], doc=sys.argv[1],
                      names=["security guarantees", "recipes for apple pie"])
hits = scope.nearest("security guarantees for Ukraine", [r["text"] for r in records], k=5)
print(json.dumps({"report": report, "guided": guided, "hits": [[records[i]["id"], s] for i, s in hits]}))
"#,
        &[&records],
    );
    let python: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        python["report"], cli,
        "Python's report differs from `themes --format json`"
    );
    assert_eq!(
        python["guided"], guided,
        "Python's named themes differ from `themes --theme … --format json`"
    );
    assert_eq!(guided["themes"][0]["given"], true);
    assert_eq!(guided["unmatched"][0]["name"], "recipes for apple pie");
    let nearest: serde_json::Value = serde_json::from_str(&nearest).unwrap();
    let cli_hits: Vec<(String, f64)> = nearest
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            (
                hit["id"].as_str().unwrap().to_string(),
                hit["score"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(cli_hits.len(), 5);
    let py_hits = python["hits"].as_array().unwrap();
    assert_eq!(py_hits.len(), 5);
    for ((id, score), hit) in cli_hits.iter().zip(py_hits) {
        assert_eq!(hit[0].as_str().unwrap(), id);
        assert!(
            (hit[1].as_f64().unwrap() - score).abs() < 1e-3,
            "{hit} vs {score}"
        );
    }
}

#[test]
fn python_threads_embed_at_once_and_ctrl_c_stops_a_long_call() {
    let Some(python) = python() else { return };
    let home = tempfile::tempdir().unwrap();
    let out = run_python(
        python,
        home.path(),
        r#"
import json, os, signal, threading, time
import numpy as np
import themescope
texts = [f"Paragraph {i} on the peace talks, the alliance and the guarantees asked for." for i in range(600)]
scope = themescope.Themescope(cache=False)
alone = scope.embed(texts)
# The GIL is released: another Python thread runs while the native call embeds.
ticks = 0
stop = threading.Event()
def tick():
    global ticks
    while not stop.is_set():
        ticks += 1
        time.sleep(0.001)
ticker = threading.Thread(target=tick)
ticker.start()
start = time.perf_counter()
scope.embed(texts)
one = time.perf_counter() - start
stop.set()
ticker.join()
assert ticks > 10, f"the other thread ran {ticks} times during a {one:.2f}s call"
# Two threads embedding at once, each with a scope of one core.
scopes = [themescope.Themescope(cache=False, threads=1) for _ in range(2)]
start = time.perf_counter()
scopes[0].embed(texts); scopes[0].embed(texts)
serial = time.perf_counter() - start
results = [None, None]
def work(i):
    results[i] = scopes[i].embed(texts)
threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
start = time.perf_counter()
for t in threads: t.start()
for t in threads: t.join()
parallel = time.perf_counter() - start
assert all(np.array_equal(r, alone) for r in results)
# Ctrl-C during a long call: KeyboardInterrupt, and the same object works afterwards. Python's
# own handler first, as an interactive session has it: Python leaves SIGINT ignored when it
# starts ignoring it, as a test run started in the background does.
signal.signal(signal.SIGINT, signal.default_int_handler)
long = texts * 40
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    scope.embed(long)
    raise SystemExit("not interrupted")
except KeyboardInterrupt:
    pass
assert np.array_equal(scope.embed(texts[:10]), alone[:10])
print(f"speed-up {serial / parallel:.2f}")
"#,
        &[],
    );
    assert!(out.starts_with("speed-up "), "{out}");
    eprintln!("two threads, one core each: {}", out.trim());
}

#[test]
fn bad_input_raises_the_python_error_with_the_library_message() {
    let Some(python) = python() else { return };
    let home = tempfile::tempdir().unwrap();
    let out = run_python(
        python,
        home.path(),
        r#"
import themescope
def error(call):
    try:
        call()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return "no error"
print(error(lambda: themescope.Themescope(model="/no/such/model")))
print(error(lambda: themescope.Themescope(precision="fp16")))
scope = themescope.Themescope()
print(error(lambda: scope.embed("one string")))
print(error(lambda: scope.themes(["a", "b"], k=0)))
print(error(lambda: scope.themes(["a", "b"], ids=["1"])))
print(error(lambda: scope.themes(["a"] * 3, k=5)))
print(error(lambda: scope.nearest("", ["a"])))
"#,
        &[],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0],
        "FileNotFoundError: model directory /no/such/model does not exist"
    );
    assert_eq!(
        lines[1],
        "ValueError: precision must be \"f32\" or \"int8\", not \"fp16\""
    );
    assert_eq!(
        lines[2],
        "ValueError: texts must be a list of strings, not one string"
    );
    assert!(
        lines[3].starts_with("ValueError: k must be"),
        "{}",
        lines[3]
    );
    assert_eq!(
        lines[4],
        "ValueError: 1 ids for 2 texts: one id per text is needed"
    );
    assert!(
        lines[5].starts_with("ValueError: 5 themes asked for"),
        "{}",
        lines[5]
    );
    assert_eq!(
        lines[6],
        "ValueError: the query is empty: say what to look for"
    );
}

#[test]
fn the_wheels_themescope_command_is_the_command_line() {
    let Some(python) = python() else { return };
    let home = tempfile::tempdir().unwrap();
    let script = python.with_file_name("themescope");
    let from_wheel = Command::new(&script)
        .args(["themes", "data/nato-ukraine", "--model"])
        .arg(&real_model().path)
        .current_dir(project_dir())
        .env("THEMESCOPE_HOME", home.path())
        .output()
        .unwrap();
    assert!(
        from_wheel.status.success(),
        "{}",
        String::from_utf8_lossy(&from_wheel.stderr)
    );
    let from_cargo =
        Outcome::of(themescope_with_real_model(home.path()).args(["themes", "data/nato-ukraine"]))
            .ok();
    assert_eq!(
        String::from_utf8(from_wheel.stdout).unwrap(),
        from_cargo.stdout
    );
    let usage = Command::new(&script).arg("--bogus").output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn the_readmes_python_quick_start_runs_as_written() {
    let Some(python) = python() else { return };
    let home = tempfile::tempdir().unwrap();
    let readme = std::fs::read_to_string(project_dir().join("README.md")).unwrap();
    let start = "```python\n";
    let at = readme
        .find(start)
        .expect("the README has a Python quick start")
        + start.len();
    let code = &readme[at..at + readme[at..].find("```").unwrap()];
    assert!(
        code.lines().count() <= 6,
        "a quick start of a few lines:\n{code}"
    );
    let out = run_python(python, home.path(), code, &[]);
    assert!(out.starts_with("(3, 384)\n"), "{out}");
}

#[test]
fn a_python_index_equals_the_command_lines_index() {
    let Some(python) = python() else { return };
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let npy = sample_paragraphs(home.path(), dir.path());
    let records = dir.path().join("records.jsonl");
    let lines: Vec<String> = read_jsonl(&npy.with_extension("ids.jsonl"))
        .iter()
        .map(|r| serde_json::json!({"id": r["id"], "text": r["text"]}).to_string())
        .collect();
    std::fs::write(&records, lines.join("\n") + "\n").unwrap();
    let cli_index = dir.path().join("cli-index");
    let cli = |args: &[&str], paths: &[&Path]| {
        let mut command = themescope_with_real_model(home.path());
        command.arg("-q").args(args).args(paths);
        Outcome::of(&mut command).ok().stdout
    };
    cli(&["index", "build", "--index"], &[&cli_index, &records]);
    let query = "security guarantees for Ukraine";
    let cli_hits: serde_json::Value = serde_json::from_str(&cli(
        &["nearest", query, "--json", "-k", "10", "--index"],
        &[&cli_index],
    ))
    .unwrap();
    let cli_themes: serde_json::Value = serde_json::from_str(&cli(
        &["themes", "--format", "json", "--index"],
        &[&cli_index],
    ))
    .unwrap();
    let out = run_python(
        python,
        home.path(),
        r#"
import json, sys
import themescope
records = [json.loads(l) for l in open(sys.argv[1])]
texts, ids = [r["text"] for r in records], [r["id"] for r in records]
def error(call):
    try:
        call()
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    return "no error"
scope = themescope.Themescope()
missing = themescope.Index(sys.argv[2] + "/none", scope)
assert len(missing) == 0
errors = [error(lambda: missing.nearest("peace")), error(lambda: missing.add(texts, ids=ids[:2]))]
index = themescope.Index.build(sys.argv[2] + "/py", texts, ids=ids, doc=sys.argv[1], scope=scope)
again = index.add(texts, ids=ids, doc=sys.argv[1])
files = themescope.Index(sys.argv[2] + "/files", scope).add_files("data/nato-ukraine")
print(json.dumps({
    "rows": len(index),
    "again": again,
    "files": files,
    "hits": index.nearest("security guarantees for Ukraine", k=10),
    "themes": index.themes(),
    "errors": errors,
}))
"#,
        &[&records, dir.path()],
    );
    let python: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(python["rows"], 66);
    assert_eq!(
        python["again"],
        serde_json::json!({"read": 66, "added": 0, "stored": 66, "changed": 0})
    );
    // The sample corpus read from its files, boilerplate left out: the same 66 paragraphs.
    assert_eq!(python["files"]["added"], 66);
    assert_eq!(python["files"]["files"], 5);
    let hits = python["hits"].as_array().unwrap();
    let cli_hits = cli_hits.as_array().unwrap();
    assert_eq!(hits.len(), 10);
    for (ours, theirs) in hits.iter().zip(cli_hits) {
        for key in ["id", "doc", "line", "text"] {
            assert_eq!(ours[key], theirs[key], "{key}");
        }
        let (a, b) = (
            ours["score"].as_f64().unwrap(),
            theirs["score"].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    assert_eq!(
        python["themes"], cli_themes,
        "Python's index themes differ from `themes --index --format json`"
    );
    let errors = python["errors"].as_array().unwrap();
    assert!(
        errors[0]
            .as_str()
            .unwrap()
            .starts_with("FileNotFoundError: ")
            && errors[0]
                .as_str()
                .unwrap()
                .contains("is not a themescope index"),
        "{}",
        errors[0]
    );
    assert_eq!(
        errors[1],
        "ValueError: 2 ids for 66 texts: one id per text is needed"
    );
}

#[test]
fn pip_installs_the_package_from_its_source_directory() {
    let venv = tempfile::tempdir().unwrap();
    if !fresh_venv(venv.path()) {
        return;
    }
    let python = venv.path().join("bin/python");
    let installed = pip_from_source(&python, "install")
        .arg("./bindings/python")
        .current_dir(project_dir())
        .status()
        .unwrap();
    assert!(installed.success(), "pip install ./bindings/python failed");
    let home = tempfile::tempdir().unwrap();
    let out = run_python(
        &python,
        home.path(),
        "import themescope; print(themescope.Themescope().embed(['a']).shape)",
        &[],
    );
    assert_eq!(out, "(1, 384)\n");
}

//! `--precision int8` on the real model: close to f32, the same vectors on every kernel path
//! this CPU runs, and the path named in `bench`.

mod common;

use common::*;
use themescope::embed::int8::{KernelPath, KERNEL_ENV};

fn embed(home: &std::path::Path, out: &std::path::Path, precision: &str, path: Option<&str>) {
    let mut cmd = themescope_with_real_model(home);
    cmd.args(["-q", "--no-cache", "--precision", precision, "embed"])
        .arg("data/nato-ukraine")
        .arg("-o")
        .arg(out);
    match path {
        Some(name) => cmd.env(KERNEL_ENV, name),
        None => cmd.env_remove(KERNEL_ENV),
    };
    Outcome::of(&mut cmd).ok();
}

fn read(path: &std::path::Path) -> ndarray::Array2<f32> {
    ndarray_npy::read_npy(path).unwrap()
}

#[test]
fn int8_vectors_stay_close_to_f32_and_agree_on_every_kernel_path() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f32_path = dir.path().join("f32.npy");
    embed(home.path(), &f32_path, "f32", None);
    let exact = read(&f32_path);

    let mut by_path = Vec::new();
    for path in KernelPath::ALL.into_iter().filter(|p| p.is_available()) {
        let out = dir.path().join(format!("{}.npy", path.name()));
        embed(home.path(), &out, "int8", Some(path.name()));
        by_path.push((path, read(&out)));
    }
    assert!(
        by_path.len() >= 2,
        "the portable path and at least one SIMD path run on x86-64"
    );
    let (first_path, int8) = &by_path[0];
    for (path, other) in &by_path[1..] {
        assert_eq!(
            other,
            int8,
            "{} and {} give the same bits",
            path.name(),
            first_path.name()
        );
    }

    let (worst, at) = min_row_cosine(&exact, int8);
    let mean = exact
        .rows()
        .into_iter()
        .zip(int8.rows())
        .map(|(a, b)| themescope::embed::cosine(a.as_slice().unwrap(), b.as_slice().unwrap()))
        .sum::<f32>()
        / exact.nrows() as f32;
    assert!(worst >= 0.99, "row {at}: cosine {worst} to f32");
    assert!(mean >= 0.998, "mean cosine {mean} to f32");
}

#[test]
fn nearest_in_int8_finds_the_security_guarantees() {
    let home = tempfile::tempdir().unwrap();
    let out = Outcome::of(themescope_with_real_model(home.path()).args([
        "-q",
        "--precision",
        "int8",
        "nearest",
        "security guarantees for Ukraine",
        "data/nato-ukraine",
        "-k",
        "3",
        "--json",
    ]))
    .ok();
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    let first = hits[0]["id"].as_str().unwrap();
    assert!(
        [
            "001_f3dada96465da5af.txt:9",
            "001_f3dada96465da5af.txt:11",
            "001_f3dada96465da5af.txt:12"
        ]
        .iter()
        .any(|id| first.ends_with(id)),
        "{first}"
    );
}

#[test]
fn bench_names_the_int8_kernel_path_it_ran() {
    let home = tempfile::tempdir().unwrap();
    let out = Outcome::of(
        themescope_with_real_model(home.path())
            .env_remove(KERNEL_ENV)
            .args(["--precision", "int8", "bench", "--json"]),
    )
    .ok();
    let summary: serde_json::Value =
        serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["precision"], "int8");
    assert_eq!(summary["kernel"], KernelPath::best().name());
    assert!(summary["texts_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_kernel_path_that_does_not_exist_is_refused_in_one_line() {
    let home = tempfile::tempdir().unwrap();
    Outcome::of(
        themescope_with_real_model(home.path())
            .env(KERNEL_ENV, "sse9")
            .args(["--precision", "int8", "similarity", "a", "b"]),
    )
    .fails(1, &["THEMESCOPE_INT8_KERNEL=sse9", "not a kernel path"]);
}

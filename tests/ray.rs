//! Past one machine, tested: Ray Data embeds 20,000 real paragraphs with two actors, each
//! holding one `themescope.Themescope`, writes Parquet, and every vector equals the one process
//! gives; themes are then fitted on the result (`index import`, `themes --index`) and every
//! row placed. Ray, pyarrow and the package's wheel in a venv the test makes (PyPI).

mod common;

use std::process::Command;

use common::*;

/// Reads the paragraphs, embeds them through Ray and in one process, compares, imports the
/// vectors into an index and fits its themes; prints the throughputs and the report's counts.
const RECIPE: &str = r#"
import json, subprocess, sys, time
import numpy as np
import pyarrow.parquet as pq
import ray
import themescope

eval_dir, work = sys.argv[1], sys.argv[2]
# News snippets, paper titles and caption-like sentences: short real paragraphs, distinct.
texts = [json.loads(l)["text"] for l in open(f"{eval_dir}/ag_news/test.jsonl")]
texts += [json.loads(l)["title"] for l in open(f"{eval_dir}/scifact/corpus.jsonl")]
for name in ("stsb/dev", "stsb/test", "sickr/test"):
    for line in open(f"{eval_dir}/{name}.jsonl"):
        pair = json.loads(line)
        texts += [pair["a"], pair["b"]]
texts = list(dict.fromkeys(texts))[:20_000]
assert len(texts) == 20_000, len(texts)

class Embed:
    """One model per actor, on one core."""
    def __init__(self):
        self.scope = themescope.Themescope(precision="int8", cache=False, threads=1)
    def __call__(self, batch):
        vectors = self.scope.embed(list(batch["text"]))
        return {"id": batch["id"], "text": batch["text"], "vector": vectors}

ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
rates = {}
for actors, rows in ((1, 8_000), (2, 20_000)):
    ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts[:rows])])
    start = time.perf_counter()
    ds.map_batches(
        Embed,
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
        batch_size=500,
        batch_format="numpy",
    ).write_parquet(f"{work}/parquet-{actors}", ray_remote_args={"num_cpus": 0})
    rates[actors] = rows / (time.perf_counter() - start)
ray.shutdown()

table = pq.read_table(f"{work}/parquet-2")
order = np.argsort(table.column("id").to_numpy())
got = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in table.column("vector").to_pylist()])[order]
start = time.perf_counter()
want = themescope.Themescope(precision="int8", cache=False).embed(texts)
one_process = len(texts) / (time.perf_counter() - start)
assert got.shape == want.shape and got.tobytes() == want.tobytes(), "Ray's vectors differ from one process's"

np.save(f"{work}/ray.npy", got)
with open(f"{work}/ray.ids.jsonl", "w") as sidecar:
    for i, text in enumerate(texts):
        sidecar.write(json.dumps({"id": str(i), "doc": "ray", "line": i + 1, "text": text}) + "\n")
command = sys.executable.rsplit("/", 1)[0] + "/themescope"
subprocess.run([command, "-q", "index", "import", f"{work}/ray.npy", "--index", f"{work}/index"], check=True)
report = json.loads(subprocess.run(
    [command, "-q", "--precision", "int8", "themes", "--format", "json", "--index", f"{work}/index"],
    check=True, capture_output=True, text=True).stdout)
print(json.dumps({
    "rows": report["summary"]["paragraphs"],
    "placed": sum(t["size"] for t in report["themes"]),
    "themes": len(report["themes"]),
    "rows_per_s": {"1 actor": round(rates[1]), "2 actors": round(rates[2]), "one process": round(one_process)},
}))
"#;

#[test]
fn ray_data_embeds_with_two_actors_as_one_process_does_and_its_rows_get_themes() {
    let Some(eval) = shared_or_skip("eval") else {
        return;
    };
    let Some(python) = venv_with_wheel("themescope-test-ray", &["ray[data]", "pyarrow"]) else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(&python)
        .arg("-c")
        .arg(RECIPE)
        .arg(&eval)
        .arg(work.path())
        .current_dir(project_dir())
        .env("THEMESCOPE_HOME", home.path())
        .env("THEMESCOPE_MODEL", &real_model().path)
        .env("RAY_AUTH_MODE", "disabled")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Ray recipe failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(summary["rows"], 20_000, "{summary}");
    assert_eq!(summary["placed"], 20_000, "every row in a theme: {summary}");
    assert!(summary["themes"].as_u64().unwrap() >= 2, "{summary}");
    eprintln!("Ray: {summary}");
}

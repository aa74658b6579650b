//! Spark, tested: `mapInPandas` embeds 10,000 real paragraphs on a local Spark of two workers,
//! one `themescope.Themescope` per partition, writes Parquet, and every vector equals the one
//! process gives. pyspark, pandas, pyarrow and the package's wheel in a venv the test makes
//! (PyPI); Spark's JVM is Debian's OpenJDK (`.ci/run` installs it).

mod common;

use std::process::Command;

use common::*;

/// Reads the paragraphs, embeds them through Spark and in one process, compares; prints the
/// throughputs.
const RECIPE: &str = r#"
import json, sys, time
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pyspark.sql import SparkSession
import themescope

eval_dir, work = sys.argv[1], sys.argv[2]
texts = [json.loads(l)["text"] for l in open(f"{eval_dir}/ag_news/test.jsonl")]
texts += [json.loads(l)["title"] for l in open(f"{eval_dir}/scifact/corpus.jsonl")]
texts = list(dict.fromkeys(texts))[:10_000]
assert len(texts) == 10_000, len(texts)

def embed(batches):
    """One model per partition, on one core (Spark runs a task per core)."""
    scope = themescope.Themescope(precision="int8", cache=False, threads=1)
    for batch in batches:
        vectors = scope.embed(list(batch["text"]))
        yield pd.DataFrame({"id": batch["id"], "vector": list(vectors)})

spark = (SparkSession.builder.master("local[2]")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "500")
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
frame = spark.createDataFrame(pd.DataFrame({"id": range(len(texts)), "text": texts})).repartition(2)
start = time.perf_counter()
frame.mapInPandas(embed, "id long, vector array<float>").write.parquet(f"{work}/spark")
spark_rate = len(texts) / (time.perf_counter() - start)
spark.stop()

table = pq.read_table(f"{work}/spark")
order = np.argsort(table.column("id").to_numpy())
got = np.stack([np.asarray(v, dtype=np.float32) for v in table.column("vector").to_pylist()])[order]
start = time.perf_counter()
want = themescope.Themescope(precision="int8", cache=False).embed(texts)
one_process = len(texts) / (time.perf_counter() - start)
assert got.shape == want.shape and got.tobytes() == want.tobytes(), "Spark's vectors differ from one process's"
print(json.dumps({"rows": len(got), "rows_per_s": {"spark, 2 workers": round(spark_rate), "one process": round(one_process)}}))
"#;

#[test]
fn spark_map_in_pandas_embeds_as_one_process_does() {
    let Some(eval) = shared_or_skip("eval") else {
        return;
    };
    let has_java = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_java {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs a Java runtime for Spark (.ci/run)"
        );
        eprintln!("skipped: no Java runtime for Spark here");
        return;
    }
    let Some(python) = venv_with_wheel("themescope-test-spark", &["pyspark", "pandas", "pyarrow"])
    else {
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
        // Spark's workers are this venv's Python, with the package.
        .env("PYSPARK_PYTHON", &python)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Spark recipe failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(summary["rows"], 10_000, "{summary}");
    eprintln!("Spark: {summary}");
}

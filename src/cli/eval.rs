//! `themescope eval`: run a public benchmark set through the model and print its metrics.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use serde_json::json;
use themescope::eval::{self, LabelledSet, RetrievalSet};
use themescope::themes::{plain_kmeans, ThemeCount, ThemeModel, ThemeParams};

use super::args::{EvalTask, GlobalArgs, KArg};
use super::session::Session;
use super::UsageError;

fn round5(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
}

pub fn run(global: &GlobalArgs, task: EvalTask) -> Result<()> {
    let started = Instant::now();
    let (lines, mut summary, json) = match task {
        EvalTask::Sts { file, json } => {
            let pairs = eval::load_sts(&file)?;
            let session = Session::open(global)?;
            let unique = eval::unique_texts(&pairs);
            let (vectors, _, _) = session.embed_texts(&unique, "embedding sentences")?;
            let (a, b) = eval::pair_sides(&pairs, &unique, &vectors);
            let scores = eval::score_sts(&pairs, a.view(), b.view());
            let lines = vec![
                format!("{}: {} pairs", file.display(), scores.n),
                format!(
                    "Spearman {:.5}   Pearson {:.5}   (cosine vs human score)",
                    scores.spearman, scores.pearson
                ),
            ];
            let summary = json!({
                "task": "sts", "file": file.display().to_string(), "n": scores.n,
                "spearman": round5(scores.spearman), "pearson": round5(scores.pearson),
            });
            (lines, summary, json)
        }
        EvalTask::Retrieval {
            dir,
            qrels,
            queries,
            json,
        } => {
            let set = RetrievalSet::load(&dir, queries.as_deref(), qrels.as_deref())?;
            let session = Session::open(global)?;
            let (docs, stats, _) = session.embed_texts(&set.doc_texts, "embedding documents")?;
            let (queries, _, _) = session.embed_texts(&set.query_texts, "embedding queries")?;
            let scores = eval::score_retrieval(&set, docs.view(), queries.view());
            let long = if stats.long_texts > 0 {
                format!(
                    " ({} longer than {} tokens{})",
                    stats.long_texts,
                    session.model.spec.max_seq_length,
                    if global.truncate {
                        ", truncated"
                    } else {
                        ", windowed"
                    }
                )
            } else {
                String::new()
            };
            let lines = vec![
                format!(
                    "{}: {} documents{long}, {} queries",
                    dir.display(),
                    set.doc_ids.len(),
                    scores.n
                ),
                format!(
                    "nDCG@10 {:.5}   recall@10 {:.5}   MRR@10 {:.5}",
                    scores.ndcg_at_10, scores.recall_at_10, scores.mrr_at_10
                ),
            ];
            let summary = json!({
                "task": "retrieval", "dir": dir.display().to_string(), "n": scores.n,
                "documents": set.doc_ids.len(),
                "ndcg_at_10": round5(scores.ndcg_at_10), "recall_at_10": round5(scores.recall_at_10),
                "mrr_at_10": round5(scores.mrr_at_10),
            });
            (lines, summary, json)
        }
        EvalTask::Clustering {
            file,
            k,
            seeds,
            json,
        } => {
            let set = LabelledSet::load(&file)?;
            let k = match k {
                None => set.classes,
                Some(KArg::Fixed(k)) => k,
                Some(KArg::Auto) => 0,
            };
            if k > set.texts.len() {
                return Err(UsageError(format!(
                    "k = {k} is more than the {} texts",
                    set.texts.len()
                ))
                .into());
            }
            let session = Session::open(global)?;
            let (vectors, _, _) = session.embed_texts(&set.texts, "embedding texts")?;
            let themes = |count| -> Result<eval::ClusteringScores> {
                let params = ThemeParams {
                    count,
                    ..ThemeParams::default()
                }
                .check(set.texts.len())?;
                let model = ThemeModel::fit(vectors.view(), &set.texts, params, None)?;
                let predicted: Vec<usize> = model
                    .row_themes(set.texts.len())
                    .into_iter()
                    .map(|t| t.unwrap_or(usize::MAX))
                    .collect();
                Ok(eval::score_clustering(&set.labels, &predicted))
            };
            let auto = themes(ThemeCount::Auto)?;
            let (own, baseline_k) = if k == 0 {
                (auto, auto.k)
            } else {
                (themes(ThemeCount::Fixed(k))?, k)
            };
            let baseline: Vec<eval::ClusteringScores> = (0..u64::from(seeds))
                .map(|seed| {
                    Ok(eval::score_clustering(
                        &set.labels,
                        &plain_kmeans(vectors.view(), baseline_k, seed)?,
                    ))
                })
                .collect::<Result<_>>()?;
            let baseline = eval::mean_scores(&baseline);
            let lines = vec![
                format!(
                    "{}: {} texts, {} labels",
                    file.display(),
                    set.texts.len(),
                    set.classes
                ),
                format!(
                    "themes (k = {}):      V-measure {:.5}   ARI {:.5}",
                    own.k, own.v_measure, own.ari
                ),
                format!(
                    "themes (k auto = {}): V-measure {:.5}   ARI {:.5}",
                    auto.k, auto.v_measure, auto.ari
                ),
                format!(
                    "plain k-means (k = {}, mean of {seeds} seeds): V-measure {:.5}   ARI {:.5}",
                    baseline_k, baseline.v_measure, baseline.ari
                ),
            ];
            let summary = json!({
                "task": "clustering", "file": file.display().to_string(), "n": set.texts.len(),
                "labels": set.classes, "k": own.k,
                "v_measure": round5(own.v_measure), "ari": round5(own.ari),
                "auto": {"k": auto.k, "v_measure": round5(auto.v_measure), "ari": round5(auto.ari)},
                "baseline": {"method": "k-means++", "k": baseline_k, "seeds": seeds,
                             "v_measure": round5(baseline.v_measure), "ari": round5(baseline.ari)},
            });
            (lines, summary, json)
        }
    };
    summary["seconds"] = json!((started.elapsed().as_secs_f64() * 100.0).round() / 100.0);
    summary["truncate"] = json!(global.truncate);
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    if json {
        writeln!(out, "{summary}")?;
    } else {
        writeln!(out, "in {:.1}s", started.elapsed().as_secs_f64())?;
    }
    out.flush()?;
    Ok(())
}

//! `themescope eval`: run a public benchmark set through the model and print its metrics.

use std::io::Write;
use std::time::Instant;

use crate::eval::{self, LabelledSet, RetrievalSet};
use crate::themes::ThemeCount;
use anyhow::Result;
use serde_json::{json, Value};

use super::args::{EvalTask, GlobalArgs};
use super::session::Session;
use super::UsageError;

fn round5(x: f64) -> f64 {
    (x * 100_000.0).round() / 100_000.0
}

/// Lines for the terminal and one JSON summary.
type Outcome = (Vec<String>, Value);

pub fn run(global: &GlobalArgs, task: EvalTask) -> Result<()> {
    let started = Instant::now();
    let (json, (lines, mut summary)) = match task {
        EvalTask::Sts { file, json } => (json, sts(global, &file)?),
        EvalTask::Retrieval {
            dir,
            qrels,
            queries,
            json,
        } => {
            let set = RetrievalSet::load(&dir, queries.as_deref(), qrels.as_deref())?;
            (json, retrieval(global, &dir, &set)?)
        }
        EvalTask::Clustering {
            file,
            k,
            seeds,
            json,
        } => (json, clustering(global, &file, k, u64::from(seeds))?),
        EvalTask::Guided {
            file,
            names,
            name_bar,
            member_bar,
            json,
        } => {
            let defaults = crate::themes::guided::BARS;
            let bars = crate::themes::guided::GuideBars {
                name: name_bar.unwrap_or(defaults.name),
                member: member_bar.unwrap_or(defaults.member),
            };
            (json, guided(global, &file, &names, bars)?)
        }
        EvalTask::Topics {
            file,
            k,
            seed,
            json,
        } => (json, topics(global, &file, k, seed)?),
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

fn sts(global: &GlobalArgs, file: &std::path::Path) -> Result<Outcome> {
    let pairs = eval::load_sts(file)?;
    let session = Session::open(global)?;
    session.bar_message("embedding sentences");
    let scores = eval::run_sts(&session.scope, &pairs);
    session.bar_done();
    let scores = scores?;
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
    Ok((lines, summary))
}

fn retrieval(global: &GlobalArgs, dir: &std::path::Path, set: &RetrievalSet) -> Result<Outcome> {
    let session = Session::open(global)?;
    session.bar_message("embedding documents and queries");
    let scored = eval::run_retrieval(&session.scope, set);
    session.bar_done();
    let (scores, stats) = scored?;
    let long = if stats.long_texts > 0 {
        format!(
            " ({} longer than {} tokens{})",
            stats.long_texts,
            session.scope.model().spec.max_seq_length,
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
    Ok((lines, summary))
}

fn guided(
    global: &GlobalArgs,
    file: &std::path::Path,
    names: &[(String, String)],
    bars: crate::themes::guided::GuideBars,
) -> Result<Outcome> {
    let set = LabelledSet::load(file)?;
    let session = Session::open(global)?;
    session.bar_message("embedding texts");
    let report = eval::run_guided(&session.scope, &set, names, bars);
    session.bar_done();
    let report = report?;
    let mut lines = vec![format!(
        "{}: {} texts, {} labels; bars: name {:.2}, member {:.2}",
        file.display(),
        set.texts.len(),
        set.classes,
        bars.name,
        bars.member
    )];
    for s in &report.scores {
        lines.push(format!(
            "{:>12} \"{}\": gathered {} of {} (nearest {:.3})   precision {:.3}   recall {:.3}   F1 {:.3}",
            s.label, s.name, s.gathered, s.relevant, s.nearest, s.precision, s.recall, s.f1
        ));
    }
    let sweep: Vec<String> = report
        .sweep
        .iter()
        .map(|(bar, f1)| format!("{bar:.2}: {f1:.3}"))
        .collect();
    lines.push(format!("mean F1 by member bar   {}", sweep.join("   ")));
    let summary = json!({
        "task": "guided", "file": file.display().to_string(), "n": set.texts.len(),
        "bars": {"name": bars.name, "member": bars.member},
        "names": report.scores.iter().map(|s| json!({
            "label": s.label, "name": s.name, "relevant": s.relevant, "gathered": s.gathered,
            "nearest": round5(f64::from(s.nearest)), "precision": round5(s.precision),
            "recall": round5(s.recall), "f1": round5(s.f1),
        })).collect::<Vec<_>>(),
        "sweep": report.sweep.iter().map(|(bar, f1)| json!({"member": bar, "f1": round5(*f1)})).collect::<Vec<_>>(),
    });
    Ok((lines, summary))
}

fn clustering(
    global: &GlobalArgs,
    file: &std::path::Path,
    k: Option<ThemeCount>,
    seeds: u64,
) -> Result<Outcome> {
    let set = LabelledSet::load(file)?;
    if let Some(ThemeCount::Fixed(k)) = k {
        if k > set.texts.len() {
            return Err(UsageError(format!(
                "k = {k} is more than the {} texts",
                set.texts.len()
            ))
            .into());
        }
    }
    let session = Session::open(global)?;
    session.bar_message("embedding texts");
    let report = eval::run_clustering(&session.scope, &set, k, seeds);
    session.bar_done();
    let report = report?;
    let (own, auto, baseline) = (report.themes, report.auto, report.baseline);
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
            report.baseline_k, baseline.v_measure, baseline.ari
        ),
    ];
    let summary = json!({
        "task": "clustering", "file": file.display().to_string(), "n": set.texts.len(),
        "labels": set.classes, "k": own.k,
        "v_measure": round5(own.v_measure), "ari": round5(own.ari),
        "auto": {"k": auto.k, "v_measure": round5(auto.v_measure), "ari": round5(auto.ari)},
        "baseline": {"method": "k-means++", "k": report.baseline_k, "seeds": seeds,
                     "v_measure": round5(baseline.v_measure), "ari": round5(baseline.ari)},
    });
    Ok((lines, summary))
}

fn topics(
    global: &GlobalArgs,
    file: &std::path::Path,
    k: ThemeCount,
    seed: u64,
) -> Result<Outcome> {
    use crate::ParamGuard;
    let set = eval::TopicSet::load(file)?;
    let params = crate::ThemeParams::new()
        .count(k)
        .seed(seed)
        .check()
        .map_err(|e| UsageError(e.to_string()))?;
    params
        .fits(set.texts.len())
        .map_err(|e| UsageError(e.to_string()))?;
    let session = Session::open(global)?;
    session.bar_message("embedding texts");
    let report = eval::run_topics(&session.scope, &set, &params);
    session.bar_done();
    let report = report?;
    let mut lines = vec![format!("{}: {} texts", file.display(), set.texts.len())];
    let mut summary = json!({"task": "topics", "file": file.display().to_string(),
        "n": set.texts.len(), "seed": seed});
    for (name, scores) in [("top", report.top), ("sub", report.fine)] {
        let mut line = format!(
            "{name:>3}: {:>3} themes  NPMI@{} {:.4}  diversity@{} {:.4}  outliers {:.1}%",
            scores.themes,
            eval::COHERENCE_WORDS,
            scores.npmi,
            eval::DIVERSITY_WORDS,
            scores.diversity,
            scores.outlier_share * 100.0
        );
        let mut level = json!({"themes": scores.themes, "npmi": round5(scores.npmi),
            "diversity": round5(scores.diversity),
            "outlier_share": round5(scores.outlier_share)});
        let weakest = scores.stability.iter().copied().fold(1.0f32, f32::min);
        line.push_str(&format!("  stability ≥ {weakest:.2}"));
        level["stability"] = json!(scores
            .stability
            .iter()
            .map(|&s| round5(f64::from(s)))
            .collect::<Vec<_>>());
        if let Some(c) = scores.clustering {
            line.push_str(&format!(
                "  V-measure {:.4}  ARI {:.4} ({} labels)",
                c.v_measure, c.ari, set.classes
            ));
            level["v_measure"] = json!(round5(c.v_measure));
            level["ari"] = json!(round5(c.ari));
            level["labels"] = json!(set.classes);
        }
        if let Some(c) = scores.hierarchy {
            line.push_str(&format!(
                "  against the label hierarchy: V {:.4}  ARI {:.4}",
                c.v_measure, c.ari
            ));
            level["hierarchy"] = json!({"v_measure": round5(c.v_measure), "ari": round5(c.ari)});
        }
        lines.push(line);
        summary[name] = level;
    }
    Ok((lines, summary))
}

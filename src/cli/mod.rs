//! The command line: parse, run one command, report errors in one line. The `themescope` binary
//! and the Python package's `themescope` command both call [`run`].

mod args;
mod bench;
mod commands;
mod eval;
mod index;
mod output;
mod session;

use std::io::{self, Write};
use std::sync::OnceLock;

use crate::{Cancel, Interrupted};

use clap::Parser;

pub use args::Cli;

/// Exit codes (README "Errors and exit codes").
const EXIT_SUCCESS: u8 = 0;
const EXIT_FAILURE: u8 = 1;
const EXIT_USAGE: u8 = 2;
/// 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;

/// Set by the first Ctrl-C (or SIGTERM): work stops at the next batch, temporary files are
/// removed, nothing is written. A second Ctrl-C ends the process at once.
pub(crate) fn interrupt_flag() -> Cancel {
    static FLAG: OnceLock<Cancel> = OnceLock::new();
    FLAG.get_or_init(Cancel::new).clone()
}

/// The error a command returns once it has noticed the interrupt.
pub(crate) fn check_interrupt() -> anyhow::Result<()> {
    Ok(interrupt_flag().check()?)
}

fn watch_for_interrupt() {
    let flag = interrupt_flag();
    // Without a handler (none could be installed) Ctrl-C still ends the process, and the
    // atomic writes leave no partial file; the handler only makes the exit tidy.
    let _ = ctrlc::set_handler(move || {
        if flag.cancel() {
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        }
    });
}

/// An error the user caused by how the command was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub String);

/// An interrupt after some work was kept (committed index slices): what was kept, and how to go on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct InterruptedAfter(pub String);

/// Runs the command line `args` (the program's name first) and returns the exit code.
pub fn run<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return EXIT_SUCCESS;
        }
        Err(e) => {
            let _ = writeln!(
                io::stderr(),
                "themescope: error: {}",
                one_line_usage_error(&e)
            );
            return EXIT_USAGE;
        }
    };
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // The embedder already keeps every core busy with one batch per rayon thread; candle's
        // own pool for element-wise ops would spin on the same cores (1.3x slower on 2 cores).
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    if let Some(threads) = cli.global.threads {
        // Read by rayon and candle when their thread pools start, which is later than this.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    let verbose = cli.global.verbose;
    watch_for_interrupt();
    match commands::run(cli) {
        Ok(()) => EXIT_SUCCESS,
        Err(e) if is_broken_pipe(&e) => EXIT_SUCCESS,
        Err(e) if e.downcast_ref::<InterruptedAfter>().is_some() => {
            let _ = writeln!(io::stderr(), "themescope: interrupted: {e}");
            EXIT_INTERRUPTED
        }
        Err(e) if is_interrupt(&e) => {
            let _ = writeln!(
                io::stderr(),
                "themescope: interrupted: no output was written (finished vectors are kept in the cache)"
            );
            EXIT_INTERRUPTED
        }
        Err(e) => {
            let mut stderr = io::stderr().lock();
            let _ = write!(stderr, "themescope: error: {e}");
            if let Some(hint) = hint(&e) {
                let _ = write!(stderr, " ({hint})");
            }
            if verbose {
                for cause in e.chain().skip(1) {
                    let _ = write!(stderr, "\n  caused by: {cause}");
                }
            }
            let _ = writeln!(stderr);
            if e.downcast_ref::<UsageError>().is_some() || is_bad_date(&e) {
                EXIT_USAGE
            } else {
                EXIT_FAILURE
            }
        }
    }
}

/// A date that does not parse or a dates table that does not fit the inputs: the user's to
/// correct, so a usage error, wherever in the pipeline it surfaced.
fn is_bad_date(e: &anyhow::Error) -> bool {
    use crate::corpus::CorpusError;
    let corpus = e.downcast_ref::<CorpusError>().or_else(|| {
        match (
            e.downcast_ref::<crate::Error>(),
            e.downcast_ref::<crate::index::build::BuildError>(),
        ) {
            (Some(crate::Error::Corpus(c)), _)
            | (_, Some(crate::index::build::BuildError::Corpus(c))) => Some(c),
            _ => None,
        }
    });
    matches!(corpus, Some(CorpusError::Dates { .. }))
}

/// clap's message without its usage block, on one line: what is wrong, the allowed values or
/// the tip, and where to read more.
fn one_line_usage_error(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let mut parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    if let Some(first) = parts.first_mut() {
        *first = first.strip_prefix("error: ").unwrap_or(first);
    }
    let mut line = String::new();
    for part in parts {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    format!("{line} (see --help)")
}

fn is_interrupt(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| cause.is::<Interrupted>())
}

/// A library error of type `T` anywhere in the chain, on its own or inside
/// [`crate::Error`] (whose transparent variants do not show up in the chain).
fn library_error<'a, T: std::error::Error + 'static>(
    e: &'a anyhow::Error,
    inside: impl Fn(&'a crate::Error) -> Option<&'a T>,
) -> Option<&'a T> {
    e.chain().find_map(|cause| {
        cause
            .downcast_ref::<T>()
            .or_else(|| cause.downcast_ref::<crate::Error>().and_then(&inside))
    })
}

/// Output into a closed pipe (`| head`) ends the run quietly.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io_kind = cause
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .or_else(|| cause.downcast_ref::<serde_json::Error>()?.io_error_kind());
        io_kind == Some(io::ErrorKind::BrokenPipe)
    })
}

/// What to do about a library error, in terms of this command's flags: the library's own
/// messages say what is wrong and name no flags.
fn hint(e: &anyhow::Error) -> Option<String> {
    use crate::model::ModelError;
    use crate::themes::ThemeError;
    let model_error = library_error(e, |e| match e {
        crate::Error::Model(m) => Some(m),
        _ => None,
    });
    let theme_error = library_error(e, |e| match e {
        crate::Error::Themes(t) => Some(t),
        _ => None,
    });
    match (model_error, theme_error) {
        (Some(ModelError::MissingDir(_)), _) => Some(
            "pass --model DIR with a sentence-transformers model directory, or unset THEMESCOPE_MODEL"
                .into(),
        ),
        (Some(ModelError::Checksum { name, .. } | ModelError::NotInStore { name, .. }), _) => {
            Some(format!("run `themescope model fetch --force {name}` to fetch it again"))
        }
        (Some(ModelError::Unknown(_) | ModelError::Unreachable { .. } | ModelError::NoFetch { .. }), _) => {
            Some("or pass --model DIR with a model directory on disk".into())
        }
        (_, Some(ThemeError::NoDenseGroups)) => Some("try --method kmeans".into()),
        _ => None,
    }
}

/// `--verbose` for `themes`: how each level's k was chosen, or the density radius.
pub(crate) fn explain_themes(model: &crate::ThemeModel, params: &crate::ValidThemeParams) {
    if let Some(selection) = &model.selection {
        eprintln!("top level: {}", explain_selection(selection));
    }
    for (i, theme) in model.themes.iter().enumerate() {
        if let Some(split) = &theme.split {
            eprintln!(
                "theme {} ({}, {} paragraphs): {}",
                i + 1,
                theme.label,
                theme.members.len(),
                explain_selection(split)
            );
        }
    }
    if let Some(radius) = model.radius {
        eprintln!(
            "density: neighbourhood radius {radius:.4} (the decile of distances to the {}th neighbour that gives the most dense groups)",
            params.min_points()
        );
    }
}

/// One line per level: the weakest theme's stability and the silhouette at each k compared (and,
/// for the k the rule tried, the same split's stability on shuffled rows), and the grain chosen.
fn explain_selection(selection: &crate::themes::KSelection) -> String {
    use crate::themes::{Grain, MIN_AUTO_THEME, STABLE_FROM, UNSTABLE_BELOW};
    let scores: Vec<String> = selection
        .scores
        .iter()
        .map(|s| {
            let themes = if s.k == s.themes {
                String::new()
            } else {
                format!(" ({} themes)", s.themes)
            };
            let null = s
                .null
                .map(|null| format!(" (rows without groups: {null:.4})"))
                .unwrap_or_default();
            format!(
                "k={}{themes}: weakest {:.4} (less its error {:.4}), silhouette {:.4}{null}",
                s.k,
                s.weakest(),
                s.assured(),
                s.silhouette
            )
        })
        .collect();
    let why = match selection.grain {
        Grain::Stable => format!(
            "{} themes, the largest k whose every theme is stable (bootstrap Jaccard ≥ {STABLE_FROM})",
            selection.chosen
        ),
        Grain::Pattern => format!(
            "{} themes, the largest k whose every theme is at least a pattern (≥ {UNSTABLE_BELOW}; none had every theme ≥ {STABLE_FROM})",
            selection.chosen
        ),
        Grain::Whole => format!(
            "not split: no k had every theme ≥ {UNSTABLE_BELOW} and a silhouette above that of rows without groups"
        ),
    };
    format!(
        "{}; groups under {MIN_AUTO_THEME} paragraphs folded into their nearest theme; chose {why}",
        scores.join("; ")
    )
}

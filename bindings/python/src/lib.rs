//! The `themescope._themescope` extension module: the library's front door ([`Themescope`]) for
//! Python, every call run with the GIL released and stoppable by Ctrl-C, and the command line
//! for the wheel's `themescope` script. `python/themescope/__init__.py` gives it its Python face.

// The closures handed to `run` return the library's own `Error`, as its front door does; one
// error per call is no cost worth boxing for.
#![allow(clippy::result_large_err)]

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use pyo3::exceptions::{PyFileNotFoundError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyByteArray;

use themescope::corpus::ParagraphKind;
use themescope::embed::Precision;
use themescope::themes::ThemeCount;
use themescope::{
    Cancel, Format, ModelChoice, Options, Paragraph, ParamGuard, Report, ThemeParams, Themescope,
};

/// How often a call running without the GIL looks for Ctrl-C.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// One loaded model and its embedding cache; calls from several Python threads run at once.
#[pyclass(name = "Themescope", module = "themescope._themescope", frozen)]
struct Scope {
    scope: Themescope,
    cancel: Cancel,
    /// Its own threads when `threads` was given; else rayon's global pool.
    pool: Option<rayon::ThreadPool>,
}

#[pymethods]
impl Scope {
    #[new]
    #[pyo3(signature = (model, precision, threads, cache))]
    fn new(
        py: Python<'_>,
        model: Option<String>,
        precision: &str,
        threads: Option<usize>,
        cache: bool,
    ) -> PyResult<Self> {
        let precision = match precision {
            "f32" => Precision::F32,
            "int8" => Precision::Int8,
            other => {
                return Err(PyValueError::new_err(format!(
                    "precision must be \"f32\" or \"int8\", not {other:?}"
                )))
            }
        };
        let pool = match threads {
            Some(0) => return Err(PyValueError::new_err("threads must be at least 1")),
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| PyRuntimeError::new_err(e.to_string()))?,
            ),
            None => None,
        };
        let cancel = Cancel::new();
        let options = Options {
            model: ModelChoice::given_or_env(model.as_deref()),
            precision,
            cache,
            cancel: Some(cancel.clone()),
            ..Options::default()
        };
        let scope = py
            .detach(|| Themescope::try_new(options))
            .map_err(to_python)?;
        Ok(Self {
            scope,
            cancel,
            pool,
        })
    }

    /// The model's directory.
    #[getter]
    fn model_path(&self) -> String {
        self.scope.model().path.display().to_string()
    }

    /// Dimensions of a vector.
    #[getter]
    fn dim(&self) -> usize {
        self.scope.embedder().dim()
    }

    /// Unit vectors of `texts` as native-endian float32 bytes, with their row and column counts.
    fn embed<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
    ) -> PyResult<(Bound<'py, PyByteArray>, usize, usize)> {
        let dim = self.scope.embedder().dim();
        let vectors = self.run(py, |scope| scope.embed(&texts))?;
        let bytes: Vec<u8> = vectors.iter().flat_map(|x| x.to_ne_bytes()).collect();
        Ok((PyByteArray::new(py, &bytes), vectors.nrows(), dim))
    }

    /// The `k` texts nearest `query`, best first: (row, score) pairs.
    fn nearest(
        &self,
        py: Python<'_>,
        query: String,
        texts: Vec<String>,
        k: usize,
    ) -> PyResult<Vec<(usize, f32)>> {
        let paragraphs = paragraphs(&texts, None, "texts");
        self.run(py, |scope| {
            let (index, _) = scope.index(paragraphs)?;
            scope.nearest(&index, &query, k)
        })
        .map(|hits| hits.into_iter().map(|h| (h.row, h.score)).collect())
    }

    /// The theme report of `texts` as `themes --format json` writes it; `k` None chooses the
    /// number of themes by stability.
    #[pyo3(signature = (texts, ids, k, depth, seed, doc))]
    #[allow(clippy::too_many_arguments)]
    fn themes(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        ids: Option<Vec<String>>,
        k: Option<usize>,
        depth: usize,
        seed: u64,
        doc: String,
    ) -> PyResult<String> {
        if let Some(ids) = &ids {
            if ids.len() != texts.len() {
                return Err(PyValueError::new_err(format!(
                    "{} ids for {} texts: one id per text is needed",
                    ids.len(),
                    texts.len()
                )));
            }
        }
        let params = ThemeParams::new()
            .count(k.map_or(ThemeCount::Auto, ThemeCount::Fixed))
            .depth(depth)
            .seed(seed)
            .check()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let paragraphs = paragraphs(&texts, ids.as_deref(), &doc);
        self.run(py, |scope| {
            let (index, _) = scope.index(paragraphs)?;
            let model = scope.themes(&index, &params)?;
            Ok(Report::new(&model, &index.paragraphs, 0, &params).render(Format::Json))
        })
    }
}

impl Scope {
    /// Runs `work` on another thread with the GIL released, looking for Ctrl-C meanwhile: on
    /// one, the work is asked to stop and the interrupt is raised once it has.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&Themescope) -> Result<T, themescope::Error> + Send,
    ) -> PyResult<T> {
        let (outcome, signal) = py.detach(|| {
            std::thread::scope(|threads| {
                let (done, finished) = mpsc::channel::<()>();
                let worker = threads.spawn(move || {
                    let outcome = match &self.pool {
                        Some(pool) => pool.install(|| work(&self.scope)),
                        None => work(&self.scope),
                    };
                    let _ = done.send(());
                    outcome
                });
                let mut signal = None;
                while let Err(RecvTimeoutError::Timeout) = finished.recv_timeout(SIGNAL_POLL) {
                    if signal.is_none() {
                        if let Err(e) = Python::attach(|py| py.check_signals()) {
                            self.cancel.cancel();
                            signal = Some(e);
                        }
                    }
                }
                (worker.join(), signal)
            })
        });
        if let Some(signal) = signal {
            self.cancel.reset();
            return Err(signal);
        }
        match outcome {
            Ok(result) => result.map_err(to_python),
            Err(_) => Err(PyRuntimeError::new_err(
                "themescope stopped on an internal error (a panic); please report it",
            )),
        }
    }
}

/// Paragraphs as a JSONL file of these records would give them: the record's id or
/// `doc:line`, line = record number.
fn paragraphs(texts: &[String], ids: Option<&[String]>, doc: &str) -> Vec<Paragraph> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| Paragraph {
            id: ids.map_or_else(|| format!("{doc}:{}", i + 1), |ids| ids[i].clone()),
            doc: doc.to_string(),
            line: i + 1,
            text: text.clone(),
            kind: ParagraphKind::Body,
        })
        .collect()
}

/// The library's error as the Python exception a user expects, with the same one-line message.
fn to_python(e: themescope::Error) -> PyErr {
    let message = e.to_string();
    let not_found = matches!(
        &e,
        themescope::Error::Model(themescope::model::ModelError::MissingDir(_))
    ) || std::iter::successors(
        Some(&e as &(dyn std::error::Error + 'static)),
        |e| e.source(),
    )
    .filter_map(|e| e.downcast_ref::<std::io::Error>())
    .any(|e| e.kind() == std::io::ErrorKind::NotFound);
    if not_found {
        PyFileNotFoundError::new_err(message)
    } else {
        PyValueError::new_err(message)
    }
}

/// The `themescope` command line (`args` with the program's name first); its exit code.
#[pyfunction]
fn run_cli(py: Python<'_>, args: Vec<String>) -> u8 {
    py.detach(|| themescope::cli::run(args))
}

#[pymodule]
fn _themescope(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Scope>()?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

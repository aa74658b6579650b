//! The `themescope._themescope` extension module: the library's front door ([`Themescope`]) for
//! Python, every call run with the GIL released and stoppable by Ctrl-C, and the command line
//! for the wheel's `themescope` script. `python/themescope/__init__.py` gives it its Python face.

// The closures handed to `run` return the library's own `Error`, as its front door does; one
// error per call is no cost worth boxing for.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyFileNotFoundError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyDict};

use themescope::corpus::ParagraphKind;
use themescope::embed::Precision;
use themescope::index::build::{BuildReport, SLICE};
use themescope::index::IndexError;
use themescope::themes::ThemeCount;
use themescope::{
    Cancel, CorpusOptions, DiskIndex, Format, ModelChoice, Options, Paragraph, ParamGuard, Report,
    ThemeParams, Themescope, ValidThemeParams,
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
    #[pyo3(signature = (texts, ids, k, depth, seed, doc, names))]
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
        names: Vec<String>,
    ) -> PyResult<String> {
        check_ids(&texts, ids.as_deref())?;
        let params = theme_params(k, depth, seed, names)?;
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

/// An on-disk index searched and themed by one [`Scope`]'s model: made by the first `add`,
/// reopened after each (another process's additions are seen by a new `Index`).
#[pyclass(name = "Index", module = "themescope._themescope", frozen)]
struct Index {
    scope: Py<Scope>,
    dir: PathBuf,
    opened: Mutex<Option<Arc<DiskIndex>>>,
}

#[pymethods]
impl Index {
    #[new]
    fn new(dir: PathBuf, scope: Py<Scope>) -> Self {
        Self {
            scope,
            dir,
            opened: Mutex::new(None),
        }
    }

    /// The index's directory.
    #[getter]
    fn path(&self) -> String {
        self.dir.display().to_string()
    }

    /// Rows stored (0 when the index is not made yet).
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        if !self.dir.join("index.json").exists() {
            return Ok(0);
        }
        Ok(self.open(py)?.len())
    }

    /// Adds `texts` (ids as for `Themescope.themes`); those stored with the same id and text
    /// are skipped. What was read, added, already stored, and stored with a changed text.
    #[pyo3(signature = (texts, ids, doc))]
    fn add<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        ids: Option<Vec<String>>,
        doc: String,
    ) -> PyResult<Bound<'py, PyDict>> {
        check_ids(&texts, ids.as_deref())?;
        let paragraphs = paragraphs(&texts, ids.as_deref(), &doc);
        let dir = self.dir.clone();
        let report = self.write(py, move |scope| {
            scope.add_to_index(&dir, paragraphs, SLICE, &mut |_, _| {})
        })?;
        build_summary(py, &report)
    }

    /// Adds the paragraphs of files and folders (`.txt`, `.md`, `.jsonl`), as `themescope
    /// index add` does, boilerplate left out.
    fn add_files<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<PathBuf>,
    ) -> PyResult<Bound<'py, PyDict>> {
        if inputs.is_empty() {
            return Err(PyValueError::new_err(
                "no inputs: give files or folders of articles",
            ));
        }
        let dir = self.dir.clone();
        let report = self.write(py, move |scope| {
            scope.build_index(
                &dir,
                &inputs,
                CorpusOptions::default(),
                SLICE,
                &mut |_, _| {},
            )
        })?;
        let summary = build_summary(py, &report)?;
        summary.set_item("files", report.files)?;
        summary.set_item("boilerplate", report.boilerplate)?;
        Ok(summary)
    }

    /// The `k` stored paragraphs nearest `query`, best first: (row, id, doc, line, text,
    /// score) tuples.
    #[allow(clippy::type_complexity)]
    fn nearest(
        &self,
        py: Python<'_>,
        query: String,
        k: usize,
    ) -> PyResult<Vec<(usize, String, String, usize, Option<u32>, String, f32)>> {
        let index = self.open(py)?;
        let hits = self
            .scope
            .get()
            .run(py, |scope| scope.nearest_in(&index, &query, k))?;
        Ok(hits
            .into_iter()
            .map(|(hit, p)| (hit.row, p.id, p.doc, p.line, p.page, p.text, hit.score))
            .collect())
    }

    /// Themes of the whole index as `themes --index DIR --format json` writes them, saved in
    /// the index for the rows added later.
    #[pyo3(signature = (k, depth, seed))]
    fn themes(
        &self,
        py: Python<'_>,
        k: Option<usize>,
        depth: usize,
        seed: u64,
    ) -> PyResult<String> {
        let params = theme_params(k, depth, seed, Vec::new())?;
        let index = self.open(py)?;
        self.scope.get().run(py, |scope| {
            let fitted = scope.themes_in(&index, &params)?;
            Ok(Report::new(&fitted.model, &fitted.paragraphs, 0, &params)
                .with_population(fitted.rows, &fitted.sizes)
                .render(Format::Json))
        })
    }
}

impl Index {
    /// The index as last written, opened once for this model.
    fn open(&self, py: Python<'_>) -> PyResult<Arc<DiskIndex>> {
        if let Some(index) = self.opened.lock().unwrap().as_ref() {
            return Ok(index.clone());
        }
        let dir = self.dir.clone();
        let index = Arc::new(
            self.scope
                .get()
                .run(py, move |scope| scope.open_index(&dir))?,
        );
        *self.opened.lock().unwrap() = Some(index.clone());
        Ok(index)
    }

    /// Runs a write to the index; it is reopened on the next read.
    fn write<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&Themescope) -> Result<T, themescope::Error> + Send,
    ) -> PyResult<T> {
        *self.opened.lock().unwrap() = None;
        self.scope.get().run(py, work)
    }
}

fn build_summary<'py>(py: Python<'py>, report: &BuildReport) -> PyResult<Bound<'py, PyDict>> {
    let summary = PyDict::new(py);
    summary.set_item("read", report.read)?;
    summary.set_item("added", report.added)?;
    summary.set_item("stored", report.stored)?;
    summary.set_item("changed", report.changed)?;
    Ok(summary)
}

fn check_ids(texts: &[String], ids: Option<&[String]>) -> PyResult<()> {
    match ids {
        Some(ids) if ids.len() != texts.len() => Err(PyValueError::new_err(format!(
            "{} ids for {} texts: one id per text is needed",
            ids.len(),
            texts.len()
        ))),
        _ => Ok(()),
    }
}

/// `k` None chooses the number of themes by stability; `names` are guided themes'.
fn theme_params(
    k: Option<usize>,
    depth: usize,
    seed: u64,
    names: Vec<String>,
) -> PyResult<ValidThemeParams> {
    ThemeParams::new()
        .count(k.map_or(ThemeCount::Auto, ThemeCount::Fixed))
        .depth(depth)
        .seed(seed)
        .names(names)
        .check()
        .map_err(|e| PyValueError::new_err(e.to_string()))
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
            page: None,
            date: None,
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
            | themescope::Error::Index(IndexError::NotAnIndex(_))
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
    m.add_class::<Index>()?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

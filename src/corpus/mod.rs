//! Corpus: load files and folders of articles, split them into paragraphs that keep their
//! source, and mark titles and boilerplate so that only real content goes downstream.

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

pub mod dates;
#[cfg(feature = "html")]
pub mod html;
#[cfg(feature = "pdf")]
pub mod pdf;
pub mod sentences;

/// Errors that stop a corpus from loading.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("input {0} does not exist")]
    Missing(PathBuf),
    #[error("no {kinds} files in {0}", kinds = known_kinds())]
    NoFiles(PathBuf),
    #[error("no files in {0} pass --include / --exclude")]
    NoneSelected(PathBuf),
    #[error("bad glob {glob:?}: {message}")]
    Glob { glob: String, message: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A date that does not parse, or a dates table that does not fit the inputs.
    #[error("{path}:{line}: {message}")]
    Dates {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}:{line}: {message}")]
    Jsonl {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// What a paragraph is, as far as the boilerplate rule can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParagraphKind {
    Title,
    Body,
    /// Bylines, datelines, "Report spelling error:", fragments under `min_words`: kept out of
    /// embedding and themes unless `keep_all`.
    Boilerplate,
}

impl ParagraphKind {
    /// The kind as the JSON outputs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Title => "title",
            Self::Body => "body",
            Self::Boilerplate => "boilerplate",
        }
    }
}

/// One paragraph and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paragraph {
    /// `doc:line`, or the record's own "id" in a JSONL file.
    pub id: String,
    /// The path of the file, as given.
    pub doc: String,
    /// 1-based line of the paragraph's first line in its file (on its page, in a PDF).
    pub line: usize,
    /// 1-based page of a PDF's paragraph; none in other documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    pub text: String,
    pub kind: ParagraphKind,
    /// The article's date: a JSONL record's `date`, the first `YYYY-MM-DD` in a file's name,
    /// or one given by a dates table ([`dates::DateTable`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<chrono::NaiveDate>,
}

impl Paragraph {
    /// Where the paragraph starts in its document, as `nearest` prints it after the path:
    /// `page:line` in a PDF, the line elsewhere.
    pub fn place(&self) -> Place {
        Place {
            page: self.page,
            line: self.line,
        }
    }
}

/// A paragraph's place in its document: `12` (a line) or `3:12` (page 3, line 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub page: Option<u32>,
    pub line: usize,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.page {
            Some(page) => write!(f, "{page}:{}", self.line),
            None => write!(f, "{}", self.line),
        }
    }
}

impl Paragraph {
    /// The article the paragraph belongs to, as resampling counts them: a JSONL record is an
    /// article of its own (its id), any other file is one article (its path).
    pub fn article(&self) -> &str {
        if DocFormat::from_path(Path::new(&self.doc)) == DocFormat::Jsonl {
            &self.id
        } else {
            &self.doc
        }
    }
}

/// How paragraphs are filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorpusOptions {
    /// Paragraphs with fewer words (tokens with a letter or digit) are fragments, unless they
    /// are titles.
    pub min_words: usize,
    /// Keep boilerplate and fragments too.
    pub keep_all: bool,
    /// Longer paragraphs are cut here, with a warning: a runaway paragraph (a 50 MB line)
    /// would otherwise take hours to embed as windows.
    pub max_chars: usize,
    /// Keep every JSONL record as it is, one paragraph per record, whatever the boilerplate
    /// rule says: a record is a paragraph the caller chose, and N records embed to N rows.
    /// Off, records are filtered like the paragraphs of text files.
    pub keep_records: bool,
}

/// The default for [`CorpusOptions::min_words`].
pub const DEFAULT_MIN_WORDS: usize = 5;

/// The default for [`CorpusOptions::max_chars`]: about 25,000 tokens, 130 windows.
pub const DEFAULT_MAX_CHARS: usize = 100_000;

impl Default for CorpusOptions {
    fn default() -> Self {
        Self {
            min_words: DEFAULT_MIN_WORDS,
            keep_all: false,
            max_chars: DEFAULT_MAX_CHARS,
            keep_records: true,
        }
    }
}

/// The paragraphs of all inputs, in input order, with what was left out and why.
#[derive(Debug, Clone, Default)]
pub struct Corpus {
    /// Paragraphs that go downstream.
    pub paragraphs: Vec<Paragraph>,
    /// Boilerplate and fragments left out by the rule.
    pub skipped: Vec<Paragraph>,
    /// Files read, in order.
    pub documents: Vec<String>,
    /// Things worth telling the user that did not stop the load (binary files, bad UTF-8).
    pub warnings: Vec<Warning>,
    /// Every id given out, kept and skipped, so that no two paragraphs share one.
    ids: HashSet<String>,
}

/// Something in the inputs that did not stop the load but changed what was read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Warning {
    #[error("skipped {doc}: binary file (contains NUL bytes)")]
    Binary { doc: String },
    /// A document that could not be read at all (a damaged or encrypted PDF).
    #[error("skipped {doc}: {reason}")]
    Unreadable { doc: String, reason: String },
    /// Pages of a PDF whose content could not be read; the other pages were.
    #[error("{doc}: could not read page {pages}; the other pages were read")]
    UnreadPages { doc: String, pages: String },
    #[error("{doc}:{line}: invalid UTF-8, replaced with U+FFFD")]
    InvalidUtf8 { doc: String, line: usize },
    /// Longer than [`CorpusOptions::max_chars`]: a runaway paragraph would take hours.
    #[error("{doc}:{line}: paragraph of {chars} characters cut to {limit}")]
    Cut {
        doc: String,
        line: usize,
        chars: usize,
        limit: usize,
    },
    #[error("{doc}:{line}: id \"{id}\" is already used; this paragraph is {fallback}")]
    DuplicateId {
        doc: String,
        line: usize,
        id: String,
        fallback: String,
    },
}

impl Warning {
    /// Whether the warning's file was skipped whole.
    pub fn skips_file(&self) -> bool {
        matches!(self, Warning::Binary { .. } | Warning::Unreadable { .. })
    }
}

/// How a document's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocFormat {
    /// A paragraph per line, or blank-line-separated blocks of wrapped lines.
    Text,
    /// As text, with `#` headings as titles.
    Markdown,
    /// One JSON record per line: `{"text": ..., "id": optional}`.
    Jsonl,
    /// A web page: its main text, headings as titles; a paragraph's line is its place in
    /// that text (the title is 1).
    #[cfg(feature = "html")]
    Html,
    /// A PDF: its pages' text rebuilt into paragraphs, running headers and footers left out;
    /// a paragraph's place is its page and its line on that page.
    #[cfg(feature = "pdf")]
    Pdf,
}

impl DocFormat {
    /// By extension: .md and .markdown are Markdown, .jsonl is JSONL, .html and .htm HTML,
    /// .pdf PDF, anything else text.
    pub fn from_path(path: &Path) -> Self {
        match extension(path).as_deref() {
            Some("md" | "markdown") => DocFormat::Markdown,
            Some("jsonl") => DocFormat::Jsonl,
            #[cfg(feature = "html")]
            Some("html" | "htm") => DocFormat::Html,
            #[cfg(feature = "pdf")]
            Some("pdf") => DocFormat::Pdf,
            _ => DocFormat::Text,
        }
    }
}

/// The extensions a folder is searched for.
const EXTENSIONS: &[&str] = &[
    "txt",
    "md",
    "markdown",
    "jsonl",
    #[cfg(feature = "html")]
    "html",
    #[cfg(feature = "html")]
    "htm",
    #[cfg(feature = "pdf")]
    "pdf",
];

/// What a folder is searched for, as an error message names it.
pub fn known_kinds() -> &'static str {
    match (cfg!(feature = "html"), cfg!(feature = "pdf")) {
        (true, true) => ".txt, .md, .jsonl, .html or .pdf",
        (true, false) => ".txt, .md, .jsonl or .html",
        (false, true) => ".txt, .md, .jsonl or .pdf",
        (false, false) => ".txt, .md or .jsonl",
    }
}

impl Corpus {
    /// Loads files and directories (recursively, in path order).
    pub fn load<P: AsRef<Path>>(inputs: &[P], options: CorpusOptions) -> Result<Self, CorpusError> {
        Self::read_all(Reader::open(inputs, options)?)
    }

    /// Every paragraph a reader gives (as `load` reads its inputs), e.g. one
    /// [`Reader::with_dates`].
    pub fn read_all(mut reader: Reader) -> Result<Self, CorpusError> {
        let options = reader.options;
        let mut corpus = Corpus::default();
        while let Some(paragraph) = reader.next_admitted() {
            corpus.route(paragraph?, options);
        }
        corpus.documents = std::mem::take(&mut reader.documents);
        corpus.warnings = reader.take_warnings();
        corpus.ids = std::mem::take(&mut reader.ids);
        Ok(corpus)
    }

    /// The files `load` would read, in the order it reads them: what a streaming reader walks
    /// one file at a time.
    pub fn files<P: AsRef<Path>>(inputs: &[P]) -> Result<Vec<PathBuf>, CorpusError> {
        Self::files_matching(inputs, &FileFilter::default())
    }

    /// As [`Corpus::files`], the files found in folders narrowed by `filter` (a file named
    /// itself is always read).
    pub fn files_matching<P: AsRef<Path>>(
        inputs: &[P],
        filter: &FileFilter,
    ) -> Result<Vec<PathBuf>, CorpusError> {
        let mut files = Vec::new();
        for input in inputs {
            files.extend(collect_files(input.as_ref(), filter)?);
        }
        Ok(files)
    }

    /// Adds one file's paragraphs (as `load` does for each file it finds).
    pub fn load_file(&mut self, path: &Path, options: CorpusOptions) -> Result<(), CorpusError> {
        let bytes = fs::read(path).map_err(|source| CorpusError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        self.add_document(
            &path.display().to_string(),
            &bytes,
            DocFormat::from_path(path),
            options,
        )
    }

    /// Adds one document from memory, as if read from a file named `doc`: binary content is
    /// skipped with a warning, invalid UTF-8 replaced with a warning naming the line, a BOM
    /// dropped, long paragraphs cut; a malformed JSONL record is an error naming its line.
    pub fn add_document(
        &mut self,
        doc: &str,
        bytes: &[u8],
        format: DocFormat,
        options: CorpusOptions,
    ) -> Result<(), CorpusError> {
        let raw = if format == DocFormat::Jsonl {
            let Some(text) = decode(doc, bytes, &mut self.warnings) else {
                return Ok(());
            };
            strip_bom(&text)
                .lines()
                .enumerate()
                .filter_map(|(i, line)| parse_jsonl_line(doc, i + 1, line).transpose())
                .collect::<Result<Vec<_>, _>>()?
        } else {
            let Some(raw) = article(doc, bytes, format, &mut self.warnings) else {
                return Ok(());
            };
            raw
        };
        self.documents.push(doc.to_string());
        for (index, p) in raw.into_iter().enumerate() {
            let paragraph = admit(
                &mut self.ids,
                &mut self.warnings,
                doc,
                p,
                index,
                format,
                options,
            );
            self.route(paragraph, options);
        }
        Ok(())
    }

    fn route(&mut self, paragraph: Paragraph, options: CorpusOptions) {
        if is_left_out(&paragraph, options) {
            self.skipped.push(paragraph);
        } else {
            self.paragraphs.push(paragraph);
        }
    }

    /// Texts of the paragraphs that go downstream.
    pub fn texts(&self) -> Vec<&str> {
        self.paragraphs.iter().map(|p| p.text.as_str()).collect()
    }
}

/// The paragraphs of files and folders, read as they are asked for: a JSONL file a record at a
/// time, any other file whole (it is one article), so memory holds one article or one record
/// whatever the corpus' size. Yields what [`Corpus::load`] keeps, in its order and with its ids;
/// a malformed record ends the stream with its error.
pub struct Reader {
    files: std::vec::IntoIter<PathBuf>,
    options: CorpusOptions,
    ids: HashSet<String>,
    source: Source,
    documents: Vec<String>,
    opened: usize,
    skipped: usize,
    warnings: Vec<Warning>,
    /// Dates given by a table, and the one it gives the document being read.
    dates: Option<dates::DateTable>,
    date_of_document: Option<chrono::NaiveDate>,
}

/// The document being read.
enum Source {
    Between,
    Records {
        doc: String,
        lines: Box<dyn BufRead>,
        line: usize,
        bad_utf8: bool,
        index: usize,
    },
    Article {
        doc: String,
        format: DocFormat,
        paragraphs: std::iter::Enumerate<std::vec::IntoIter<RawParagraph>>,
    },
}

impl Reader {
    /// Finds the files `inputs` name (as [`Corpus::files`]); nothing is read yet.
    pub fn open<P: AsRef<Path>>(inputs: &[P], options: CorpusOptions) -> Result<Self, CorpusError> {
        Ok(Self {
            files: Corpus::files(inputs)?.into_iter(),
            options,
            ids: HashSet::new(),
            source: Source::Between,
            documents: Vec::new(),
            opened: 0,
            skipped: 0,
            warnings: Vec::new(),
            dates: None,
            date_of_document: None,
        })
    }

    /// Dates every paragraph of a document the table names with the table's date, over its
    /// own; a table row naming a file that is not among the inputs is an error, as it is most
    /// likely a mistake in the table.
    pub fn with_dates(mut self, table: dates::DateTable) -> Result<Self, CorpusError> {
        table.check_files(self.files.as_slice())?;
        self.dates = Some(table);
        Ok(self)
    }

    /// Files read so far (binary files, skipped, are not counted).
    pub fn documents(&self) -> usize {
        self.documents.len()
    }

    /// Files opened so far, binary ones included.
    pub fn files_opened(&self) -> usize {
        self.opened
    }

    /// Paragraphs left out so far as boilerplate or fragments.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The warnings since the last call.
    pub fn take_warnings(&mut self) -> Vec<Warning> {
        std::mem::take(&mut self.warnings)
    }

    /// The next paragraph, kept or left out.
    fn next_admitted(&mut self) -> Option<Result<Paragraph, CorpusError>> {
        loop {
            match self.next_raw() {
                Ok(Some(mut paragraph)) => {
                    paragraph.date = self.date_of_document.or(paragraph.date);
                    return Some(Ok(paragraph));
                }
                Ok(None) if matches!(self.source, Source::Between) => {
                    let file = self.files.next()?;
                    if let Err(e) = self.start(&file) {
                        self.files = Vec::new().into_iter();
                        return Some(Err(e));
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.files = Vec::new().into_iter();
                    self.source = Source::Between;
                    return Some(Err(e));
                }
            }
        }
    }

    /// The next paragraph of the document being read; none when it is done (or none is open).
    fn next_raw(&mut self) -> Result<Option<Paragraph>, CorpusError> {
        let options = self.options;
        match &mut self.source {
            Source::Between => Ok(None),
            Source::Article {
                doc,
                format,
                paragraphs,
            } => match paragraphs.next() {
                Some((index, p)) => Ok(Some(admit(
                    &mut self.ids,
                    &mut self.warnings,
                    doc,
                    p,
                    index,
                    *format,
                    options,
                ))),
                None => {
                    self.source = Source::Between;
                    Ok(None)
                }
            },
            Source::Records {
                doc,
                lines,
                line,
                bad_utf8,
                index,
            } => {
                let mut bytes = Vec::new();
                loop {
                    bytes.clear();
                    let read =
                        lines
                            .read_until(b'\n', &mut bytes)
                            .map_err(|source| CorpusError::Io {
                                path: PathBuf::from(doc.as_str()),
                                source,
                            })?;
                    if read == 0 {
                        self.source = Source::Between;
                        return Ok(None);
                    }
                    *line += 1;
                    // As `str::lines`: the newline goes, and a carriage return before it.
                    if bytes.last() == Some(&b'\n') {
                        bytes.pop();
                        if bytes.last() == Some(&b'\r') {
                            bytes.pop();
                        }
                    }
                    let text = match std::str::from_utf8(&bytes) {
                        Ok(text) => std::borrow::Cow::Borrowed(text),
                        Err(_) => {
                            if !*bad_utf8 {
                                *bad_utf8 = true;
                                self.warnings.push(Warning::InvalidUtf8 {
                                    doc: doc.clone(),
                                    line: *line,
                                });
                            }
                            String::from_utf8_lossy(&bytes)
                        }
                    };
                    let text = if *line == 1 { strip_bom(&text) } else { &text };
                    if let Some(p) = parse_jsonl_line(doc, *line, text)? {
                        let paragraph = admit(
                            &mut self.ids,
                            &mut self.warnings,
                            doc,
                            p,
                            *index,
                            DocFormat::Jsonl,
                            options,
                        );
                        *index += 1;
                        return Ok(Some(paragraph));
                    }
                }
            }
        }
    }

    /// Opens the next file: a JSONL file for reading a record at a time, any other read whole.
    fn start(&mut self, path: &Path) -> Result<(), CorpusError> {
        self.opened += 1;
        self.date_of_document = self.dates.as_ref().and_then(|t| t.date_of(path));
        let doc = path.display().to_string();
        let io = |source| CorpusError::Io {
            path: path.to_path_buf(),
            source,
        };
        let format = DocFormat::from_path(path);
        if format == DocFormat::Jsonl {
            let mut file = fs::File::open(path).map_err(io)?;
            let mut head = Vec::with_capacity(BINARY_PROBE);
            (&mut file)
                .take(BINARY_PROBE as u64)
                .read_to_end(&mut head)
                .map_err(io)?;
            if is_binary(&head) {
                self.warnings.push(Warning::Binary { doc });
                return Ok(());
            }
            self.documents.push(doc.clone());
            let rest = std::io::BufReader::with_capacity(1 << 16, file);
            self.source = Source::Records {
                doc,
                lines: Box::new(std::io::Cursor::new(head).chain(rest)),
                line: 0,
                bad_utf8: false,
                index: 0,
            };
            return Ok(());
        }
        let bytes = fs::read(path).map_err(io)?;
        let Some(paragraphs) = article(&doc, &bytes, format, &mut self.warnings) else {
            return Ok(());
        };
        self.documents.push(doc.clone());
        self.source = Source::Article {
            doc,
            format,
            paragraphs: paragraphs.into_iter().enumerate(),
        };
        Ok(())
    }
}

/// A paragraph as [`Reader::next_read`] gives it.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadParagraph {
    /// What the iterator yields.
    Kept(Paragraph),
    /// Left out as boilerplate or a fragment (counted in [`Reader::skipped`]).
    LeftOut(Paragraph),
}

impl Reader {
    /// The next paragraph read, kept or left out: for a caller that must see every paragraph
    /// of the corpus, such as one matching texts a model was fitted on.
    pub fn next_read(&mut self) -> Option<Result<ReadParagraph, CorpusError>> {
        Some(match self.next_admitted()? {
            Ok(p) if is_left_out(&p, self.options) => {
                self.skipped += 1;
                Ok(ReadParagraph::LeftOut(p))
            }
            Ok(p) => Ok(ReadParagraph::Kept(p)),
            Err(e) => Err(e),
        })
    }
}

impl Iterator for Reader {
    type Item = Result<Paragraph, CorpusError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_read()? {
                Ok(ReadParagraph::LeftOut(_)) => {}
                Ok(ReadParagraph::Kept(p)) => return Some(Ok(p)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// Which files found in a folder are read: `include` globs (any; none means all) and
/// `exclude` globs (none), matched against the path below the folder, `/`-separated ("*.html"
/// matches at any depth, as `*` crosses folders).
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    include: Option<globset::GlobSet>,
    exclude: Option<globset::GlobSet>,
}

impl FileFilter {
    pub fn new<S: AsRef<str>>(include: &[S], exclude: &[S]) -> Result<Self, CorpusError> {
        let set = |globs: &[S]| -> Result<Option<globset::GlobSet>, CorpusError> {
            if globs.is_empty() {
                return Ok(None);
            }
            let mut set = globset::GlobSetBuilder::new();
            for glob in globs {
                let glob = glob.as_ref();
                set.add(globset::Glob::new(glob).map_err(|e| CorpusError::Glob {
                    glob: glob.to_string(),
                    message: e.kind().to_string(),
                })?);
            }
            set.build().map(Some).map_err(|e| CorpusError::Glob {
                glob: globs
                    .iter()
                    .map(AsRef::as_ref)
                    .collect::<Vec<_>>()
                    .join(" "),
                message: e.to_string(),
            })
        };
        Ok(Self {
            include: set(include)?,
            exclude: set(exclude)?,
        })
    }

    /// Whether a file at `relative` below its folder is read.
    pub fn admits(&self, relative: &Path) -> bool {
        self.include
            .as_ref()
            .is_none_or(|set| set.is_match(relative))
            && !self
                .exclude
                .as_ref()
                .is_some_and(|set| set.is_match(relative))
    }

    fn narrows(&self) -> bool {
        self.include.is_some() || self.exclude.is_some()
    }
}

fn collect_files(input: &Path, filter: &FileFilter) -> Result<Vec<PathBuf>, CorpusError> {
    let meta = fs::metadata(input).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => CorpusError::Missing(input.to_path_buf()),
        _ => CorpusError::Io {
            path: input.to_path_buf(),
            source,
        },
    })?;
    if !meta.is_dir() {
        // A file named on the command line is read whatever its extension.
        return Ok(vec![input.to_path_buf()]);
    }
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(input)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| CorpusError::Io {
            path: e
                .path()
                .map_or_else(|| input.to_path_buf(), Path::to_path_buf),
            source: e.into(),
        })?;
        let is_text = extension(entry.path()).is_some_and(|x| EXTENSIONS.contains(&x.as_str()));
        if entry.file_type().is_file() && is_text {
            files.push(entry.into_path());
        }
    }
    if files.is_empty() {
        return Err(CorpusError::NoFiles(input.to_path_buf()));
    }
    if filter.narrows() {
        files.retain(|f| filter.admits(f.strip_prefix(input).unwrap_or(f)));
        if files.is_empty() {
            return Err(CorpusError::NoneSelected(input.to_path_buf()));
        }
    }
    Ok(files)
}

struct RawParagraph {
    id: String,
    line: usize,
    page: Option<u32>,
    text: String,
    heading: bool,
    /// A JSONL record's own date; other paragraphs take their file name's.
    date: Option<chrono::NaiveDate>,
}

/// One line of a JSONL file as a record; a blank line is none.
fn parse_jsonl_line(
    doc: &str,
    line_no: usize,
    line: &str,
) -> Result<Option<RawParagraph>, CorpusError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let error = |message: String| CorpusError::Jsonl {
        path: PathBuf::from(doc),
        line: line_no,
        message,
    };
    let date_error = |message: String| CorpusError::Dates {
        path: PathBuf::from(doc),
        line: line_no,
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| error(format!("not valid JSON: {e}")))?;
    let text = match value.get("text") {
        Some(serde_json::Value::String(s)) => s.trim().to_string(),
        Some(other) => {
            return Err(error(format!(
                "\"text\" must be a string, found {}",
                json_kind(other)
            )))
        }
        None => return Err(error("record has no \"text\" field".into())),
    };
    let id = match value.get("id") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => format!("{doc}:{line_no}"),
    };
    let date = match value.get("date") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(dates::parse_date(s).ok_or_else(|| {
            date_error(format!(
                "\"date\" {s:?} is not an ISO 8601 date (2025-12-03) or date-time (2025-12-03T10:00:00Z)"
            ))
        })?),
        Some(other) => {
            return Err(date_error(format!(
                "\"date\" must be a string, found {}",
                json_kind(other)
            )))
        }
    };
    Ok(Some(RawParagraph {
        id,
        line: line_no,
        page: None,
        text,
        heading: false,
        date,
    }))
}

/// An article's paragraphs, before classification, from its bytes; none, with a warning, when
/// it cannot be read (binary where text was expected, a damaged or encrypted PDF).
fn article(
    doc: &str,
    bytes: &[u8],
    format: DocFormat,
    warnings: &mut Vec<Warning>,
) -> Option<Vec<RawParagraph>> {
    #[cfg(feature = "pdf")]
    if format == DocFormat::Pdf {
        return pdf_paragraphs(doc, bytes, warnings);
    }
    let text = decode(doc, bytes, warnings)?;
    Some(split_document(doc, strip_bom(&text), format))
}

/// A PDF's paragraphs, identified `doc:page:line`.
#[cfg(feature = "pdf")]
fn pdf_paragraphs(
    doc: &str,
    bytes: &[u8],
    warnings: &mut Vec<Warning>,
) -> Option<Vec<RawParagraph>> {
    let read = match pdf::main_text(bytes) {
        Ok(read) => read,
        Err(e) => {
            warnings.push(Warning::Unreadable {
                doc: doc.to_string(),
                reason: e.to_string(),
            });
            return None;
        }
    };
    if !read.unread_pages.is_empty() {
        let pages: Vec<String> = read.unread_pages.iter().map(u32::to_string).collect();
        warnings.push(Warning::UnreadPages {
            doc: doc.to_string(),
            pages: pages.join(", "),
        });
    }
    Some(
        read.paragraphs
            .into_iter()
            .map(|p| RawParagraph {
                id: format!("{doc}:{}:{}", p.page, p.line),
                line: p.line,
                page: Some(p.page),
                text: p.text,
                heading: p.heading,
                date: None,
            })
            .collect(),
    )
}

/// A text, Markdown or HTML document's paragraphs, before classification.
fn split_document(doc: &str, text: &str, format: DocFormat) -> Vec<RawParagraph> {
    #[cfg(feature = "html")]
    if format == DocFormat::Html {
        return html::main_text(text)
            .into_iter()
            .enumerate()
            .map(|(i, block)| RawParagraph {
                id: format!("{doc}:{}", i + 1),
                line: i + 1,
                page: None,
                heading: block.is_heading(),
                text: block.text,
                date: None,
            })
            .collect();
    }
    split_paragraphs(text, format == DocFormat::Markdown)
        .into_iter()
        .map(|p| RawParagraph {
            id: format!("{doc}:{}", p.line),
            line: p.line,
            page: None,
            text: p.text,
            heading: p.heading,
            date: None,
        })
        .collect()
}

/// A document's bytes as text: none (with a warning) when binary; invalid UTF-8 replaced, with
/// a warning naming the first bad line; a BOM dropped.
fn decode<'a>(
    doc: &str,
    bytes: &'a [u8],
    warnings: &mut Vec<Warning>,
) -> Option<std::borrow::Cow<'a, str>> {
    if is_binary(bytes) {
        warnings.push(Warning::Binary {
            doc: doc.to_string(),
        });
        return None;
    }
    Some(match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(e) => {
            let line = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            warnings.push(Warning::InvalidUtf8 {
                doc: doc.to_string(),
                line,
            });
            String::from_utf8_lossy(bytes)
        }
    })
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// How much of a file the binary test reads: a NUL in it marks the file as binary.
const BINARY_PROBE: usize = 8192;

fn is_binary(head: &[u8]) -> bool {
    head[..head.len().min(BINARY_PROBE)].contains(&0)
}

fn is_left_out(paragraph: &Paragraph, options: CorpusOptions) -> bool {
    paragraph.kind == ParagraphKind::Boilerplate && !options.keep_all
}

/// A raw paragraph as it goes downstream: cut to `max_chars`, given an id no other paragraph
/// has, its leading list marker dropped and its kind decided. `index` is its place in the
/// document (the first paragraph of an article may be its title).
fn admit(
    ids: &mut HashSet<String>,
    warnings: &mut Vec<Warning>,
    doc: &str,
    mut p: RawParagraph,
    index: usize,
    format: DocFormat,
    options: CorpusOptions,
) -> Paragraph {
    let limit = options.max_chars.max(1);
    if let Some((cut, _)) = p.text.char_indices().nth(limit) {
        warnings.push(Warning::Cut {
            doc: doc.to_string(),
            line: p.line,
            chars: p.text.chars().count(),
            limit,
        });
        p.text.truncate(cut);
    }
    if !ids.insert(p.id.clone()) {
        let place = Place {
            page: p.page,
            line: p.line,
        };
        let fallback = format!("{doc}:{place}");
        ids.insert(fallback.clone());
        warnings.push(Warning::DuplicateId {
            doc: doc.to_string(),
            line: p.line,
            id: std::mem::replace(&mut p.id, fallback.clone()),
            fallback,
        });
    }
    let record = format == DocFormat::Jsonl;
    let kind = if record && options.keep_records {
        ParagraphKind::Body
    } else {
        if let Some(rest) = strip_leading_marker(&p.text) {
            p.text = rest.to_string();
        }
        classify(&p.text, p.heading, index == 0 && !record, options.min_words)
    };
    Paragraph {
        id: p.id,
        doc: doc.to_string(),
        line: p.line,
        page: p.page,
        text: p.text,
        kind,
        date: p.date.or_else(|| dates::date_in_name(Path::new(doc))),
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A paragraph of a plain-text or Markdown file, before classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitParagraph {
    pub line: usize,
    pub text: String,
    /// A Markdown heading (`# ...`), its marks removed.
    pub heading: bool,
}

/// Splits a text into paragraphs, detecting its convention: one paragraph per line, or
/// blank-line-separated blocks of hard-wrapped lines (joined with spaces).
///
/// A file is read as blocks when most of its lines sit in multi-line blocks and most of those
/// lines stop mid-sentence (they were wrapped); otherwise every non-empty line is a paragraph.
pub fn split_paragraphs(text: &str, markdown: bool) -> Vec<SplitParagraph> {
    let mut blocks: Vec<Vec<(usize, &str)>> = Vec::new();
    let mut current: Vec<(usize, &str)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let marked = markdown && line.starts_with('#');
        // "#" alone (or "###") is a heading without words: a blank line for splitting.
        let bare_marks = marked && line.trim_start_matches('#').trim().is_empty();
        let is_heading = marked && !bare_marks;
        if line.is_empty() || bare_marks || is_heading {
            if !current.is_empty() {
                blocks.push(std::mem::take(&mut current));
            }
            if is_heading {
                blocks.push(vec![(i + 1, line)]);
            }
        } else {
            current.push((i + 1, line));
        }
    }
    if !current.is_empty() {
        blocks.push(current);
    }

    let lines: usize = blocks.iter().map(Vec::len).sum();
    let multi: Vec<&Vec<(usize, &str)>> = blocks.iter().filter(|b| b.len() > 1).collect();
    let multi_lines: usize = multi.iter().map(|b| b.len()).sum();
    let inner_lines = multi_lines - multi.len();
    let wrapped = multi
        .iter()
        .flat_map(|b| &b[..b.len() - 1])
        .filter(|(_, l)| !ends_sentence(l))
        .count();
    let as_blocks = multi_lines * 2 > lines && wrapped * 2 > inner_lines;

    let mut out = Vec::new();
    for block in blocks {
        if as_blocks {
            let text = block.iter().map(|(_, l)| *l).collect::<Vec<_>>().join(" ");
            out.push(make_paragraph(block[0].0, &text, markdown));
        } else {
            for (line, l) in block {
                out.push(make_paragraph(line, l, markdown));
            }
        }
    }
    out
}

fn make_paragraph(line: usize, text: &str, markdown: bool) -> SplitParagraph {
    if markdown && text.starts_with('#') {
        let stripped = text.trim_start_matches('#').trim();
        return SplitParagraph {
            line,
            text: stripped.to_string(),
            heading: true,
        };
    }
    SplitParagraph {
        line,
        text: text.to_string(),
        heading: false,
    }
}

fn ends_sentence(line: &str) -> bool {
    line.trim_end()
        .ends_with(['.', '!', '?', ':', '"', '\u{201d}', '\u{2019}', ')', '»'])
}

/// Words, for the fragment rule: whitespace-separated tokens with a letter or digit; in scripts
/// written without spaces (Chinese, Japanese), each ideograph or kana counts as a word.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace()
        .map(|w| {
            let unspaced = w.chars().filter(|&c| is_unspaced_script(c)).count();
            let spaced = w
                .chars()
                .any(|c| c.is_alphanumeric() && !is_unspaced_script(c));
            unspaced + usize::from(spaced)
        })
        .sum()
}

fn is_unspaced_script(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // hiragana, katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FA1F) // CJK extensions B and later
}

/// Phrases that open site furniture rather than content (lower case, matched at the start).
const BOILERPLATE_OPENINGS: [&str; 24] = [
    "report spelling error",
    "error page url",
    "text containing error",
    "your comment",
    "subscribe to",
    "explore more",
    "read more",
    "read also",
    "related:",
    "editor ",
    "author`s name",
    "author's name",
    "original:",
    "source:",
    "statement: the article",
    "this article is exclusive",
    "all rights reserved",
    "copyright",
    "photo:",
    "image:",
    "share this",
    "follow us",
    "sign up",
    "advertisement",
];

fn dateline() -> &'static Regex {
    static DATELINE: OnceLock<Regex> = OnceLock::new();
    DATELINE.get_or_init(|| {
        // "Brussels, December 2 (European Press) –" alone on a line.
        Regex::new(r"^[\p{Lu}][\p{L} .'-]*,\s+\p{L}+\.?\s+\d{1,2}(,?\s+\d{4})?\s*(\([^)]*\))?\s*[-–—:]?\s*$")
            .expect("static regex")
    })
}

fn is_title_case(text: &str) -> bool {
    let long: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() > 3)
        .collect();
    let capitalised = long
        .iter()
        .filter(|w| {
            w.chars()
                .find(|c| c.is_alphabetic())
                .is_some_and(char::is_uppercase)
        })
        .count();
    !long.is_empty() && capitalised * 5 >= long.len() * 3
}

/// Markers that sites put in front of real text ("READ MORE: …", "Advertisement …").
const LEADING_MARKERS: [&str; 8] = [
    "read more",
    "read also",
    "related",
    "advertisement",
    "explore more",
    "photo",
    "image",
    "share this",
];

/// A paragraph this long after its marker is content, not furniture.
const WORDS_AFTER_MARKER: usize = 12;

/// The text after a leading marker ("READ MORE: The alliance said …" → "The alliance said …"),
/// when what follows is a paragraph of its own; None when there is no marker or too little
/// after it (then the whole paragraph is boilerplate).
pub fn strip_leading_marker(text: &str) -> Option<&str> {
    let marker = LEADING_MARKERS.iter().find(|m| {
        text.get(..m.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(m))
    })?;
    let rest = text[marker.len()..].trim_start_matches(|c: char| {
        c.is_whitespace() || matches!(c, ':' | '-' | '–' | '—' | '|' | '.')
    });
    // "Related" must end as a word: "Relatedly, the talks …" has no marker.
    if rest.len() == text.len() - marker.len() && !rest.is_empty() {
        return None;
    }
    (word_count(rest) >= WORDS_AFTER_MARKER).then_some(rest)
}

/// The boilerplate rule (see README "Corpus"): site furniture and datelines are boilerplate;
/// titles (Markdown headings, or 4–20-word lines without a final full stop that open the
/// document or are in Title Case) are kept; other paragraphs under `min_words` are fragments.
pub fn classify(text: &str, heading: bool, first_in_doc: bool, min_words: usize) -> ParagraphKind {
    let lower = text.to_lowercase();
    if BOILERPLATE_OPENINGS.iter().any(|o| lower.starts_with(o)) || dateline().is_match(text) {
        return ParagraphKind::Boilerplate;
    }
    let words = word_count(text);
    let title_shaped = (4..=20).contains(&words) && !text.trim_end().ends_with('.');
    if heading || (title_shaped && (first_in_doc || is_title_case(text))) {
        return ParagraphKind::Title;
    }
    if words < min_words {
        return ParagraphKind::Boilerplate;
    }
    ParagraphKind::Body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_paragraph_per_line_keeps_line_numbers() {
        let text = "First paragraph here.\nSecond one is here.\n\nThird after a blank.\n";
        let ps = split_paragraphs(text, false);
        let got: Vec<(usize, &str)> = ps.iter().map(|p| (p.line, p.text.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (1, "First paragraph here."),
                (2, "Second one is here."),
                (4, "Third after a blank.")
            ]
        );
    }

    #[test]
    fn hard_wrapped_blocks_are_joined() {
        let text = "The alliance met in Brussels on\nWednesday to discuss the plan\nfor peace.\n\nA second block that\nwraps over two lines.\n";
        let ps = split_paragraphs(text, false);
        assert_eq!(ps.len(), 2);
        assert_eq!(
            ps[0].text,
            "The alliance met in Brussels on Wednesday to discuss the plan for peace."
        );
        assert_eq!(
            (ps[1].line, ps[1].text.as_str()),
            (5, "A second block that wraps over two lines.")
        );
    }

    #[test]
    fn crlf_and_markdown_headings() {
        let ps = split_paragraphs("# Heading\r\nBody line one.\r\n", true);
        assert_eq!(
            ps[0],
            SplitParagraph {
                line: 1,
                text: "Heading".into(),
                heading: true
            }
        );
        assert_eq!(ps[1].text, "Body line one.");
    }

    #[test]
    fn boilerplate_rule() {
        use ParagraphKind::*;
        let c = |t: &str, first: bool| classify(t, false, first, 5);
        assert_eq!(c("Report spelling error:", false), Boilerplate);
        assert_eq!(c("Editor Dmitry Sudakov", false), Boilerplate);
        assert_eq!(c("Explore more", false), Boilerplate);
        assert_eq!(
            c("Brussels, December 2 (European Press) –", false),
            Boilerplate
        );
        assert_eq!(c("British News Agency", false), Boilerplate);
        assert_eq!(
            c(
                "NATO pushes to secure a seat at the table in Ukraine peace talks",
                true
            ),
            Title
        );
        assert_eq!(
            c("Allies Agree on Strengthening Ukraine for Talks", false),
            Title
        );
        assert_eq!(
            c(
                "Rutte said the alliance would handle any NATO issue separately.",
                false
            ),
            Body
        );
    }

    #[test]
    fn a_marker_before_a_real_paragraph_is_stripped() {
        let long = "READ MORE: NATO allies met in Brussels on Wednesday to agree how Europe would back Ukraine's security after a ceasefire.";
        assert_eq!(
            strip_leading_marker(long),
            Some("NATO allies met in Brussels on Wednesday to agree how Europe would back Ukraine's security after a ceasefire.")
        );
        assert_eq!(
            strip_leading_marker("Advertisement — The talks in Geneva went on for a second day, with Ukraine's delegation at the table this time."),
            Some("The talks in Geneva went on for a second day, with Ukraine's delegation at the table this time.")
        );
        assert_eq!(strip_leading_marker("READ MORE: NATO summit news"), None);
        assert_eq!(
            strip_leading_marker(
                "Relatedly, the allies said nothing at all about the plan that day in Brussels."
            ),
            None
        );
        assert_eq!(strip_leading_marker("The alliance met."), None);
    }

    #[test]
    fn jsonl_records_are_kept_whole_unless_filtering_is_asked_for() {
        let records = concat!(
            "{\"text\": \"READ MORE: NATO allies met in Brussels on Wednesday to agree how Europe would back Ukraine after a ceasefire.\"}\n",
            "{\"text\": \"Advertisement\"}\n",
            "{\"text\": \"Too short.\"}\n",
            "{\"text\": \"Rutte said the alliance would handle any NATO issue separately.\"}\n",
        );
        let mut kept = Corpus::default();
        kept.add_document(
            "r.jsonl",
            records.as_bytes(),
            DocFormat::Jsonl,
            CorpusOptions::default(),
        )
        .unwrap();
        assert_eq!(kept.paragraphs.len(), 4);
        assert!(kept.paragraphs[0].text.starts_with("READ MORE:"));
        assert!(kept.skipped.is_empty());

        let mut filtered = Corpus::default();
        let options = CorpusOptions {
            keep_records: false,
            ..CorpusOptions::default()
        };
        filtered
            .add_document("r.jsonl", records.as_bytes(), DocFormat::Jsonl, options)
            .unwrap();
        let texts: Vec<&str> = filtered.texts();
        assert_eq!(texts.len(), 2);
        assert!(texts[0].starts_with("NATO allies met"));
        assert_eq!(filtered.skipped.len(), 2);
    }
}

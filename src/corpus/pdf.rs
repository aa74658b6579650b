//! PDF documents in: each page's glyphs (pdf-extract over lopdf) rebuilt into lines and the
//! lines into paragraphs, with running headers, footers and page numbers left out.
//!
//! A PDF has no paragraphs, only glyphs at positions. Lines are glyphs on one baseline;
//! a paragraph ends where the gap to the next line is wider than the document's usual line
//! pitch, where the font size changes (a heading), or where a line that ends a sentence is
//! followed by an indented or a much longer one. A line at the top or the bottom of pages
//! whose text, digits aside, recurs there on another page is a running header or footer; a
//! bare page number there goes too. Hyphens at line ends are joined when the next line goes
//! on in lower case.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Once, OnceLock};

use pdf_extract::{Document, MediaBox, ObjectId, OutputDev, OutputError, Transform};
use regex::Regex;

/// One paragraph of a PDF and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct PdfParagraph {
    /// 1-based page number.
    pub page: u32,
    /// 1-based line on that page, counting every line the page's text has.
    pub line: usize,
    pub text: String,
    /// Set in a larger font than the body text.
    pub heading: bool,
}

/// What a readable PDF gave.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PdfText {
    pub paragraphs: Vec<PdfParagraph>,
    /// Pages whose content could not be read (the others were).
    pub unread_pages: Vec<u32>,
}

/// Why a PDF gave no text: each is one warning, and the file is skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfError {
    #[error("not a readable PDF ({0})")]
    Unreadable(String),
    #[error("encrypted PDF (decrypt it with its password first, e.g. `qpdf --password=PASSWORD --decrypt IN.pdf OUT.pdf`)")]
    Encrypted,
    #[error("no text in this PDF (scanned pages? run OCR first, e.g. `ocrmypdf`)")]
    NoText,
}

/// The paragraphs of the PDF in `bytes`, page by page.
pub fn main_text(bytes: &[u8]) -> Result<PdfText, PdfError> {
    let mut doc = match quietly(|| Document::load_mem(bytes)) {
        Ok(Ok(doc)) => doc,
        Ok(Err(pdf_extract::Error::Decryption(_))) => return Err(PdfError::Encrypted),
        Ok(Err(e)) => return Err(PdfError::Unreadable(e.to_string())),
        Err(_) => return Err(PdfError::Unreadable("its structure is damaged".into())),
    };
    // A document encrypted only against editing opens with the empty password.
    if doc.is_encrypted() && !matches!(quietly(|| doc.decrypt("")), Ok(Ok(()))) {
        return Err(PdfError::Encrypted);
    }
    let numbers: Vec<(u32, ObjectId)> = match quietly(|| doc.get_pages()) {
        Ok(pages) => pages.into_iter().collect(),
        Err(_) => return Err(PdfError::Unreadable("its page tree is damaged".into())),
    };
    if numbers.is_empty() {
        return Err(PdfError::Unreadable("it has no pages".into()));
    }
    let mut pages = Vec::with_capacity(numbers.len());
    let mut unread_pages = Vec::new();
    for (number, id) in numbers {
        // The reader looks up inherited attributes by following /Parent without end: a page
        // in a loop of parents would hang it.
        if !parents_end(&doc, id) {
            unread_pages.push(number);
            continue;
        }
        let mut collector = Collector::default();
        match quietly(|| pdf_extract::output_doc_page(&doc, &mut collector, number)) {
            Ok(Ok(())) => pages.push(Page {
                number,
                lines: collector.lines,
            }),
            _ => unread_pages.push(number),
        }
    }
    if pages.iter().all(|p| p.lines.is_empty()) {
        return Err(if unread_pages.is_empty() {
            PdfError::NoText
        } else {
            PdfError::Unreadable("no page's content could be read".into())
        });
    }
    Ok(PdfText {
        paragraphs: paragraphs(&pages),
        unread_pages,
    })
}

/// Whether the chain of /Parent references from `id` ends, within a depth no real page tree
/// reaches, without coming back to where it has been.
fn parents_end(doc: &Document, id: ObjectId) -> bool {
    const MAX_DEPTH: usize = 256;
    let mut seen = HashSet::new();
    let mut at = id;
    for _ in 0..MAX_DEPTH {
        if !seen.insert(at) {
            return false;
        }
        let parent = doc
            .get_dictionary(at)
            .ok()
            .and_then(|d| d.get(b"Parent").ok())
            .and_then(|p| p.as_reference().ok());
        match parent {
            Some(next) => at = next,
            None => return true,
        }
    }
    false
}

/// One line of glyphs on a page, in device space (y grows downwards).
#[derive(Debug, Clone, PartialEq)]
struct Line {
    /// Baseline of the line's first glyph.
    y: f64,
    x0: f64,
    x1: f64,
    /// The largest font size on the line.
    size: f64,
    text: String,
}

struct Page {
    number: u32,
    lines: Vec<Line>,
}

/// Receives a page's glyphs from pdf-extract and strings them into lines.
#[derive(Default)]
struct Collector {
    height: f64,
    lines: Vec<Line>,
    /// A space glyph was drawn since the last visible one.
    space: bool,
}

impl OutputDev for Collector {
    fn begin_page(
        &mut self,
        _page: u32,
        media_box: &MediaBox,
        _art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.height = media_box.ury - media_box.lly;
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        text: &str,
    ) -> Result<(), OutputError> {
        // The text matrix scales the font; its determinant is that scale squared, whatever
        // the rotation.
        let scale = (trm.m11 * trm.m22 - trm.m12 * trm.m21).abs().sqrt();
        let size = font_size.abs() * scale;
        let (x, y) = (trm.m31, self.height - trm.m32);
        if ![size, x, y, width].iter().all(|v| v.is_finite()) || size <= 0.0 {
            return Ok(());
        }
        let end = x + width.max(0.0) * size;
        let text = clean(text);
        if text.chars().all(folds) {
            self.space = true;
            if let Some(line) = self.lines.last_mut() {
                line.x1 = line.x1.max(end);
            }
            return Ok(());
        }
        match self.lines.last_mut() {
            Some(line) if same_line(line, x, y, size) => {
                if (self.space || x > line.x1 + 0.15 * size.min(line.size))
                    && !line.text.ends_with(' ')
                {
                    line.text.push(' ');
                }
                line.text.push_str(&text);
                line.x1 = line.x1.max(end);
                line.size = line.size.max(size);
            }
            _ => self.lines.push(Line {
                y,
                x0: x,
                x1: end,
                size,
                text,
            }),
        }
        self.space = false;
        Ok(())
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// A glyph at (x, y) goes on `line` when it sits on its baseline (a superscript rises less
/// than half the size) and does not jump back to the left.
fn same_line(line: &Line, x: f64, y: f64, size: f64) -> bool {
    let size = size.min(line.size);
    (y - line.y).abs() <= 0.5 * size && x >= line.x1 - size
}

/// White space that separates words; the no-break spaces are text (as in HTML).
fn folds(c: char) -> bool {
    c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}')
}

/// A glyph's text as plain characters: ligatures spelt out, control characters gone.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\u{fb00}' => out.push_str("ff"),
            '\u{fb01}' => out.push_str("fi"),
            '\u{fb02}' => out.push_str("fl"),
            '\u{fb03}' => out.push_str("ffi"),
            '\u{fb04}' => out.push_str("ffl"),
            '\u{fb05}' | '\u{fb06}' => out.push_str("st"),
            c if folds(c) => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// How many lines at the top and at the bottom of a page may be running headers or footers.
const EDGE: usize = 3;

/// The paragraphs of the pages, headers and footers left out, a paragraph broken by a page
/// break joined again.
fn paragraphs(pages: &[Page]) -> Vec<PdfParagraph> {
    let furniture = furniture(pages);
    let body = body_size(pages);
    let pitch = line_pitch(pages, body);
    let mut out: Vec<PdfParagraph> = Vec::new();
    let mut sizes: Vec<f64> = Vec::new();
    // The size of the last line kept, on whichever page.
    let mut last_size: Option<f64> = None;
    for page in pages {
        let kept: Vec<(usize, &Line)> = page
            .lines
            .iter()
            .enumerate()
            .filter(|(i, _)| !furniture.contains(&(page.number, *i)))
            .collect();
        let mut previous: Option<&Line> = None;
        for (i, line) in kept {
            let text = line.text.trim();
            if text.is_empty() {
                continue;
            }
            let goes_on = match previous {
                Some(prev) => !breaks(prev, line, body, pitch),
                // Across a page break, a paragraph goes on when it stopped mid-sentence and
                // the new page goes on in the same size, with no new list item.
                None => out.last().is_some_and(|p| {
                    !ends_sentence(&p.text)
                        && !starts_item(text)
                        && last_size.is_some_and(|s| similar(s, line.size))
                }),
            };
            match out.last_mut() {
                Some(p) if goes_on => join(&mut p.text, text),
                _ => {
                    out.push(PdfParagraph {
                        page: page.number,
                        line: i + 1,
                        text: text.to_string(),
                        heading: false,
                    });
                    sizes.push(line.size);
                }
            }
            previous = Some(line);
            last_size = Some(line.size);
        }
    }
    for (p, size) in out.iter_mut().zip(&sizes) {
        p.heading = *size > body * 1.15 && p.text.split_whitespace().count() <= 20;
    }
    out
}

/// Whether a new paragraph starts at `line` after `prev` on the same page.
fn breaks(prev: &Line, line: &Line, body: f64, pitch: f64) -> bool {
    let size = prev.size.max(line.size);
    let dy = line.y - prev.y;
    // The usual pitch is the body text's; larger type is set with a pitch as much larger.
    let usual = pitch * (size / body).max(1.0);
    if dy > usual * 1.15 || dy < -0.5 * size || !similar(prev.size, line.size) {
        return true;
    }
    if starts_item(&line.text) {
        return true;
    }
    let ended = ends_sentence(&prev.text);
    let indented = line.x0 > prev.x0 + 0.8 * size;
    let short = prev.x1 < line.x1 - 3.0 * size;
    ended && (indented || short)
}

/// A list item's first line: a bullet, or a number or letter and a dot or bracket before text.
fn starts_item(text: &str) -> bool {
    static ITEM: OnceLock<Regex> = OnceLock::new();
    let item = ITEM.get_or_init(|| {
        Regex::new(r"^\s*([•◦▪▫‣⁃●○■□–—*]|\(?(\d{1,3}|[a-z])[.)])\s+\S").expect("list-item pattern")
    });
    item.is_match(text)
}

/// Two font sizes within 10% of each other.
fn similar(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.1 * a.max(b)
}

fn ends_sentence(text: &str) -> bool {
    text.trim_end()
        .ends_with(['.', '!', '?', ':', '"', '\u{201d}', '\u{2019}', ')'])
}

/// Appends a line to a paragraph: a hyphen at the end of `text` is dropped when the line goes
/// on in lower case (a word broken across lines), kept otherwise.
fn join(text: &mut String, line: &str) {
    let lower_next = line.chars().next().is_some_and(char::is_lowercase);
    let mut chars = text.chars().rev();
    let broken_word = matches!(chars.next(), Some('-' | '\u{ad}' | '\u{2010}'))
        && chars.next().is_some_and(char::is_alphabetic)
        && lower_next;
    if broken_word {
        text.pop();
    } else if text.ends_with('\u{ad}') {
        text.pop();
        text.push(' ');
    } else {
        text.push(' ');
    }
    text.push_str(line);
}

/// The (page, line index) of running headers, footers and page numbers.
fn furniture(pages: &[Page]) -> HashSet<(u32, usize)> {
    let edges = |page: &Page| {
        let n = page.lines.len();
        (0..n).filter(move |&i| i < EDGE || i + EDGE >= n)
    };
    let mut seen: HashMap<String, HashSet<u32>> = HashMap::new();
    for page in pages {
        for i in edges(page) {
            seen.entry(edge_key(&page.lines[i].text))
                .or_default()
                .insert(page.number);
        }
    }
    let mut out = HashSet::new();
    for page in pages {
        for i in edges(page) {
            let text = &page.lines[i].text;
            let recurs = seen.get(&edge_key(text)).is_some_and(|on| on.len() >= 2);
            if recurs || is_page_number(text) {
                out.insert((page.number, i));
            }
        }
    }
    out
}

/// A header's text with what changes from page to page (numbers, case, spacing) folded.
fn edge_key(text: &str) -> String {
    let mut key = String::with_capacity(text.len());
    let mut digits = false;
    for word in text.split_whitespace() {
        if !key.is_empty() {
            key.push(' ');
        }
        for c in word.chars() {
            if c.is_ascii_digit() {
                if !digits {
                    key.push('#');
                }
                digits = true;
            } else {
                digits = false;
                key.extend(c.to_lowercase());
            }
        }
        digits = false;
    }
    key
}

/// "7", "- 7 -", "Page 7", "page 7 of 12", "7/12", "vii".
fn is_page_number(text: &str) -> bool {
    static PAGE: OnceLock<Regex> = OnceLock::new();
    let page = PAGE.get_or_init(|| {
        Regex::new(r"(?i)^(page\s*)?(\d{1,5}|[ivxlcdm]{1,7})(\s*(of|/)\s*\d{1,5})?$")
            .expect("page-number pattern")
    });
    let trimmed = text.trim_matches(|c: char| !c.is_alphanumeric());
    !trimmed.is_empty() && page.is_match(trimmed)
}

/// The font size most of the text is set in (by characters, to a tenth of a point).
fn body_size(pages: &[Page]) -> f64 {
    let mut weights: HashMap<i64, usize> = HashMap::new();
    for line in pages.iter().flat_map(|p| &p.lines) {
        *weights
            .entry((line.size * 10.0).round() as i64)
            .or_default() += line.text.len();
    }
    weights
        .into_iter()
        .max_by_key(|&(size, weight)| (weight, std::cmp::Reverse(size)))
        .map_or(10.0, |(size, _)| size as f64 / 10.0)
}

/// The usual distance between the baselines of two body lines, or 1.2 sizes when no two body
/// lines follow each other.
fn line_pitch(pages: &[Page], body: f64) -> f64 {
    // In half points: the most frequent gap is the one inside paragraphs, as long as most
    // paragraphs run over two lines or more; ties go to the smaller gap.
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for w in pages.iter().flat_map(|p| p.lines.windows(2)) {
        let dy = w[1].y - w[0].y;
        if similar(w[0].size, body)
            && similar(w[1].size, body)
            && dy > 0.5 * body
            && dy < 3.0 * body
        {
            *counts.entry((dy * 2.0).round() as i64).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by_key(|&(gap, n)| (n, std::cmp::Reverse(gap)))
        .map_or(1.2 * body, |(gap, _)| gap as f64 / 2.0)
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, catching a panic without printing it: the PDF reader panics on some damaged
/// files, and one bad file is a warning, not a crash. Other panics print as before.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(y: f64, x0: f64, x1: f64, size: f64, text: &str) -> Line {
        Line {
            y,
            x0,
            x1,
            size,
            text: text.to_string(),
        }
    }

    #[test]
    fn page_numbers_and_running_heads_are_recognised() {
        for text in [
            "7",
            "- 7 -",
            "Page 7",
            "page 7 of 12",
            "7/12",
            "vii",
            "— 12 —",
        ] {
            assert!(is_page_number(text), "{text}");
        }
        for text in ["7 days", "Chapter 7", "In 2024 NATO met", ""] {
            assert!(!is_page_number(text), "{text}");
        }
        assert_eq!(
            edge_key("Annual Report 2024 — page 3"),
            "annual report # — page #"
        );
        assert_eq!(
            edge_key("Annual  report 2024 — Page 12"),
            "annual report # — page #"
        );
    }

    #[test]
    fn lines_become_paragraphs_at_gaps_indents_and_size_changes() {
        let page = Page {
            number: 1,
            lines: vec![
                line(60.0, 72.0, 300.0, 18.0, "Security guarantees"),
                line(
                    90.0,
                    72.0,
                    520.0,
                    10.0,
                    "Ukraine asked for guarantees that would",
                ),
                line(
                    102.0,
                    72.0,
                    520.0,
                    10.0,
                    "hold after a ceasefire, and its allies de-",
                ),
                line(114.0, 72.0, 300.0, 10.0, "bated them for weeks."),
                line(
                    126.0,
                    90.0,
                    520.0,
                    10.0,
                    "An indented line starts a new paragraph",
                ),
                line(138.0, 72.0, 400.0, 10.0, "and this one goes on with it."),
                line(162.0, 72.0, 520.0, 10.0, "A wider gap starts another one."),
            ],
        };
        let got = paragraphs(&[page]);
        let texts: Vec<(usize, &str, bool)> = got
            .iter()
            .map(|p| (p.line, p.text.as_str(), p.heading))
            .collect();
        assert_eq!(
            texts,
            [
                (1, "Security guarantees", true),
                (
                    2,
                    "Ukraine asked for guarantees that would hold after a ceasefire, and its \
                     allies debated them for weeks.",
                    false
                ),
                (
                    5,
                    "An indented line starts a new paragraph and this one goes on with it.",
                    false
                ),
                (7, "A wider gap starts another one.", false),
            ]
        );
    }

    #[test]
    fn running_heads_go_and_a_paragraph_goes_on_over_a_page_break() {
        let page = |number: u32, first: &str, second: &str| Page {
            number,
            lines: vec![
                line(30.0, 72.0, 300.0, 8.0, "Quarterly Briefing — Restricted"),
                line(90.0, 72.0, 520.0, 10.0, first),
                line(102.0, 72.0, 520.0, 10.0, second),
                line(780.0, 290.0, 300.0, 8.0, &format!("{number}")),
            ],
        };
        let pages = [
            page(
                1,
                "The talks opened in Geneva with every",
                "party at the table and a long nego-",
            ),
            page(
                2,
                "tiated agenda that nobody expected to",
                "change before the summer ended.",
            ),
        ];
        let got = paragraphs(&pages);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!((got[0].page, got[0].line), (1, 2));
        assert_eq!(
            got[0].text,
            "The talks opened in Geneva with every party at the table and a long negotiated \
             agenda that nobody expected to change before the summer ended."
        );
    }

    #[test]
    fn hyphens_are_kept_before_capitals_and_soft_ones_dropped() {
        let mut text = "the pro-".to_string();
        join(&mut text, "Russian side");
        assert_eq!(text, "the pro- Russian side");
        let mut text = "nego\u{ad}".to_string();
        join(&mut text, "tiations");
        assert_eq!(text, "negotiations");
        assert_eq!(clean("\u{fb01}nal\u{7}\tword"), "final word");
    }

    #[test]
    fn a_page_in_a_loop_of_parents_is_skipped_not_a_hang() {
        use pdf_extract::{Dictionary, Object, Stream};
        let mut doc = Document::with_version("1.5");
        let pages = doc.new_object_id();
        let mut font = Dictionary::new();
        font.set("Type", Object::Name(b"Font".to_vec()));
        font.set("Subtype", Object::Name(b"Type1".to_vec()));
        font.set("BaseFont", Object::Name(b"Helvetica".to_vec()));
        let font = doc.add_object(font);
        let mut fonts = Dictionary::new();
        fonts.set("F1", font);
        let mut resources = Dictionary::new();
        resources.set("Font", fonts);
        let text = b"BT /F1 12 Tf 72 700 Td (The talks resumed in Geneva today.) Tj ET".to_vec();
        let content = doc.add_object(Stream::new(Dictionary::new(), text));
        let page = |parent: Option<ObjectId>, doc: &mut Document| {
            let id = doc.new_object_id();
            let mut page = Dictionary::new();
            page.set("Type", Object::Name(b"Page".to_vec()));
            page.set("Parent", parent.unwrap_or(id));
            page.set("Contents", content);
            page.set("Resources", resources.clone());
            doc.objects.insert(id, Object::Dictionary(page));
            id
        };
        let good = page(Some(pages), &mut doc);
        let looped = page(None, &mut doc);
        let mut tree = Dictionary::new();
        tree.set("Type", Object::Name(b"Pages".to_vec()));
        tree.set("Kids", vec![good.into(), looped.into()]);
        tree.set("Count", 2);
        tree.set("MediaBox", vec![0.into(), 0.into(), 595.into(), 842.into()]);
        doc.objects.insert(pages, Object::Dictionary(tree));
        let mut catalog = Dictionary::new();
        catalog.set("Type", Object::Name(b"Catalog".to_vec()));
        catalog.set("Pages", pages);
        let catalog = doc.add_object(catalog);
        doc.trailer.set("Root", catalog);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        let read = main_text(&bytes).unwrap();
        assert_eq!(read.unread_pages, [2]);
        let texts: Vec<&str> = read.paragraphs.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["The talks resumed in Geneva today."]);
    }

    #[test]
    fn bytes_that_are_not_a_pdf_are_one_error() {
        for bytes in [
            &b""[..],
            b"%PDF-1.4\n",
            b"<html>not a pdf</html>",
            &[0xff; 64],
        ] {
            assert!(matches!(main_text(bytes), Err(PdfError::Unreadable(_))));
        }
    }
}

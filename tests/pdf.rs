//! PDFs in: the sample corpus printed to PDF by fpdf2 (in a venv of the test's own) on small
//! pages with a running header and "Page N of M" footers reads back as its text, paragraph for
//! paragraph; `nearest` over PDFs says page and line; a folder mixing text and PDFs gives the
//! themes of the text; encrypted, damaged, empty and text-less PDFs are one warning each.

mod common;

use std::path::Path;

use common::*;
use regex::Regex;
use themescope::corpus::ParagraphKind;
use themescope::{Corpus, CorpusOptions};

/// Prints each JSON document given on stdin (`{"path", "title", "paragraphs"}`) as an A5 PDF
/// in Helvetica (cp1252), its title in 16pt bold, with a running header and footer.
const PRINT: &str = r#"
import json, sys
from fpdf import FPDF
NEXT = dict(new_x="LMARGIN", new_y="NEXT")
HEADER = "Hibya Briefing - Restricted circulation"
class Briefing(FPDF):
    def header(self):
        self.set_font("helvetica", size=8)
        self.cell(0, 5, HEADER, **NEXT)
        self.ln(4)
    def footer(self):
        self.set_y(-12)
        self.set_font("helvetica", size=8)
        self.cell(0, 5, f"Page {self.page_no()} of {{nb}}", align="C")
for doc in json.load(sys.stdin):
    # A bare page has no text at all: a drawing, as a scan would be.
    pdf = FPDF(format="A5") if doc.get("bare") else Briefing(format="A5")
    pdf.core_fonts_encoding = "windows-1252"
    pdf.add_page()
    if doc.get("bare"):
        pdf.rect(20, 20, 80, 120, style="F")
    if doc["title"]:
        pdf.set_font("helvetica", "B", 16)
        pdf.multi_cell(0, 8, doc["title"], **NEXT)
        pdf.ln(3)
    pdf.set_font("helvetica", size=10)
    for lines in doc["paragraphs"]:
        # A paragraph is its text, or its lines as given (to break a word at a line's end).
        if isinstance(lines, str):
            pdf.multi_cell(0, 5, lines, **NEXT)
        else:
            for line in lines:
                pdf.cell(0, 5, line, **NEXT)
        pdf.ln(3)
    if doc.get("password"):
        pdf.set_encryption(owner_password="owner", user_password=doc["password"])
    pdf.output(doc["path"])
"#;

const HEADER: &str = "Hibya Briefing";

/// The fpdf2 the PDFs are printed with: pinned, so that the layout the test reads is fixed.
const FPDF2: &str = "fpdf2==2.8.9";

/// Characters Helvetica's cp1252 cannot print, as the PDFs spell them; fpdf2 prints a no-break
/// space as a space, and where two spaces were a page has one gap.
fn printable(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| match c {
            '\u{a0}' => ' ',
            '【' => '[',
            '】' => ']',
            'ș' => 's',
            c => c,
        })
        .collect();
    text.split(' ')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sample corpus' articles, as the text reader finds them (boilerplate kept), made
/// printable: (file stem, title, paragraphs).
fn articles() -> Vec<(String, Option<String>, Vec<String>)> {
    let options = CorpusOptions {
        keep_all: true,
        ..CorpusOptions::default()
    };
    let files = Corpus::files(&[project_dir().join("data/nato-ukraine")]).unwrap();
    files
        .iter()
        .map(|file| {
            let corpus = Corpus::load(&[file], options).unwrap();
            let mut texts: Vec<String> = corpus
                .paragraphs
                .iter()
                .map(|p| printable(&p.text))
                .collect();
            let title =
                (corpus.paragraphs[0].kind == ParagraphKind::Title).then(|| texts.remove(0));
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, title, texts)
        })
        .collect()
}

/// Prints `docs` (JSON documents for [`PRINT`]); false when no venv can be had here.
fn print(docs: serde_json::Value) -> bool {
    let Some(python) = python_with("themescope-test-pdf", FPDF2, "fpdf") else {
        return false;
    };
    let mut child = std::process::Command::new(python)
        .args(["-c", PRINT])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &docs).unwrap();
    assert!(child.wait().unwrap().success(), "fpdf2 could not print");
    true
}

/// The sample corpus as PDFs in `pdfs` and, printable, as text files in `texts`.
fn save_as_pdfs(pdfs: &Path, texts: &Path) -> bool {
    let docs: Vec<serde_json::Value> = articles()
        .into_iter()
        .map(|(stem, title, paragraphs)| {
            let mut text = title.clone().into_iter().collect::<Vec<_>>();
            text.extend(paragraphs.iter().cloned());
            std::fs::write(texts.join(format!("{stem}.txt")), text.join("\n") + "\n").unwrap();
            serde_json::json!({
                "path": pdfs.join(format!("{stem}.pdf")),
                "title": title,
                "paragraphs": paragraphs,
            })
        })
        .collect();
    print(serde_json::Value::Array(docs))
}

#[test]
fn pdfs_read_as_their_articles_without_running_heads_or_page_numbers() {
    let (pdfs, texts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    if !save_as_pdfs(pdfs.path(), texts.path()) {
        return;
    }
    let options = CorpusOptions::default();
    let text = Corpus::load(&[texts.path()], options).unwrap();
    let pdf = Corpus::load(&[pdfs.path()], options).unwrap();
    assert_eq!(pdf.documents.len(), 5);
    assert!(pdf.warnings.is_empty(), "{:?}", pdf.warnings);
    let kinds = |c: &Corpus| -> Vec<(String, &'static str)> {
        c.paragraphs
            .iter()
            .map(|p| (p.text.clone(), p.kind.as_str()))
            .collect()
    };
    let (pdf_kinds, text_kinds) = (kinds(&pdf), kinds(&text));
    for (i, (p, t)) in pdf_kinds.iter().zip(&text_kinds).enumerate() {
        assert_eq!(p, t, "paragraph {i}: {}", pdf.paragraphs[i].id);
    }
    assert_eq!(pdf_kinds.len(), text_kinds.len());
    for p in pdf.paragraphs.iter().chain(&pdf.skipped) {
        assert!(!p.text.contains(HEADER), "{}: {:?}", p.id, p.text);
        assert!(!p.text.contains("Page "), "{}: {:?}", p.id, p.text);
        let page = p.page.expect("a PDF paragraph has a page");
        assert_eq!(p.id, format!("{}:{page}:{}", p.doc, p.line));
    }
    let pages: std::collections::HashSet<(&str, u32)> = pdf
        .paragraphs
        .iter()
        .map(|p| (p.doc.as_str(), p.page.unwrap()))
        .collect();
    assert!(
        pages.len() > pdf.documents.len(),
        "the articles should run over several pages each: {pages:?}"
    );
}

#[test]
fn nearest_over_pdfs_says_page_and_line_and_a_mixed_folder_gives_the_texts_themes() {
    let (pdfs, texts) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    if !save_as_pdfs(pdfs.path(), texts.path()) {
        return;
    }
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], input: &Path| -> String {
        Outcome::of(
            themescope_with_real_model(home.path())
                .arg("-q")
                .args(args)
                .arg(input),
        )
        .ok()
        .stdout
    };
    let query = ["nearest", "security guarantees for Ukraine", "-k", "3"];
    let places = Regex::new(r"(?m)^ *\d\. [0-9.]+  (\S+)$").unwrap();
    let from_pdfs = run(&query, pdfs.path());
    let hits: Vec<&str> = places
        .captures_iter(&from_pdfs)
        .map(|c| c.get(1).unwrap().as_str())
        .collect();
    assert_eq!(hits.len(), 3, "{from_pdfs}");
    let place = Regex::new(r"\.pdf:\d+:\d+$").unwrap();
    assert!(hits.iter().all(|h| place.is_match(h)), "{from_pdfs}");
    // The same passages, worded the same, as the text gives.
    let passages = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with("      "))
            .map(str::trim)
            .map(String::from)
            .collect()
    };
    assert_eq!(passages(&from_pdfs), passages(&run(&query, texts.path())));

    // Two articles as text, three as PDFs.
    let mixed = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(texts.path()).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let from = if stem.as_str() < "002" {
            path.clone()
        } else {
            pdfs.path().join(format!("{stem}.pdf"))
        };
        std::fs::copy(&from, mixed.path().join(from.file_name().unwrap())).unwrap();
    }
    let themes = |input: &Path| -> serde_json::Value {
        serde_json::from_str(&run(&["themes", "--format", "json"], input)).unwrap()
    };
    assert_eq!(
        anonymous(themes(mixed.path())["themes"].clone()),
        anonymous(themes(texts.path())["themes"].clone())
    );
}

#[test]
fn encrypted_damaged_empty_and_textless_pdfs_are_one_warning_each() {
    let dir = tempfile::tempdir().unwrap();
    let docs = serde_json::json!([
        {"path": dir.path().join("good.pdf"), "title": "A readable briefing",
         "paragraphs": [
             "The talks resumed in Geneva on Tuesday with every delegation at the table.",
             ["Diplomats said a settlement would need a long nego-",
              "tiated list of guarantees before any ceasefire."]
         ]},
        {"path": dir.path().join("encrypted.pdf"), "title": null, "password": "secret",
         "paragraphs": ["Only those with the password may read this briefing on the talks."]},
        {"path": dir.path().join("blank.pdf"), "title": null, "paragraphs": [], "bare": true},
    ]);
    if !print(docs) {
        return;
    }
    let good = std::fs::read(dir.path().join("good.pdf")).unwrap();
    std::fs::write(dir.path().join("truncated.pdf"), &good[..good.len() / 3]).unwrap();
    std::fs::write(
        dir.path().join("garbage.pdf"),
        b"%PDF-1.7\n1 0 obj << /Type /Cat",
    )
    .unwrap();
    std::fs::write(dir.path().join("empty.pdf"), b"").unwrap();

    let corpus = Corpus::load(&[dir.path()], CorpusOptions::default()).unwrap();
    let texts: Vec<&str> = corpus.paragraphs.iter().map(|p| p.text.as_str()).collect();
    assert!(
        texts.contains(
            &"Diplomats said a settlement would need a long negotiated list of guarantees before \
              any ceasefire."
        ),
        "{texts:?}"
    );
    let warned: Vec<String> = corpus.warnings.iter().map(ToString::to_string).collect();
    for (name, why) in [
        ("blank.pdf", "no text in this PDF"),
        ("empty.pdf", "not a readable PDF"),
        ("encrypted.pdf", "encrypted PDF"),
        ("garbage.pdf", "not a readable PDF"),
        ("truncated.pdf", "not a readable PDF"),
    ] {
        let doc = dir.path().join(name).display().to_string();
        let mine: Vec<&String> = warned.iter().filter(|w| w.contains(&doc)).collect();
        assert_eq!(mine.len(), 1, "{name}: {warned:?}");
        assert!(
            mine[0].starts_with(&format!("skipped {doc}: {why}")),
            "{mine:?}"
        );
    }
    assert_eq!(warned.len(), 5, "{warned:?}");

    // On the command line: one line each, a count in the summary, and the good file used.
    let home = tempfile::tempdir().unwrap();
    let out = Outcome::of(
        themescope_with_real_model(home.path())
            .args(["embed", "--format", "jsonl"])
            .arg(dir.path()),
    )
    .ok();
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("themescope: warning: skipped"))
        .collect();
    assert_eq!(warnings.len(), 5, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("from 1 document, 5 files unreadable and skipped"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().count(),
        corpus.paragraphs.len(),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("a long negotiated list"),
        "{}",
        out.stdout
    );
}

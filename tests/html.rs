//! HTML pages in: the sample corpus saved as a news site's pages — a cookie banner, a header
//! with a menu and a search box, breadcrumbs, a byline, share links, a related-stories list,
//! a most-read sidebar and a footer around each article — reads as the text version: the same
//! paragraphs in the same order, none of the page's furniture, and the same themes.

mod common;

use std::path::Path;

use common::*;
use themescope::{Corpus, CorpusOptions};

/// Text that is the site's, not the article's: none of it may reach a paragraph.
const FURNITURE: [&str; 14] = [
    "We use cookies",
    "Accept all",
    "Manage settings",
    "Politics",
    "Search the site",
    "Home",
    "Staff Reporter",
    "Share on",
    "Related stories",
    "Most read",
    "All rights reserved",
    "About us",
    "Privacy policy",
    "Hibya News Agency",
];

fn escape(text: &str) -> String {
    // Some characters as named entities, as saved pages spell them.
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{2019}', "&rsquo;")
        .replace('\u{201c}', "&ldquo;")
        .replace('\u{201d}', "&rdquo;")
        .replace('\u{2013}', "&ndash;")
}

/// One article as a page of a news site (a page without a title has no `<title>` or `<h1>`).
fn page(title: Option<&str>, paragraphs: &[&str], others: &[&str]) -> String {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("      <p>{}</p>\n", escape(p)))
        .collect();
    let related: String = others
        .iter()
        .enumerate()
        .map(|(i, t)| format!("<li><a href=\"/story/{i}\">{}</a></li>", escape(t)))
        .collect();
    let (head_title, heading) = match title {
        Some(title) => {
            let title = escape(title);
            (
                format!(
                    "<title>{title} | Hibya News Agency</title>\n<meta property=\"og:title\" content=\"{title}\">"
                ),
                format!("<h1>{title}</h1>"),
            )
        }
        None => (String::new(), String::new()),
    };
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{head_title}
<link rel="stylesheet" href="/css/site.css"><script>window.dataLayer = [];</script>
<style>.cookie-banner {{ position: fixed; }}</style></head>
<body>
<div id="cookie-consent" class="cookie-banner">We use cookies to give you the best experience
on our website. By continuing you agree to our cookie policy. <button>Accept all</button>
<a href="/privacy">Manage settings</a></div>
<header class="site-header"><a class="logo" href="/">Hibya News Agency</a>
  <nav class="main-menu"><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
  <li><a href="/europe">Europe</a></li><li><a href="/politics">Politics</a></li>
  <li><a href="/economy">Economy</a></li><li><a href="/opinion">Opinion</a></li></ul></nav>
  <form class="search"><input name="q" placeholder="Search the site"><button>Search</button></form>
</header>
<main>
  <div class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/world">World</a></div>
  <article>
    {heading}
    <div class="byline">By <a href="/authors/staff" rel="author">Staff Reporter</a></div>
    <div class="share"><a href="#">Share on Facebook</a> <a href="#">Share on X</a> <a href="#">Email</a></div>
    <div class="article-body">
{body}    </div>
  </article>
  <section class="related"><h2>Related stories</h2><ul>{related}</ul></section>
</main>
<aside class="sidebar"><h3>Most read</h3><ol>{related}</ol></aside>
<footer class="site-footer"><p>&copy; 2025 Hibya News Agency. All rights reserved.</p>
<ul><li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li>
<li><a href="/privacy">Privacy policy</a></li></ul></footer>
<script src="/js/app.js"></script>
</body></html>
"##
    )
}

/// The sample corpus as pages in `dir`: each text file's paragraphs (as the text reader finds
/// them, boilerplate included), under its first one as the page's title when the reader
/// takes that one for a title.
fn save_as_pages(dir: &Path) {
    let options = CorpusOptions {
        keep_all: true,
        ..CorpusOptions::default()
    };
    let files = Corpus::files(&[project_dir().join("data/nato-ukraine")]).unwrap();
    // Other stories' headlines, for the related-stories list: each file's first line.
    let titles: Vec<String> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            text.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    for (i, file) in files.iter().enumerate() {
        let corpus = Corpus::load(&[file], options).unwrap();
        let texts: Vec<&str> = corpus.paragraphs.iter().map(|p| p.text.as_str()).collect();
        let titled = corpus.paragraphs[0].kind == themescope::corpus::ParagraphKind::Title;
        let others: Vec<&str> = titles
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, t)| t.as_str())
            .collect();
        let name = file.file_stem().unwrap().to_string_lossy();
        std::fs::write(
            dir.join(format!("{name}.html")),
            if titled {
                page(Some(texts[0]), &texts[1..], &others)
            } else {
                page(None, &texts, &others)
            },
        )
        .unwrap();
    }
}

#[test]
fn pages_read_as_their_articles_without_the_sites_furniture() {
    let pages = tempfile::tempdir().unwrap();
    save_as_pages(pages.path());
    let options = CorpusOptions::default();
    let text = Corpus::load(&[project_dir().join("data/nato-ukraine")], options).unwrap();
    let html = Corpus::load(&[pages.path()], options).unwrap();
    assert_eq!(html.documents.len(), 5);
    let kinds = |c: &Corpus| -> Vec<(String, &'static str)> {
        c.paragraphs
            .iter()
            .map(|p| (p.text.clone(), p.kind.as_str()))
            .collect()
    };
    let (html_kinds, text_kinds) = (kinds(&html), kinds(&text));
    for (i, (h, t)) in html_kinds.iter().zip(&text_kinds).enumerate() {
        assert_eq!(h, t, "paragraph {i}: {}", html.paragraphs[i].id);
    }
    assert_eq!(html_kinds.len(), text_kinds.len());
    for p in html.paragraphs.iter().chain(&html.skipped) {
        for furniture in FURNITURE {
            assert!(
                !p.text.contains(furniture),
                "{}: {furniture:?} reached a paragraph: {:?}",
                p.id,
                p.text
            );
        }
    }
}

#[test]
fn the_sample_corpus_as_pages_gives_the_themes_of_its_text() {
    let home = tempfile::tempdir().unwrap();
    let pages = tempfile::tempdir().unwrap();
    save_as_pages(pages.path());
    let themes = |input: &Path| -> serde_json::Value {
        let out = Outcome::of(
            themescope_with_real_model(home.path())
                .args(["-q", "themes", "--format", "json"])
                .arg(input),
        )
        .ok();
        serde_json::from_str(&out.stdout).unwrap()
    };
    let from_text = themes(&project_dir().join("data/nato-ukraine"));
    let from_pages = themes(pages.path());
    assert_eq!(
        anonymous(from_pages["themes"].clone()),
        anonymous(from_text["themes"].clone())
    );
}

#[test]
fn broken_deep_and_empty_pages_read_without_a_fault() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        "<html><body>{}<p>A paragraph at the bottom of a very deep page of nested blocks.</p>{}",
        "<div><span>".repeat(20_000),
        "</span></div>".repeat(20_000)
    );
    std::fs::write(dir.path().join("deep.html"), deep).unwrap();
    std::fs::write(
        dir.path().join("broken.html"),
        "<p>Unclosed <b>tags and a stray </i> end tag, &bogus; entity & <<< brackets in text here",
    )
    .unwrap();
    std::fs::write(dir.path().join("empty.html"), "").unwrap();
    std::fs::write(dir.path().join("binary.html"), b"<html>\0\x01\x02").unwrap();
    let corpus = Corpus::load(&[dir.path()], CorpusOptions::default()).unwrap();
    let texts: Vec<&str> = corpus.paragraphs.iter().map(|p| p.text.as_str()).collect();
    assert!(
        texts.contains(
            &"Unclosed tags and a stray end tag, &bogus; entity & <<< brackets in text here"
        ),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("A paragraph at the bottom of a very deep page")),
        "{texts:?}"
    );
    assert_eq!(
        corpus
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [format!(
            "skipped {}: binary file (contains NUL bytes)",
            dir.path().join("binary.html").display()
        )]
    );
}

//! The diff report: what changed between two corpora fitted as one, per theme its share on
//! either side, the change with its interval and a verdict, in text, Markdown, JSON or HTML.

use std::fmt::{self, Write};

use serde::Serialize;

use super::{count, paragraph_ref, Format, ParagraphRef};
use crate::corpus::Paragraph;
use crate::themes::change::{Side, ThemeChange, Verdict};
use crate::themes::ThemeModel;

/// Most telling paragraphs shown per changed theme.
const TELLING: usize = 3;

/// The diff's content, in the shape of its JSON form.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub summary: DiffSummary,
    pub themes: Vec<DiffTheme>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffSummary {
    pub old: SideSummary,
    pub new: SideSummary,
    pub themes: usize,
    /// The level the intervals hold together (each at 1 − (1 − level) / themes).
    pub level: f64,
    pub draws: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SideSummary {
    pub inputs: Vec<String>,
    pub paragraphs: usize,
    pub articles: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffTheme {
    pub id: usize,
    pub label: String,
    pub keywords: Vec<String>,
    pub verdict: Verdict,
    pub old_share: f64,
    pub new_share: f64,
    pub change: f64,
    pub low: f64,
    pub high: f64,
    pub old_paragraphs: usize,
    pub new_paragraphs: usize,
    /// For a new or grown theme its most central paragraphs of the new side; for a gone or
    /// shrunk one, of the old side; none for a steady one.
    pub telling: Vec<ParagraphRef>,
}

/// The inputs of both sides, as the user named them.
pub struct DiffInputs {
    pub old: Vec<String>,
    pub new: Vec<String>,
    pub level: f64,
    pub draws: usize,
    pub seed: u64,
}

impl DiffReport {
    /// The report of `changes` (from [`crate::themes::change::changes`]) of `model`'s top-level
    /// themes over `paragraphs`, each on `sides[row]`; themes in the order of the largest
    /// change first, steady ones last.
    pub fn new(
        model: &ThemeModel,
        paragraphs: &[Paragraph],
        sides: &[Side],
        changes: &[ThemeChange],
        inputs: DiffInputs,
    ) -> Self {
        let side_summary = |side: Side, names: Vec<String>| {
            let rows: Vec<&Paragraph> = paragraphs
                .iter()
                .zip(sides)
                .filter(|(_, s)| **s == side)
                .map(|(p, _)| p)
                .collect();
            let articles: std::collections::HashSet<&str> =
                rows.iter().map(|p| p.article()).collect();
            SideSummary {
                inputs: names,
                paragraphs: rows.len(),
                articles: articles.len(),
            }
        };
        let mut themes: Vec<DiffTheme> = changes
            .iter()
            .map(|c| {
                let theme = &model.themes[c.theme];
                let on = |side: Side| theme.members.iter().filter(move |m| sides[m.row] == side);
                let shown = match c.verdict {
                    Verdict::New | Verdict::Grew => Some(Side::New),
                    Verdict::Gone | Verdict::Shrank => Some(Side::Old),
                    Verdict::Steady => None,
                };
                DiffTheme {
                    id: c.theme + 1,
                    label: theme.label.clone(),
                    keywords: theme.keywords.clone(),
                    verdict: c.verdict,
                    old_share: round4(c.old_share),
                    new_share: round4(c.new_share),
                    change: round4(c.change),
                    low: round4(c.low),
                    high: round4(c.high),
                    old_paragraphs: on(Side::Old).count(),
                    new_paragraphs: on(Side::New).count(),
                    telling: shown.map_or_else(Vec::new, |side| {
                        on(side)
                            .take(TELLING)
                            .map(|m| paragraph_ref(&paragraphs[m.row], Some(m.score)))
                            .collect()
                    }),
                }
            })
            .collect();
        themes.sort_by(|a, b| {
            (a.verdict == Verdict::Steady)
                .cmp(&(b.verdict == Verdict::Steady))
                .then(b.change.abs().total_cmp(&a.change.abs()))
                .then(a.id.cmp(&b.id))
        });
        Self {
            summary: DiffSummary {
                old: side_summary(Side::Old, inputs.old),
                new: side_summary(Side::New, inputs.new),
                themes: changes.len(),
                level: inputs.level,
                draws: inputs.draws,
                seed: inputs.seed,
            },
            themes,
        }
    }

    pub fn render(&self, format: Format) -> String {
        let mut out = String::new();
        self.write(format, &mut out)
            .expect("writing to a String cannot fail");
        out
    }

    pub fn write(&self, format: Format, out: &mut dyn Write) -> fmt::Result {
        match format {
            Format::Text => self.write_text(out),
            Format::Markdown => self.write_markdown(out),
            Format::Html => self.write_html(out),
            Format::Json => {
                let json = serde_json::to_string_pretty(self).map_err(|_| fmt::Error)?;
                writeln!(out, "{json}")
            }
        }
    }

    fn headline(&self) -> String {
        let s = &self.summary;
        format!(
            "{} fitted on both sides: old {} in {} ({}), new {} in {} ({}). Changes are new − old shares with {:.0}% intervals holding together over the themes ({} article resamples, seed {}); steady when the interval holds 0.",
            count(s.themes, "theme"),
            count(s.old.paragraphs, "paragraph"),
            count(s.old.articles, "article"),
            s.old.inputs.join(", "),
            count(s.new.paragraphs, "paragraph"),
            count(s.new.articles, "article"),
            s.new.inputs.join(", "),
            s.level * 100.0,
            s.draws,
            s.seed
        )
    }

    fn write_text(&self, out: &mut dyn Write) -> fmt::Result {
        writeln!(out, "{}\n", self.headline())?;
        for t in &self.themes {
            writeln!(
                out,
                "{:>7}  {}. {}: {} → {} ({}, interval {} to {})",
                verdict_name(t.verdict).to_uppercase(),
                t.id,
                t.label,
                percent(t.old_share),
                percent(t.new_share),
                points(t.change),
                points(t.low),
                points(t.high)
            )?;
            writeln!(out, "         keywords: {}", t.keywords.join(", "))?;
            for p in &t.telling {
                writeln!(
                    out,
                    "         > {} [{}:{}]",
                    shorten(&p.text, 160),
                    p.doc,
                    p.place()
                )?;
            }
        }
        Ok(())
    }

    fn write_markdown(&self, out: &mut dyn Write) -> fmt::Result {
        writeln!(
            out,
            "# What changed\n\n{}\n",
            super::markdown::escape(&self.headline())
        )?;
        writeln!(
            out,
            "| Theme | Verdict | Old share | New share | Change | Interval |\n|---|---|---:|---:|---:|---|"
        )?;
        for t in &self.themes {
            writeln!(
                out,
                "| {}. {} | {} | {} | {} | {} | {} to {} |",
                t.id,
                super::markdown::escape(&t.label),
                verdict_name(t.verdict),
                percent(t.old_share),
                percent(t.new_share),
                points(t.change),
                points(t.low),
                points(t.high)
            )?;
        }
        for t in self.themes.iter().filter(|t| !t.telling.is_empty()) {
            writeln!(
                out,
                "\n## {}. {} ({})\n",
                t.id,
                super::markdown::escape(&t.label),
                verdict_name(t.verdict)
            )?;
            for p in &t.telling {
                writeln!(
                    out,
                    "> {} — `{}:{}`\n",
                    super::markdown::escape(&p.text),
                    p.doc.replace('`', "'"),
                    p.place()
                )?;
            }
        }
        Ok(())
    }

    fn write_html(&self, out: &mut dyn Write) -> fmt::Result {
        use super::html::escape_html as e;
        out.write_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>themescope: what changed</title>\n<style>\n")?;
        out.write_str(CSS)?;
        out.write_str("</style>\n</head>\n<body>\n<h1>What changed</h1>\n")?;
        writeln!(out, "<p class=\"summary\">{}</p>", e(&self.headline()))?;
        out.write_str("<table>\n<tr><th>Theme</th><th>Verdict</th><th>Old share</th><th>New share</th><th>Change</th><th>Interval</th></tr>\n")?;
        for t in &self.themes {
            writeln!(
                out,
                "<tr class=\"{v}\"><td>{}. {}</td><td>{v}</td><td>{}</td><td>{}</td><td>{}</td><td>{} to {}</td></tr>",
                t.id,
                e(&t.label),
                percent(t.old_share),
                percent(t.new_share),
                points(t.change),
                points(t.low),
                points(t.high),
                v = verdict_name(t.verdict)
            )?;
        }
        out.write_str("</table>\n")?;
        for t in self.themes.iter().filter(|t| !t.telling.is_empty()) {
            writeln!(
                out,
                "<h2>{}. {} <span class=\"{v}\">{v}</span></h2>\n<p class=\"kw\">{}</p>",
                t.id,
                e(&t.label),
                e(&t.keywords.join(", ")),
                v = verdict_name(t.verdict)
            )?;
            for p in &t.telling {
                writeln!(
                    out,
                    "<blockquote><p>{}</p><p class=\"src\">{}:{}</p></blockquote>",
                    e(&p.text),
                    e(&p.doc),
                    p.place()
                )?;
            }
        }
        out.write_str("</body>\n</html>\n")
    }
}

const CSS: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\n\
.summary{color:#444}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:right}\n\
td:first-child,th:first-child{text-align:left}.new,.grew{color:#1a7f37}.gone,.shrank{color:#b42318}.steady{color:#666}\n\
.kw{color:#555}.src{color:#555;font-size:.9em}blockquote{margin:.5rem 0;padding:.3rem .8rem;border-left:3px solid #ccd}blockquote p{margin:0}\n";

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::New => "new",
        Verdict::Gone => "gone",
        Verdict::Grew => "grew",
        Verdict::Shrank => "shrank",
        Verdict::Steady => "steady",
    }
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A change of shares in percentage points, signed.
fn points(change: f64) -> String {
    format!("{:+.1} pt", change * 100.0)
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

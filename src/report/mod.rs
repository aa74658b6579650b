//! Report: render fitted themes with their paragraphs and sources as text, Markdown, JSON or a
//! self-contained HTML page. Nothing time-dependent goes in, so the same input gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::corpus::Paragraph;
use crate::themes::{Method, ThemeModel};

/// Output formats of a theme report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
    Html,
}

/// The report's content, in the shape of its JSON form (README "Theme report JSON").
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub themes: Vec<ThemeReport>,
    pub documents: Vec<DocumentReport>,
    pub outliers: Vec<ParagraphRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub paragraphs: usize,
    pub documents: usize,
    pub skipped_boilerplate: usize,
    pub method: &'static str,
    pub seed: u64,
    pub k: usize,
    /// How k was chosen: "given", "silhouette" or "density".
    pub k_chosen_by: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub silhouette: Vec<KScore>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KScore {
    pub k: usize,
    /// Themes left after groups under 3 paragraphs joined their nearest theme.
    pub themes: usize,
    pub silhouette: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThemeReport {
    pub id: usize,
    pub label: String,
    pub keywords: Vec<String>,
    pub size: usize,
    pub share: f32,
    /// Documents the theme draws from, most paragraphs first.
    pub sources: Vec<SourceCount>,
    /// Every member, most central first; score = cosine to the theme centroid.
    pub paragraphs: Vec<ParagraphRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceCount {
    pub doc: String,
    pub paragraphs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParagraphRef {
    pub id: String,
    pub doc: String,
    pub line: usize,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentReport {
    pub doc: String,
    pub paragraphs: usize,
    pub themes: Vec<ThemeShare>,
    pub outliers: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThemeShare {
    pub theme: usize,
    pub label: String,
    pub paragraphs: usize,
    pub share: f32,
}

impl DocumentReport {
    /// How many of the document's paragraphs are in theme `theme` (its 1-based id).
    pub fn paragraphs_in(&self, theme: usize) -> usize {
        self.themes
            .iter()
            .find(|m| m.theme == theme)
            .map_or(0, |m| m.paragraphs)
    }
}

fn round4(x: f32) -> f32 {
    (x * 10_000.0).round() / 10_000.0
}

impl Report {
    /// Puts fitted themes together with the paragraphs they were fitted on.
    pub fn new(
        model: &ThemeModel,
        paragraphs: &[Paragraph],
        skipped_boilerplate: usize,
        method: Method,
        seed: u64,
    ) -> Self {
        let total = paragraphs.len().max(1) as f32;
        let reference = |row: usize, score: Option<f32>| {
            let p = &paragraphs[row];
            ParagraphRef {
                id: p.id.clone(),
                doc: p.doc.clone(),
                line: p.line,
                text: p.text.clone(),
                score: score.map(round4),
            }
        };
        let themes: Vec<ThemeReport> = model
            .themes
            .iter()
            .enumerate()
            .map(|(i, theme)| {
                let mut sources: BTreeMap<&str, usize> = BTreeMap::new();
                for m in &theme.members {
                    *sources.entry(&paragraphs[m.row].doc).or_default() += 1;
                }
                let mut sources: Vec<SourceCount> = sources
                    .into_iter()
                    .map(|(doc, n)| SourceCount {
                        doc: doc.to_string(),
                        paragraphs: n,
                    })
                    .collect();
                sources.sort_by(|a, b| {
                    b.paragraphs
                        .cmp(&a.paragraphs)
                        .then_with(|| a.doc.cmp(&b.doc))
                });
                ThemeReport {
                    id: i + 1,
                    label: theme.label.clone(),
                    keywords: theme.keywords.clone(),
                    size: theme.members.len(),
                    share: round4(theme.members.len() as f32 / total),
                    sources,
                    paragraphs: theme
                        .members
                        .iter()
                        .map(|m| reference(m.row, Some(m.score)))
                        .collect(),
                }
            })
            .collect();

        let mut theme_of = vec![None; paragraphs.len()];
        for (t, theme) in model.themes.iter().enumerate() {
            for m in &theme.members {
                theme_of[m.row] = Some(t);
            }
        }
        let mut docs: Vec<&str> = Vec::new();
        for p in paragraphs {
            if !docs.contains(&p.doc.as_str()) {
                docs.push(&p.doc);
            }
        }
        let documents = docs
            .iter()
            .map(|doc| {
                let rows: Vec<usize> = (0..paragraphs.len())
                    .filter(|&r| paragraphs[r].doc == *doc)
                    .collect();
                let mut counts = vec![0usize; themes.len()];
                let mut outliers = 0;
                for &r in &rows {
                    match theme_of[r] {
                        Some(t) => counts[t] += 1,
                        None => outliers += 1,
                    }
                }
                let mut mix: Vec<ThemeShare> = counts
                    .iter()
                    .enumerate()
                    .filter(|(_, &n)| n > 0)
                    .map(|(t, &n)| ThemeShare {
                        theme: t + 1,
                        label: themes[t].label.clone(),
                        paragraphs: n,
                        share: round4(n as f32 / rows.len() as f32),
                    })
                    .collect();
                mix.sort_by(|a, b| b.paragraphs.cmp(&a.paragraphs).then(a.theme.cmp(&b.theme)));
                DocumentReport {
                    doc: doc.to_string(),
                    paragraphs: rows.len(),
                    themes: mix,
                    outliers,
                }
            })
            .collect();

        let (k_chosen_by, silhouette) = match (&model.selection, method) {
            (_, Method::Density) => ("density", Vec::new()),
            (Some(sel), _) => (
                "silhouette",
                sel.scores
                    .iter()
                    .map(|&(k, themes, s)| KScore {
                        k,
                        themes,
                        silhouette: round4(s),
                    })
                    .collect(),
            ),
            (None, _) => ("given", Vec::new()),
        };
        Report {
            summary: Summary {
                paragraphs: paragraphs.len(),
                documents: docs.len(),
                skipped_boilerplate,
                method: match method {
                    Method::KMeans => "kmeans",
                    Method::Density => "density",
                },
                seed,
                k: themes.len(),
                k_chosen_by,
                silhouette,
            },
            themes,
            documents,
            outliers: model.outliers.iter().map(|&r| reference(r, None)).collect(),
        }
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => self.text(),
            Format::Markdown => self.markdown(),
            Format::Json => {
                let mut s = serde_json::to_string_pretty(self).expect("a report always serialises");
                s.push('\n');
                s
            }
            Format::Html => self.html(),
        }
    }

    /// Short names for documents: file names when they are unique, else the paths.
    fn short_names(&self) -> BTreeMap<String, String> {
        let names: Vec<String> = self
            .documents
            .iter()
            .map(|d| {
                std::path::Path::new(&d.doc)
                    .file_name()
                    .map_or_else(|| d.doc.clone(), |n| n.to_string_lossy().into_owned())
            })
            .collect();
        let unique = names.iter().collect::<std::collections::HashSet<_>>().len() == names.len();
        self.documents
            .iter()
            .zip(names)
            .map(|(d, n)| (d.doc.clone(), if unique { n } else { d.doc.clone() }))
            .collect()
    }

    fn headline(&self) -> String {
        let s = &self.summary;
        let how = match s.k_chosen_by {
            "silhouette" => format!("k = {} chosen by silhouette", s.k),
            "density" => format!(
                "{} dense groups, {} outliers in no theme",
                s.k,
                self.outliers.len()
            ),
            _ => format!("k = {}", s.k),
        };
        format!(
            "{} in {} from {} ({} left out as boilerplate; {how})",
            count(s.k, "theme"),
            count(s.paragraphs, "paragraph"),
            count(s.documents, "document"),
            s.skipped_boilerplate
        )
    }

    fn text(&self) -> String {
        const WIDTH: usize = 100;
        let names = self.short_names();
        let mut out = String::new();
        for line in textwrap::wrap(&self.headline(), WIDTH) {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out);
        for t in &self.themes {
            let _ = writeln!(
                out,
                "{}. {} — {} ({:.0}%)",
                t.id,
                capitalise(&t.label),
                count(t.size, "paragraph"),
                t.share * 100.0
            );
            let keywords = format!("keywords: {}", t.keywords.join(", "));
            for line in textwrap::wrap(
                &keywords,
                textwrap::Options::new(WIDTH)
                    .initial_indent("   ")
                    .subsequent_indent("             "),
            ) {
                let _ = writeln!(out, "{line}");
            }
            let sources: Vec<String> = t
                .sources
                .iter()
                .map(|s| format!("{} ({})", names[&s.doc], s.paragraphs))
                .collect();
            let sources = format!("sources: {}", sources.join(", "));
            for line in textwrap::wrap(
                &sources,
                textwrap::Options::new(WIDTH)
                    .initial_indent("   ")
                    .subsequent_indent("            "),
            ) {
                let _ = writeln!(out, "{line}");
            }
            for p in t.paragraphs.iter().take(3) {
                let _ = writeln!(
                    out,
                    "   {:.2}  {}:{}",
                    p.score.unwrap_or(0.0),
                    names[&p.doc],
                    p.line
                );
                let text = shorten(&p.text, QUOTE_CHARS);
                for line in textwrap::wrap(
                    &text,
                    textwrap::Options::new(WIDTH)
                        .initial_indent("         ")
                        .subsequent_indent("         "),
                ) {
                    let _ = writeln!(out, "{line}");
                }
            }
            let _ = writeln!(out);
        }

        let _ = writeln!(out, "Sources × themes (paragraphs)");
        let name_width = names
            .values()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(8)
            .max(8);
        let _ = write!(out, "   {:<name_width$}", "document");
        for t in &self.themes {
            let _ = write!(out, " {:>4}", format!("T{}", t.id));
        }
        let has_outliers = !self.outliers.is_empty();
        if has_outliers {
            let _ = write!(out, " {:>4}", "out");
        }
        let _ = writeln!(out);
        for d in &self.documents {
            let _ = write!(out, "   {:<name_width$}", names[&d.doc]);
            for t in &self.themes {
                let n = d.paragraphs_in(t.id);
                let cell = if n == 0 {
                    "·".to_string()
                } else {
                    n.to_string()
                };
                let _ = write!(out, " {cell:>4}");
            }
            if has_outliers {
                let _ = write!(out, " {:>4}", d.outliers);
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "\nDocuments: their mix of themes");
        for d in &self.documents {
            let mix: Vec<String> = d
                .themes
                .iter()
                .map(|m| format!("T{} {} {:.0}%", m.theme, m.label, m.share * 100.0))
                .collect();
            let line = format!(
                "{} ({}): {}",
                names[&d.doc],
                count(d.paragraphs, "paragraph"),
                mix.join(", ")
            );
            for l in textwrap::wrap(
                &line,
                textwrap::Options::new(WIDTH)
                    .initial_indent("   ")
                    .subsequent_indent("      "),
            ) {
                let _ = writeln!(out, "{l}");
            }
        }
        if has_outliers {
            let _ = writeln!(out, "\nOutliers ({}), in no theme:", self.outliers.len());
            for p in &self.outliers {
                let text: String = p.text.chars().take(WIDTH - 12).collect();
                let _ = writeln!(out, "   {}:{}  {text}", names[&p.doc], p.line);
            }
        }
        out
    }

    fn markdown(&self) -> String {
        let names = self.short_names();
        let mut out = String::new();
        let _ = writeln!(out, "# Themes\n\n{}\n", self.headline());
        for t in &self.themes {
            let _ = writeln!(
                out,
                "## {}. {} — {} ({:.0}%)\n",
                t.id,
                t.label,
                count(t.size, "paragraph"),
                t.share * 100.0
            );
            let _ = writeln!(out, "**Keywords:** {}  ", t.keywords.join(", "));
            let sources: Vec<String> = t
                .sources
                .iter()
                .map(|s| format!("{} ({})", names[&s.doc], s.paragraphs))
                .collect();
            let _ = writeln!(out, "**Sources:** {}\n", sources.join(", "));
            for p in t.paragraphs.iter().take(3) {
                let _ = writeln!(
                    out,
                    "> {}  \n> — `{}:{}`, {:.2}\n",
                    p.text.replace('\n', " "),
                    names[&p.doc],
                    p.line,
                    p.score.unwrap_or(0.0)
                );
            }
        }
        let _ = writeln!(out, "## Sources × themes\n");
        let _ = write!(out, "| document |");
        for t in &self.themes {
            let _ = write!(out, " T{} |", t.id);
        }
        let _ = writeln!(out, " outliers |");
        let _ = write!(out, "|---|");
        for _ in &self.themes {
            let _ = write!(out, "---:|");
        }
        let _ = writeln!(out, "---:|");
        for d in &self.documents {
            let _ = write!(out, "| {} |", names[&d.doc]);
            for t in &self.themes {
                let n = d.paragraphs_in(t.id);
                let _ = write!(out, " {n} |");
            }
            let _ = writeln!(out, " {} |", d.outliers);
        }
        if !self.outliers.is_empty() {
            let _ = writeln!(out, "\n## Outliers\n");
            for p in &self.outliers {
                let _ = writeln!(out, "- `{}:{}` {}", names[&p.doc], p.line, p.text);
            }
        }
        out
    }

    fn html(&self) -> String {
        let names = self.short_names();
        let e = escape_html;
        let mut out = String::new();
        out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>themescope: themes</title>\n<style>\n");
        out.push_str(CSS);
        out.push_str("</style>\n</head>\n<body>\n<h1>Themes</h1>\n");
        let _ = writeln!(out, "<p class=\"summary\">{}</p>", e(&self.headline()));
        out.push_str("<nav><ol>\n");
        for t in &self.themes {
            let _ = writeln!(
                out,
                "<li><a href=\"#t{}\">{}</a> <span class=\"n\">{}</span></li>",
                t.id,
                e(&t.label),
                t.size
            );
        }
        out.push_str("</ol></nav>\n");
        for t in &self.themes {
            let _ = writeln!(
                out,
                "<section id=\"t{}\"><h2>{}. {} <span class=\"n\">{}, {:.0}%</span></h2>",
                t.id,
                t.id,
                e(&t.label),
                count(t.size, "paragraph"),
                t.share * 100.0
            );
            let _ = writeln!(
                out,
                "<p class=\"kw\">{}</p>",
                t.keywords
                    .iter()
                    .map(|k| format!("<span>{}</span>", e(k)))
                    .collect::<String>()
            );
            let sources: Vec<String> = t
                .sources
                .iter()
                .map(|s| format!("{} ({})", e(&names[&s.doc]), s.paragraphs))
                .collect();
            let _ = writeln!(out, "<p class=\"src\">Sources: {}</p>", sources.join(", "));
            out.push_str("<details open><summary>Paragraphs, most central first</summary>\n");
            for (i, p) in t.paragraphs.iter().enumerate() {
                let class = if i < 3 { " class=\"top\"" } else { "" };
                let _ = writeln!(
                    out,
                    "<blockquote{class}><p>{}</p><footer>{}:{} · {:.2}</footer></blockquote>",
                    e(&p.text),
                    e(&names[&p.doc]),
                    p.line,
                    p.score.unwrap_or(0.0)
                );
            }
            out.push_str("</details></section>\n");
        }
        out.push_str("<h2>Sources × themes</h2>\n<table><thead><tr><th>document</th>");
        for t in &self.themes {
            let _ = write!(out, "<th title=\"{}\">T{}</th>", e(&t.label), t.id);
        }
        out.push_str("<th>outliers</th></tr></thead><tbody>\n");
        for d in &self.documents {
            let _ = write!(out, "<tr><td>{}</td>", e(&names[&d.doc]));
            for t in &self.themes {
                let n = d.paragraphs_in(t.id);
                let shade = (n as f32 / d.paragraphs.max(1) as f32 * 100.0).round();
                let _ = write!(
                    out,
                    "<td style=\"--s:{shade}%\">{}</td>",
                    if n == 0 { String::new() } else { n.to_string() }
                );
            }
            let _ = writeln!(out, "<td>{}</td></tr>", d.outliers);
        }
        out.push_str("</tbody></table>\n");
        if !self.outliers.is_empty() {
            out.push_str("<h2>Outliers</h2>\n<ul>\n");
            for p in &self.outliers {
                let _ = writeln!(
                    out,
                    "<li><code>{}:{}</code> {}</li>",
                    e(&names[&p.doc]),
                    p.line,
                    e(&p.text)
                );
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</body>\n</html>\n");
        out
    }
}

const CSS: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\n\
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem}.n{color:#777;font-size:.8em;font-weight:normal}\n\
.kw span{display:inline-block;background:#eef3fb;border-radius:.8rem;padding:0 .6rem;margin:0 .3rem .3rem 0}\n\
.src{color:#555}blockquote{margin:.5rem 0;padding:.3rem .8rem;border-left:3px solid #ccd}\n\
blockquote.top{border-left-color:#4a7bd0}blockquote p{margin:0}footer{color:#777;font-size:.85em}\n\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:right}\n\
td:first-child{text-align:left}td{background:linear-gradient(90deg,#dbe7fb var(--s,0%),transparent var(--s,0%))}\n";

/// Quoted paragraphs in the terminal report are cut near this length (about three lines).
const QUOTE_CHARS: usize = 270;

/// Cuts a text at a word boundary near `max` characters, marking the cut with "…".
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let end = cut.rfind(' ').unwrap_or(cut.len());
    format!("{}…", cut[..end].trim_end_matches([',', ';', ':', ' ']))
}

/// "1 theme", "2 themes".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

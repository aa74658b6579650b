//! Report: render fitted themes with their paragraphs and sources as text, Markdown, JSON or a
//! self-contained HTML page, one renderer per file. Nothing time-dependent goes in, so the same
//! input gives the same bytes.

pub mod diff;
mod html;
mod markdown;
mod text;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::corpus::dates::Period;
use crate::corpus::{Paragraph, Place};
use crate::themes::map::MapError;
use crate::themes::scale::MapSample;
use crate::themes::{Grain, Method, Theme, ThemeCount, ThemeModel, ValidThemeParams};

/// Output formats of a theme report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
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
    /// Names of guided themes that gathered no paragraph.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmatched: Vec<UnmatchedName>,
    /// The theme map (see [`Report::with_map`]); empty unless a layout was added.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub map: Vec<MapPoint>,
    /// Each top-level theme's share per period (see [`Report::with_over_time`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_time: Option<OverTime>,
    /// Each paragraph's top-level theme id, by row: what the map colours its marks by (ids
    /// alone do not name a row: an index keeps them unique only within a document).
    #[serde(skip)]
    row_themes: Vec<Option<usize>>,
}

/// Each top-level theme's share of each period's paragraphs, periods in order.
#[derive(Debug, Clone, Serialize)]
pub struct OverTime {
    pub period: Period,
    /// The level of each interval (pointwise: one theme in one period).
    pub level: f64,
    pub draws: usize,
    pub periods: Vec<PeriodReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodReport {
    /// Its name: `2025-12-03`, `week of 2025-12-01`, `2025-12`.
    pub period: String,
    /// Its first day.
    pub start: chrono::NaiveDate,
    pub paragraphs: usize,
    pub articles: usize,
    /// One per top-level theme, in theme order; with `outliers` they add up to 1.
    pub shares: Vec<PeriodShare>,
    #[serde(skip_serializing_if = "is_zero")]
    pub outliers: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodShare {
    pub theme: usize,
    pub share: f64,
    pub low: f64,
    pub high: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// Paragraphs without a date, which `--over-time` cannot place.
#[derive(Debug, Clone, thiserror::Error)]
#[error("over time needs a date for every paragraph: {missing} of {total} have none, in {}{} (give dates by --dates FILE.csv, a JSONL \"date\", or a YYYY-MM-DD in the file name)", .documents.iter().take(3).cloned().collect::<Vec<_>>().join(", "), match .documents.len() { 0..=3 => String::new(), n => format!(" and {} more", n - 3) })]
pub struct MissingDates {
    pub missing: usize,
    pub total: usize,
    /// The documents with undated paragraphs, in order.
    pub documents: Vec<String>,
}

impl MissingDates {
    /// The paragraphs of `paragraphs` without a date, if any.
    pub fn of(paragraphs: &[Paragraph]) -> Option<Self> {
        let mut missing = 0;
        let mut documents: Vec<String> = Vec::new();
        for p in paragraphs.iter().filter(|p| p.date.is_none()) {
            missing += 1;
            if documents.last() != Some(&p.doc) && !documents.contains(&p.doc) {
                documents.push(p.doc.clone());
            }
        }
        (missing > 0).then_some(Self {
            missing,
            total: paragraphs.len(),
            documents,
        })
    }
}

/// Resamples of each period's articles for its intervals.
pub const OVER_TIME_DRAWS: usize = 1000;

/// A paragraph's place on the theme map, in [0, 1]².
#[derive(Debug, Clone, Serialize)]
pub struct MapPoint {
    pub id: String,
    pub doc: String,
    pub line: usize,
    /// A PDF paragraph's page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    pub x: f32,
    pub y: f32,
    /// Its top-level theme's id; `None` for an outlier.
    pub theme: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub paragraphs: usize,
    pub documents: usize,
    pub skipped_boilerplate: usize,
    pub method: Method,
    pub seed: u64,
    pub k: usize,
    pub k_chosen_by: KChoice,
    /// With `--k auto`: how sure the top level's grain is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grain: Option<Grain>,
    /// With `--k auto`: every k compared for the top level.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub k_scores: Vec<KScore>,
    /// For an on-disk index: the rows the themes were fitted on (sizes are of every row).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<usize>,
}

/// How the number of themes was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KChoice {
    /// Asked for.
    Given,
    /// The finest grain whose themes come back in bootstrap re-fits (see
    /// [`crate::themes::KSelection`]).
    Stability,
    /// As many dense groups as the density method found.
    Density,
}

#[derive(Debug, Clone, Serialize)]
pub struct KScore {
    pub k: usize,
    /// Themes left after groups under 3 paragraphs joined their nearest theme.
    pub themes: usize,
    /// The stability of its least stable theme.
    pub stability: f32,
    pub silhouette: f32,
}

/// A guided theme's name that gathered nothing: its nearest paragraph's cosine, under the bar.
#[derive(Debug, Clone, Serialize)]
pub struct UnmatchedName {
    pub name: String,
    pub nearest: f32,
    pub bar: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThemeReport {
    pub id: usize,
    pub label: String,
    /// A guided theme: its label is the name it was given.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub given: bool,
    pub keywords: Vec<String>,
    pub size: usize,
    pub share: f32,
    /// Documents the theme draws from, most paragraphs first.
    pub sources: Vec<SourceCount>,
    /// The 25 most telling single words: what `eval topics` measures.
    pub words: Vec<String>,
    /// Mean best Jaccard over bootstrap re-fits of its level (1 = always comes back).
    pub stability: f32,
    /// Stability under 0.6: the theme does not reliably come back.
    pub unstable: bool,
    /// Every member, most central first; score = cosine to the theme centroid.
    pub paragraphs: Vec<ParagraphRef>,
    /// The theme split at its own grain (same shape, ids 1.. within the theme); empty at
    /// depth 1 or when no split held.
    pub subthemes: Vec<ThemeReport>,
    /// How sure its split's grain is ("whole" when no split held); absent at depth 1 and on
    /// sub-themes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_grain: Option<Grain>,
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
    /// A PDF paragraph's page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// The article's date, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<chrono::NaiveDate>,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

impl ParagraphRef {
    /// Where the paragraph starts in its document (see [`Paragraph::place`]).
    pub fn place(&self) -> Place {
        Place {
            page: self.page,
            line: self.line,
        }
    }
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

/// "day", "week", "month".
fn period_word(period: Period) -> &'static str {
    match period {
        Period::Day => "day",
        Period::Week => "week",
        Period::Month => "month",
    }
}

/// Shares keep six places, so a period's shares still add up to 1 to within 1e-5.
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
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
        params: &ValidThemeParams,
    ) -> Self {
        let reference = |row: usize, score: Option<f32>| paragraph_ref(&paragraphs[row], score);
        let themes: Vec<ThemeReport> = model
            .themes
            .iter()
            .enumerate()
            .map(|(i, theme)| theme_report(i + 1, theme, paragraphs))
            .collect();
        let row_themes = model.row_themes(paragraphs.len());
        let documents = document_reports(paragraphs, &row_themes, &themes);
        let (k_chosen_by, grain, k_scores) =
            match (params.method(), params.count(), &model.selection) {
                (Method::Density, _, _) => (KChoice::Density, None, Vec::new()),
                (_, ThemeCount::Auto, Some(selection)) => (
                    KChoice::Stability,
                    Some(selection.grain),
                    selection
                        .scores
                        .iter()
                        .map(|s| KScore {
                            k: s.k,
                            themes: s.themes,
                            stability: (s.weakest() * 10_000.0).floor() / 10_000.0,
                            silhouette: round4(s.silhouette),
                        })
                        .collect(),
                ),
                _ => (KChoice::Given, None, Vec::new()),
            };
        Report {
            summary: Summary {
                paragraphs: paragraphs.len(),
                documents: documents.len(),
                skipped_boilerplate,
                method: params.method(),
                seed: params.seed(),
                k: themes.len(),
                k_chosen_by,
                grain,
                k_scores,
                sample: None,
            },
            themes,
            documents,
            outliers: model.outliers.iter().map(|&r| reference(r, None)).collect(),
            unmatched: model
                .unmatched
                .iter()
                .map(|u| UnmatchedName {
                    name: u.name.clone(),
                    nearest: round4(u.nearest),
                    bar: params.guide_bars().name,
                })
                .collect(),
            map: Vec::new(),
            over_time: None,
            row_themes: row_themes.iter().map(|t| t.map(|t| t + 1)).collect(),
        }
    }

    /// Adds each top-level theme's share per `period` of `paragraphs` (those the report was
    /// made of), with 95% intervals from resampling each period's articles; every paragraph
    /// needs a date.
    pub fn with_over_time(
        mut self,
        paragraphs: &[Paragraph],
        period: Period,
        seed: u64,
    ) -> Result<Self, MissingDates> {
        if let Some(missing) = MissingDates::of(paragraphs) {
            return Err(missing);
        }
        let starts: Vec<chrono::NaiveDate> = paragraphs
            .iter()
            .map(|p| period.start(p.date.expect("every paragraph is dated")))
            .collect();
        let mut distinct = starts.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let period_of: Vec<usize> = starts
            .iter()
            .map(|s| distinct.binary_search(s).expect("a start of these"))
            .collect();
        let mut article_ids = std::collections::HashMap::new();
        let articles: Vec<usize> = paragraphs
            .iter()
            .map(|p| {
                let next = article_ids.len();
                *article_ids.entry(p.article()).or_insert(next)
            })
            .collect();
        let themes: Vec<Option<usize>> = self.row_themes.iter().map(|t| t.map(|t| t - 1)).collect();
        let level = 0.95;
        let found = crate::themes::change::shares_over_time(
            &themes,
            &period_of,
            &articles,
            self.themes.len(),
            distinct.len(),
            crate::themes::change::Resampling {
                draws: OVER_TIME_DRAWS,
                level,
                seed,
            },
        );
        let periods = distinct
            .iter()
            .zip(found)
            .map(|(&start, f)| PeriodReport {
                period: period.name(start),
                start,
                paragraphs: f.paragraphs,
                articles: f.articles,
                shares: (0..self.themes.len())
                    .map(|t| PeriodShare {
                        theme: t + 1,
                        share: round6(f.shares[t]),
                        low: round6(f.low[t]),
                        high: round6(f.high[t]),
                    })
                    .collect(),
                outliers: round6(f.outliers),
            })
            .collect();
        self.over_time = Some(OverTime {
            period,
            level,
            draws: OVER_TIME_DRAWS,
            periods,
        });
        Ok(self)
    }

    /// For themes fitted on a sample of `rows` paragraphs: each top-level theme's size and share
    /// become those of every row (`sizes`, one per theme, from assigning every row); sub-theme
    /// sizes are their share of the theme's sample applied to its whole, so that they add up
    /// to the theme (scaled by the index as a whole, a large theme's sub-themes could outgrow it).
    pub fn with_population(mut self, rows: usize, sizes: &[usize]) -> Self {
        let sample = self.summary.paragraphs;
        for (theme, &size) in self.themes.iter_mut().zip(sizes) {
            let scale = size as f64 / theme.size.max(1) as f64;
            theme.size = size;
            theme.share = round4(size as f32 / rows.max(1) as f32);
            for sub in &mut theme.subthemes {
                sub.size = (sub.size as f64 * scale).round() as usize;
                sub.share = round4(sub.size as f32 / rows.max(1) as f32);
            }
        }
        self.summary.sample = Some(sample);
        self.summary.paragraphs = rows;
        self
    }

    /// Adds the theme map of `vectors` (rows as in `paragraphs`, the paragraphs the report was
    /// made from): all of them, or a sample of [`MAP_MAX_POINTS`](crate::themes::map::MAP_MAX_POINTS)
    /// drawn by `seed`.
    pub fn with_map_of(
        self,
        vectors: ndarray::ArrayView2<f32>,
        paragraphs: &[Paragraph],
        seed: u64,
    ) -> Result<Self, MapError> {
        let (rows, layout) = crate::themes::map::sampled_layout(vectors, seed)?;
        Ok(self.with_map(&rows, layout.view(), paragraphs))
    }

    /// Adds the theme map of rows drawn from an index ([`MapSample`]), each coloured by its
    /// nearest saved theme.
    pub fn with_index_map(self, sample: &MapSample, seed: u64) -> Result<Self, MapError> {
        let layout = crate::themes::map::layout(sample.vectors.view(), seed)?;
        let points = sample.paragraphs.iter().zip(&sample.themes);
        Ok(self.with_points(points.map(|(p, &t)| (p, Some(t + 1))), layout.view()))
    }

    /// Adds the theme map: `layout` places `rows` of `paragraphs` (the paragraphs the report
    /// was made from), one (x, y) per row in [0, 1]², as [`crate::themes::map::layout`] gives.
    pub fn with_map(
        self,
        rows: &[usize],
        layout: ndarray::ArrayView2<f32>,
        paragraphs: &[Paragraph],
    ) -> Self {
        let themes: Vec<Option<usize>> = rows
            .iter()
            .map(|&row| self.row_themes.get(row).copied().flatten())
            .collect();
        let points = rows
            .iter()
            .zip(themes)
            .map(|(&row, t)| (&paragraphs[row], t));
        self.with_points(points, layout)
    }

    /// One map mark per paragraph, at its place in `layout`, with its top-level theme's id.
    fn with_points<'p>(
        mut self,
        points: impl Iterator<Item = (&'p Paragraph, Option<usize>)>,
        layout: ndarray::ArrayView2<f32>,
    ) -> Self {
        self.map = points
            .zip(layout.rows())
            .map(|((p, theme), place)| MapPoint {
                id: p.id.clone(),
                doc: p.doc.clone(),
                line: p.line,
                page: p.page,
                x: round4(place[0]),
                y: round4(place[1]),
                theme,
            })
            .collect();
        self
    }

    /// The report in `format`, as one string.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::new();
        self.write(format, &mut out)
            .expect("writing to a String cannot fail");
        out
    }

    /// Writes the report in `format` to `out`.
    pub fn write(&self, format: Format, out: &mut dyn fmt::Write) -> fmt::Result {
        match format {
            Format::Text => text::write(self, out),
            Format::Markdown => markdown::write(self, out),
            Format::Html => html::write(self, out),
            Format::Json => {
                let json = serde_json::to_string_pretty(self).map_err(|_| fmt::Error)?;
                writeln!(out, "{json}")
            }
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

    /// One line per guided theme's name that gathered nothing.
    fn unmatched_lines(&self) -> Vec<String> {
        self.unmatched
            .iter()
            .map(|u| {
                format!(
                    "The name \"{}\" gathered nothing: its nearest paragraph is at cosine {:.2}, under the bar of {:.2}.",
                    u.name, u.nearest, u.bar
                )
            })
            .collect()
    }

    /// One sentence on what the report covers and how k was chosen.
    fn headline(&self) -> String {
        let s = &self.summary;
        let how = match s.k_chosen_by {
            KChoice::Stability => match s.grain {
                Some(Grain::Stable) => format!(
                    "k = {} chosen by stability: the finest split whose every theme comes back in bootstrap re-fits; finer splits did not hold",
                    s.k
                ),
                Some(Grain::Pattern) => format!(
                    "k = {} chosen by stability: no split had every theme stable in bootstrap re-fits; these come back as patterns, finer splits did not",
                    s.k
                ),
                _ => "no split came back in bootstrap re-fits".to_string(),
            },
            KChoice::Density => format!(
                "{} dense groups, {} outliers in no theme",
                s.k,
                self.outliers.len()
            ),
            KChoice::Given => format!("k = {}", s.k),
        };
        let given = self.themes.iter().filter(|t| t.given).count();
        let how = match given {
            0 => how,
            g => format!("{} by name, the rest: {how}", count(g, "theme")),
        };
        if let Some(sample) = s.sample {
            return format!(
                "{} in {} (fitted on a seeded sample of {}, every row then placed; {how})",
                count(s.k, "theme"),
                count(s.paragraphs, "paragraph"),
                count(sample, "row")
            );
        }
        format!(
            "{} in {} from {} ({} left out as boilerplate; {how})",
            count(s.k, "theme"),
            count(s.paragraphs, "paragraph"),
            count(s.documents, "document"),
            s.skipped_boilerplate
        )
    }
}

fn theme_report(id: usize, theme: &Theme, paragraphs: &[Paragraph]) -> ThemeReport {
    ThemeReport {
        id,
        label: theme.label.clone(),
        given: theme.given,
        keywords: theme.keywords.clone(),
        size: theme.members.len(),
        share: round4(theme.members.len() as f32 / paragraphs.len().max(1) as f32),
        sources: sources(theme.members.iter().map(|m| paragraphs[m.row].doc.as_str())),
        words: theme.words.clone(),
        // Cut, not rounded: a 0.7496 shown as 0.75 would read as stable beside a headline that
        // says no split was.
        stability: (theme.stability * 100.0).floor() / 100.0,
        unstable: theme.stability < crate::themes::UNSTABLE_BELOW,
        paragraphs: theme
            .members
            .iter()
            .map(|m| paragraph_ref(&paragraphs[m.row], Some(m.score)))
            .collect(),
        subthemes: theme
            .subthemes
            .iter()
            .enumerate()
            .map(|(i, sub)| theme_report(i + 1, sub, paragraphs))
            .collect(),
        sub_grain: theme.split.as_ref().map(|s| s.grain),
    }
}

fn paragraph_ref(p: &Paragraph, score: Option<f32>) -> ParagraphRef {
    ParagraphRef {
        id: p.id.clone(),
        doc: p.doc.clone(),
        line: p.line,
        page: p.page,
        date: p.date,
        text: p.text.clone(),
        score: score.map(round4),
    }
}

/// Paragraph counts per document, most first (ties by name).
fn sources<'a>(docs: impl Iterator<Item = &'a str>) -> Vec<SourceCount> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for doc in docs {
        *counts.entry(doc).or_default() += 1;
    }
    let mut sources: Vec<SourceCount> = counts
        .into_iter()
        .map(|(doc, paragraphs)| SourceCount {
            doc: doc.to_string(),
            paragraphs,
        })
        .collect();
    sources.sort_by(|a, b| {
        b.paragraphs
            .cmp(&a.paragraphs)
            .then_with(|| a.doc.cmp(&b.doc))
    });
    sources
}

/// Each document's mix of themes, documents in first-seen order.
fn document_reports(
    paragraphs: &[Paragraph],
    theme_of: &[Option<usize>],
    themes: &[ThemeReport],
) -> Vec<DocumentReport> {
    let mut rows_of: Vec<(&str, Vec<usize>)> = Vec::new();
    for (row, p) in paragraphs.iter().enumerate() {
        match rows_of.iter_mut().find(|(doc, _)| *doc == p.doc) {
            Some((_, rows)) => rows.push(row),
            None => rows_of.push((&p.doc, vec![row])),
        }
    }
    rows_of
        .into_iter()
        .map(|(doc, rows)| {
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
        .collect()
}

/// "1 theme", "2 themes".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

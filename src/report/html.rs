//! The theme report as one self-contained HTML page: no scripts, fonts or images from elsewhere;
//! the theme map is inline SVG with a few lines of inline script.

use std::fmt::{self, Write};

use super::{count, Report};

pub(super) fn write(report: &Report, out: &mut dyn Write) -> fmt::Result {
    let names = report.short_names();
    out.write_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>themescope: themes</title>\n<style>\n")?;
    out.write_str(CSS)?;
    out.write_str("</style>\n</head>\n<body>\n<h1>Themes</h1>\n")?;
    writeln!(
        out,
        "<p class=\"summary\">{}</p>",
        escape_html(&report.headline())
    )?;
    for line in report.unmatched_lines() {
        writeln!(out, "<p class=\"summary\">{}</p>", escape_html(&line))?;
    }
    write_contents(report, out)?;
    if !report.map.is_empty() {
        write_map(report, &names, out)?;
    }
    if let Some(over) = &report.over_time {
        write_over_time(report, over, out)?;
    }
    for t in &report.themes {
        write_theme(t, &names, out)?;
    }
    write_sources(report, &names, out)?;
    write_outliers(report, &names, out)?;
    out.write_str("</body>\n</html>\n")?;
    Ok(())
}

/// Document paths by their short names in the report.
type Names = std::collections::BTreeMap<String, String>;

/// The list of themes and sub-themes, each a link to its section.
fn write_contents(report: &Report, out: &mut dyn Write) -> fmt::Result {
    let e = escape_html;
    out.write_str("<nav><ol>\n")?;
    for t in &report.themes {
        write!(
            out,
            "<li><a href=\"#t{}\">{}</a> <span class=\"n\">{}</span>",
            t.id,
            e(&t.label),
            t.size
        )?;
        if !t.subthemes.is_empty() {
            out.write_str("<ol>")?;
            for sub in &t.subthemes {
                write!(
                    out,
                    "<li><a href=\"#t{}-{}\">{}</a> <span class=\"n\">{}</span></li>",
                    t.id,
                    sub.id,
                    e(&sub.label),
                    sub.size
                )?;
            }
            out.write_str("</ol>")?;
        }
        writeln!(out, "</li>")?;
    }
    out.write_str("</ol></nav>\n")
}

/// A theme's section: heading, keywords, sources, its paragraphs, then its sub-themes.
fn write_theme(t: &super::ThemeReport, names: &Names, out: &mut dyn Write) -> fmt::Result {
    let e = escape_html;
    writeln!(
        out,
        "<section id=\"t{}\" data-theme=\"{}\"><h2>{}. {} <span class=\"n\">{}, {:.0}%, {}</span></h2>",
        t.id,
        t.id,
        t.id,
        e(&t.label),
        count(t.size, "paragraph"),
        t.share * 100.0,
        super::text::stability(t)
    )?;
    write_keywords(t.keywords.iter(), out)?;
    let sources: Vec<String> = t
        .sources
        .iter()
        .map(|s| format!("{} ({})", e(&names[&s.doc]), s.paragraphs))
        .collect();
    writeln!(out, "<p class=\"src\">Sources: {}</p>", sources.join(", "))?;
    // With sub-themes below, the theme's own list starts folded: they show its paragraphs.
    let open = if t.subthemes.is_empty() { " open" } else { "" };
    writeln!(
        out,
        "<details{open}><summary>Paragraphs, most central first</summary>"
    )?;
    for (i, p) in t.paragraphs.iter().enumerate() {
        write_quote(p, i < 3, names, out)?;
    }
    out.write_str("</details>\n")?;
    for sub in &t.subthemes {
        writeln!(
            out,
            "<section class=\"sub\" id=\"t{}-{}\"><h3>{}.{} {} <span class=\"n\">{}, {}</span></h3>",
            t.id,
            sub.id,
            t.id,
            sub.id,
            e(&sub.label),
            count(sub.size, "paragraph"),
            super::text::stability(sub)
        )?;
        // A sub-theme's first keyword is its label, already in the heading.
        write_keywords(sub.keywords.iter().skip(1), out)?;
        for p in &sub.paragraphs {
            write_quote(p, false, names, out)?;
        }
        out.write_str("</section>\n")?;
    }
    out.write_str("</section>\n")
}

fn write_keywords<'k>(
    keywords: impl Iterator<Item = &'k String>,
    out: &mut dyn Write,
) -> fmt::Result {
    let spans: String = keywords
        .map(|k| format!("<span>{}</span>", escape_html(k)))
        .collect();
    writeln!(out, "<p class=\"kw\">{spans}</p>")
}

/// A quoted paragraph with its source and score; `top` marks the first few of a theme.
fn write_quote(
    p: &super::ParagraphRef,
    top: bool,
    names: &Names,
    out: &mut dyn Write,
) -> fmt::Result {
    let class = if top { " class=\"top\"" } else { "" };
    writeln!(
        out,
        "<blockquote{class}><p>{}</p><footer>{}:{} · {:.2}</footer></blockquote>",
        escape_html(&p.text),
        escape_html(&names[&p.doc]),
        p.place(),
        p.score.unwrap_or(0.0)
    )
}

/// Paragraphs per document and theme, each cell shaded by its share of the document.
fn write_sources(report: &Report, names: &Names, out: &mut dyn Write) -> fmt::Result {
    let e = escape_html;
    out.write_str("<h2>Sources × themes</h2>\n<table><thead><tr><th>document</th>")?;
    for t in &report.themes {
        write!(out, "<th title=\"{}\">T{}</th>", e(&t.label), t.id)?;
    }
    out.write_str("<th>outliers</th></tr></thead><tbody>\n")?;
    for d in &report.documents {
        write!(out, "<tr><td>{}</td>", e(&names[&d.doc]))?;
        for t in &report.themes {
            let n = d.paragraphs_in(t.id);
            let shade = (n as f32 / d.paragraphs.max(1) as f32 * 100.0).round();
            write!(
                out,
                "<td style=\"--s:{shade}%\">{}</td>",
                if n == 0 { String::new() } else { n.to_string() }
            )?;
        }
        writeln!(out, "<td>{}</td></tr>", d.outliers)?;
    }
    out.write_str("</tbody></table>\n")
}

fn write_outliers(report: &Report, names: &Names, out: &mut dyn Write) -> fmt::Result {
    if report.outliers.is_empty() {
        return Ok(());
    }
    out.write_str("<h2>Outliers</h2>\n<ul>\n")?;
    for p in &report.outliers {
        writeln!(
            out,
            "<li><code>{}:{}</code> {}</li>",
            escape_html(&names[&p.doc]),
            p.place(),
            escape_html(&p.text)
        )?;
    }
    out.write_str("</ul>\n")
}

/// Map marks' colours: theme t gets hue t × 137.5° (the golden angle), so neighbours in the
/// list differ and any number of themes has colours; outliers are grey.
fn colour(theme: Option<usize>) -> String {
    match theme {
        Some(t) => format!("hsl({:.1},65%,45%)", (t as f32 * 137.508) % 360.0),
        None => "#aaa".to_string(),
    }
}

/// The chart's size in SVG units and its margins (left for the axis' labels).
const CHART_W: f32 = 900.0;
const CHART_H: f32 = 360.0;
const CHART_LEFT: f32 = 50.0;
const CHART_PAD: f32 = 24.0;
/// Room on the right for the last period's centred name.
const CHART_RIGHT: f32 = 70.0;

/// Each theme's share per period as inline SVG: one line per theme (`<g class="series"
/// data-theme="N">`, in its map colour), a mark per period whose hover title gives the share,
/// its interval and the period's paragraphs; the interval as a faint band; a legend.
fn write_over_time(report: &Report, over: &super::OverTime, out: &mut dyn Write) -> fmt::Result {
    let e = escape_html;
    let periods = &over.periods;
    let top = periods
        .iter()
        .flat_map(|p| p.shares.iter().map(|s| s.high))
        .fold(0.0f64, f64::max)
        .max(0.05);
    let x = |i: usize| -> f32 {
        let span = CHART_W - CHART_LEFT - CHART_PAD - CHART_RIGHT;
        if periods.len() < 2 {
            CHART_LEFT + CHART_PAD + span / 2.0
        } else {
            CHART_LEFT + CHART_PAD + span * i as f32 / (periods.len() - 1) as f32
        }
    };
    let y = |share: f64| -> f32 {
        CHART_H - CHART_PAD - (CHART_H - 2.0 * CHART_PAD) * (share / top) as f32
    };
    writeln!(
        out,
        "<h2 id=\"over-time\">Over time, by {}</h2>\n<p class=\"summary\">Each theme's share of the period's paragraphs; the band is its {:.0}% interval (articles resampled within the period). Hover a mark for the figures.</p>",
        super::period_word(over.period),
        over.level * 100.0
    )?;
    writeln!(
        out,
        "<svg id=\"chart\" viewBox=\"0 0 {CHART_W} {CHART_H}\" role=\"img\" aria-label=\"theme shares over time\">"
    )?;
    for tick in 0..=4 {
        let share = top * f64::from(tick) / 4.0;
        let ty = y(share);
        writeln!(
            out,
            "<line class=\"grid\" x1=\"{CHART_LEFT}\" x2=\"{CHART_W}\" y1=\"{ty:.1}\" y2=\"{ty:.1}\"/><text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\">{:.0}%</text>",
            CHART_LEFT - 6.0,
            ty + 4.0,
            share * 100.0
        )?;
    }
    for (i, p) in periods.iter().enumerate() {
        writeln!(
            out,
            "<text class=\"axis period\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x(i),
            CHART_H - 4.0,
            e(&p.period)
        )?;
    }
    for t in &report.themes {
        let colour = colour(Some(t.id));
        let at = |p: &super::PeriodReport| p.shares.iter().find(|s| s.theme == t.id).cloned();
        writeln!(
            out,
            "<g class=\"series\" data-theme=\"{}\" style=\"color:{colour}\">",
            t.id
        )?;
        let band: Vec<String> = periods
            .iter()
            .enumerate()
            .filter_map(|(i, p)| at(p).map(|s| format!("{:.1},{:.1}", x(i), y(s.high))))
            .chain(
                periods
                    .iter()
                    .enumerate()
                    .rev()
                    .filter_map(|(i, p)| at(p).map(|s| format!("{:.1},{:.1}", x(i), y(s.low)))),
            )
            .collect();
        writeln!(
            out,
            "<polygon class=\"band\" points=\"{}\"/>",
            band.join(" ")
        )?;
        let line: Vec<String> = periods
            .iter()
            .enumerate()
            .filter_map(|(i, p)| at(p).map(|s| format!("{:.1},{:.1}", x(i), y(s.share))))
            .collect();
        writeln!(out, "<polyline points=\"{}\"/>", line.join(" "))?;
        for (i, p) in periods.iter().enumerate() {
            if let Some(s) = at(p) {
                writeln!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\"><title>{}. {} — {}: {:.1}% ({:.1}–{:.1}%) of {} paragraphs</title></circle>",
                    x(i),
                    y(s.share),
                    t.id,
                    e(&t.label),
                    e(&p.period),
                    s.share * 100.0,
                    s.low * 100.0,
                    s.high * 100.0,
                    p.paragraphs
                )?;
            }
        }
        out.write_str("</g>\n")?;
    }
    out.write_str("</svg>\n<p class=\"legend\">")?;
    for t in &report.themes {
        write!(
            out,
            "<span style=\"color:{}\">&#9632;</span> {}. {} ",
            colour(Some(t.id)),
            t.id,
            e(&t.label)
        )?;
    }
    out.write_str("</p>\n")
}

/// Map side in SVG units; the layout's [0, 1]² is drawn inside a margin.
const MAP_SIDE: f32 = 1000.0;
const MAP_MARGIN: f32 = 40.0;

/// The theme map: one mark per paragraph (`data-id`, `data-theme`, hover title "doc:line —
/// text"), theme labels at their marks' median, and a few lines of script so a click on a mark
/// shows only its theme (on the map and below) and a click elsewhere on the map shows all;
/// `#theme=N` in the address does the same on load.
fn write_map(report: &Report, names: &Names, out: &mut dyn Write) -> fmt::Result {
    let e = escape_html;
    let place = |v: f32| MAP_MARGIN + v * (MAP_SIDE - 2.0 * MAP_MARGIN);
    let paragraph: std::collections::HashMap<(&str, &str), &super::ParagraphRef> = report
        .themes
        .iter()
        .flat_map(|t| t.paragraphs.iter())
        .chain(report.outliers.iter())
        .map(|p| ((p.doc.as_str(), p.id.as_str()), p))
        .collect();
    writeln!(
        out,
        "<h2>Map</h2>\n<p class=\"src\">Each dot is a paragraph, placed so that paragraphs close in meaning are close on the map; colour is its theme, and each theme's label stands near the middle of its dots. A theme whose dots are scattered across the map shares words or framing more than one region of meaning: read its paragraphs before trusting it. Click a dot to show its theme only; click the background to show all.</p>\n<svg id=\"map\" viewBox=\"0 0 {MAP_SIDE} {MAP_SIDE}\" role=\"img\" aria-label=\"theme map\">"
    )?;
    for point in &report.map {
        let title = paragraph
            .get(&(point.doc.as_str(), point.id.as_str()))
            .map_or(String::new(), |p| {
                let text: String = p.text.chars().take(240).collect();
                format!("{}:{} — {}", names[&p.doc], p.place(), text)
            });
        writeln!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"6\" fill=\"{}\" data-id=\"{}\" data-theme=\"{}\"><title>{}</title></circle>",
            place(point.x),
            place(point.y),
            colour(point.theme),
            e(&point.id),
            point.theme.map_or(String::new(), |t| t.to_string()),
            e(&title)
        )?;
    }
    let mut placed: Vec<LabelBox> = Vec::new();
    for t in &report.themes {
        let mut xs: Vec<f32> = Vec::new();
        let mut ys: Vec<f32> = Vec::new();
        for point in report.map.iter().filter(|p| p.theme == Some(t.id)) {
            xs.push(place(point.x));
            ys.push(place(point.y));
        }
        if xs.is_empty() {
            continue;
        }
        xs.sort_by(f32::total_cmp);
        ys.sort_by(f32::total_cmp);
        let text = format!("{}. {}", t.id, t.label);
        let label = place_label(&text, xs[xs.len() / 2], ys[ys.len() / 2], &placed);
        writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"ml\" data-theme=\"{}\">{}</text>",
            label.x,
            label.y,
            t.id,
            e(&text)
        )?;
        placed.push(label);
    }
    out.write_str("</svg>\n<script>\n")?;
    out.write_str(MAP_SCRIPT)?;
    out.write_str("</script>\n")
}

/// A map label's box: `x` at its middle, `y` at its baseline, as SVG places `text-anchor:middle`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LabelBox {
    x: f32,
    y: f32,
    width: f32,
}

/// The map labels' font size (`.ml` in [`CSS`]) and the widest a character of it is drawn
/// (bold sans-serif capitals run to about 0.7 em; a label sized by that is never narrower than
/// it is drawn).
const LABEL_SIZE: f32 = 22.0;
const LABEL_CHAR_WIDTH: f32 = 0.7 * LABEL_SIZE;

impl LabelBox {
    fn new(text: &str, x: f32, y: f32) -> Self {
        let width = text.chars().count() as f32 * LABEL_CHAR_WIDTH;
        // Inside the map, however long the label.
        let half = (width / 2.0).min(MAP_SIDE / 2.0);
        Self {
            x: x.clamp(half, MAP_SIDE - half),
            y: y.clamp(LABEL_SIZE, MAP_SIDE - LABEL_SIZE * 0.3),
            width,
        }
    }

    /// Whether the two boxes (from an ascent of one font size above the baseline to 0.3 below,
    /// plus the white outline) overlap.
    fn overlaps(&self, other: &LabelBox) -> bool {
        let pad = 4.0;
        (self.x - other.x).abs() * 2.0 < self.width + other.width + 2.0 * pad
            && (self.y - other.y).abs() < LABEL_SIZE * 1.3 + pad
    }
}

/// Where a theme's label goes: at its marks' median if that is free, else the nearest free
/// place on rings of label-height steps around it, so no two labels overlap.
fn place_label(text: &str, x: f32, y: f32, placed: &[LabelBox]) -> LabelBox {
    let step = LABEL_SIZE * 1.4;
    let free = |b: &LabelBox| placed.iter().all(|p| !p.overlaps(b));
    (0..60)
        .flat_map(|ring| {
            let r = ring as f32 * step;
            [
                (0.0, 1.0),
                (0.0, -1.0),
                (1.0, 0.0),
                (-1.0, 0.0),
                (0.7, 0.7),
                (-0.7, 0.7),
                (0.7, -0.7),
                (-0.7, -0.7),
            ]
            .into_iter()
            .map(move |(dx, dy)| (x + dx * r * 3.0, y + dy * r))
        })
        .map(|(x, y)| LabelBox::new(text, x, y))
        .find(free)
        .unwrap_or_else(|| LabelBox::new(text, x, y))
}

const MAP_SCRIPT: &str = "function showTheme(t){\n\
document.querySelectorAll('section[data-theme]').forEach(s=>{s.hidden=!!t&&s.dataset.theme!==t;});\n\
document.querySelectorAll('#map [data-theme]').forEach(m=>{m.classList.toggle('dim',!!t&&m.dataset.theme!==t);});\n\
}\n\
document.querySelectorAll('#map circle').forEach(c=>c.addEventListener('click',ev=>{ev.stopPropagation();showTheme(c.dataset.theme||null);}));\n\
document.getElementById('map').addEventListener('click',()=>showTheme(null));\n\
document.addEventListener('DOMContentLoaded',()=>{const wanted=location.hash.match(/^#theme=(\\d+)$/);if(wanted){showTheme(wanted[1]);}});\n";

const CSS: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\n\
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem}section.sub{margin-left:1.5rem}.n{color:#777;font-size:.8em;font-weight:normal}\n\
.kw span{display:inline-block;background:#eef3fb;border-radius:.8rem;padding:0 .6rem;margin:0 .3rem .3rem 0}\n\
.src{color:#555}blockquote{margin:.5rem 0;padding:.3rem .8rem;border-left:3px solid #ccd}\n\
blockquote.top{border-left-color:#4a7bd0}blockquote p{margin:0}footer{color:#777;font-size:.85em}\n\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:right}\n\
td:first-child{text-align:left}td{background:linear-gradient(90deg,#dbe7fb var(--s,0%),transparent var(--s,0%))}\n\
#map{width:100%;max-width:60rem;border:1px solid #ddd;background:#fcfcfc}#map circle{cursor:pointer;opacity:.85}\n\
#chart{width:100%;max-width:60rem}#chart .grid{stroke:#eee}#chart .axis{font-size:13px;fill:#666;text-anchor:end}#chart .period{text-anchor:middle}\n\
#chart .series polyline{fill:none;stroke:currentColor;stroke-width:2.5}#chart .series .band{fill:currentColor;opacity:.12}#chart .series circle{fill:currentColor;cursor:pointer}\n\
#map .dim{opacity:.08}.ml{font-size:22px;font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:5px;text-anchor:middle;pointer-events:none}\n";

pub(super) fn escape_html(text: &str) -> String {
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

//! The theme report as one self-contained HTML page: no scripts, fonts or images from elsewhere.

use std::fmt::{self, Write};

use super::{count, Report};

pub(super) fn write(report: &Report, out: &mut dyn Write) -> fmt::Result {
    let names = report.short_names();
    let e = escape_html;
    out.write_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>themescope: themes</title>\n<style>\n")?;
    out.write_str(CSS)?;
    out.write_str("</style>\n</head>\n<body>\n<h1>Themes</h1>\n")?;
    writeln!(out, "<p class=\"summary\">{}</p>", e(&report.headline()))?;
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
    out.write_str("</ol></nav>\n")?;
    for t in &report.themes {
        writeln!(
            out,
            "<section id=\"t{}\"><h2>{}. {} <span class=\"n\">{}, {:.0}%, {}</span></h2>",
            t.id,
            t.id,
            e(&t.label),
            count(t.size, "paragraph"),
            t.share * 100.0,
            super::text::stability(t)
        )?;
        writeln!(
            out,
            "<p class=\"kw\">{}</p>",
            t.keywords
                .iter()
                .map(|k| format!("<span>{}</span>", e(k)))
                .collect::<String>()
        )?;
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
            let class = if i < 3 { " class=\"top\"" } else { "" };
            writeln!(
                out,
                "<blockquote{class}><p>{}</p><footer>{}:{} · {:.2}</footer></blockquote>",
                e(&p.text),
                e(&names[&p.doc]),
                p.line,
                p.score.unwrap_or(0.0)
            )?;
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
            writeln!(
                out,
                "<p class=\"kw\">{}</p>",
                sub.keywords
                    .iter()
                    .skip(1)
                    .map(|k| format!("<span>{}</span>", e(k)))
                    .collect::<String>()
            )?;
            for p in &sub.paragraphs {
                writeln!(
                    out,
                    "<blockquote><p>{}</p><footer>{}:{} · {:.2}</footer></blockquote>",
                    e(&p.text),
                    e(&names[&p.doc]),
                    p.line,
                    p.score.unwrap_or(0.0)
                )?;
            }
            out.write_str("</section>\n")?;
        }
        out.write_str("</section>\n")?;
    }
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
    out.write_str("</tbody></table>\n")?;
    if !report.outliers.is_empty() {
        out.write_str("<h2>Outliers</h2>\n<ul>\n")?;
        for p in &report.outliers {
            writeln!(
                out,
                "<li><code>{}:{}</code> {}</li>",
                e(&names[&p.doc]),
                p.line,
                e(&p.text)
            )?;
        }
        out.write_str("</ul>\n")?;
    }
    out.write_str("</body>\n</html>\n")?;
    Ok(())
}

const CSS: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}\n\
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem}section.sub{margin-left:1.5rem}.n{color:#777;font-size:.8em;font-weight:normal}\n\
.kw span{display:inline-block;background:#eef3fb;border-radius:.8rem;padding:0 .6rem;margin:0 .3rem .3rem 0}\n\
.src{color:#555}blockquote{margin:.5rem 0;padding:.3rem .8rem;border-left:3px solid #ccd}\n\
blockquote.top{border-left-color:#4a7bd0}blockquote p{margin:0}footer{color:#777;font-size:.85em}\n\
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:right}\n\
td:first-child{text-align:left}td{background:linear-gradient(90deg,#dbe7fb var(--s,0%),transparent var(--s,0%))}\n";

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

//! The theme report as Markdown: headings per theme, quotes, a sources × themes table. Text
//! from the corpus is escaped, so a `|` or `*` in a file name or paragraph stays literal.

use std::fmt::{self, Write};

use super::{count, Report};

pub(super) fn write(report: &Report, out: &mut dyn Write) -> fmt::Result {
    let names = report.short_names();
    let name = |doc: &str| escape(&names[doc]);
    writeln!(out, "# Themes\n\n{}\n", escape(&report.headline()))?;
    for line in report.unmatched_lines() {
        writeln!(out, "{}\n", escape(&line))?;
    }
    for t in &report.themes {
        writeln!(
            out,
            "## {}. {} — {} ({:.0}%), {}\n",
            t.id,
            escape(&t.label),
            count(t.size, "paragraph"),
            t.share * 100.0,
            super::text::stability(t)
        )?;
        let keywords: Vec<String> = t.keywords.iter().map(|k| escape(k)).collect();
        writeln!(out, "**Keywords:** {}  ", keywords.join(", "))?;
        let sources: Vec<String> = t
            .sources
            .iter()
            .map(|s| format!("{} ({})", name(&s.doc), s.paragraphs))
            .collect();
        writeln!(out, "**Sources:** {}\n", sources.join(", "))?;
        for p in t.paragraphs.iter().take(3) {
            writeln!(
                out,
                "> {}  \n> — {}:{}, {:.2}\n",
                escape(&p.text),
                name(&p.doc),
                p.place(),
                p.score.unwrap_or(0.0)
            )?;
        }
        for sub in &t.subthemes {
            let keywords: Vec<String> = sub.keywords.iter().skip(1).map(|k| escape(k)).collect();
            writeln!(
                out,
                "### {}.{} {} — {}, {}\n\n**Keywords:** {}\n",
                t.id,
                sub.id,
                escape(&sub.label),
                count(sub.size, "paragraph"),
                super::text::stability(sub),
                keywords.join(", ")
            )?;
            if let Some(p) = sub.paragraphs.first() {
                writeln!(
                    out,
                    "> {}  \n> — {}:{}, {:.2}\n",
                    escape(&p.text),
                    name(&p.doc),
                    p.place(),
                    p.score.unwrap_or(0.0)
                )?;
            }
        }
    }
    if let Some(over) = &report.over_time {
        writeln!(
            out,
            "## Over time, by {}\n\nEach theme's share of the period's paragraphs, with its {:.0}% interval.\n",
            super::period_word(over.period),
            over.level * 100.0
        )?;
        write!(out, "| period | paragraphs |")?;
        for t in &report.themes {
            write!(out, " T{} {} |", t.id, escape(&t.label))?;
        }
        writeln!(out)?;
        write!(out, "|---|---:|")?;
        for _ in &report.themes {
            write!(out, "---:|")?;
        }
        writeln!(out)?;
        for p in &over.periods {
            write!(out, "| {} | {} |", escape(&p.period), p.paragraphs)?;
            for s in &p.shares {
                write!(
                    out,
                    " {:.0}% ({:.0}–{:.0}) |",
                    s.share * 100.0,
                    s.low * 100.0,
                    s.high * 100.0
                )?;
            }
            writeln!(out)?;
        }
        writeln!(out)?;
    }
    writeln!(out, "## Sources × themes\n")?;
    write!(out, "| document |")?;
    for t in &report.themes {
        write!(out, " T{} |", t.id)?;
    }
    writeln!(out, " outliers |")?;
    write!(out, "|---|")?;
    for _ in &report.themes {
        write!(out, "---:|")?;
    }
    writeln!(out, "---:|")?;
    for d in &report.documents {
        write!(out, "| {} |", name(&d.doc))?;
        for t in &report.themes {
            write!(out, " {} |", d.paragraphs_in(t.id))?;
        }
        writeln!(out, " {} |", d.outliers)?;
    }
    if !report.outliers.is_empty() {
        writeln!(out, "\n## Outliers\n")?;
        for p in &report.outliers {
            writeln!(out, "- {}:{} {}", name(&p.doc), p.place(), escape(&p.text))?;
        }
    }
    Ok(())
}

/// Escapes what Markdown (CommonMark and GitHub tables) would read as markup, and folds line
/// breaks, so that corpus text renders as the words it is.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '!' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_in_corpus_text_stays_literal() {
        assert_eq!(escape("a|b.txt"), "a\\|b.txt");
        assert_eq!(escape("*not bold* and _x_"), "\\*not bold\\* and \\_x\\_");
        assert_eq!(escape("<script>\nline"), "\\<script\\> line");
        assert_eq!(escape("plain, words: 1.5"), "plain, words: 1.5");
    }
}

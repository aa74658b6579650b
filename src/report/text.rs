//! The theme report for a terminal: wrapped at 100 columns, three quotes per theme.

use std::fmt::{self, Write};

use unicode_width::UnicodeWidthStr;

use super::{count, Report};

const WIDTH: usize = 100;

/// Quoted paragraphs are cut near this length (about three lines).
const QUOTE_CHARS: usize = 270;

pub(super) fn write(report: &Report, out: &mut dyn Write) -> fmt::Result {
    let names = report.short_names();
    write_wrapped(out, &report.headline(), "", "")?;
    for line in report.unmatched_lines() {
        write_wrapped(out, &line, "", "")?;
    }
    writeln!(out)?;
    for t in &report.themes {
        writeln!(
            out,
            "{}. {} — {} ({:.0}%), {}",
            t.id,
            capitalise(&t.label),
            count(t.size, "paragraph"),
            t.share * 100.0,
            stability(t)
        )?;
        let keywords = format!("keywords: {}", t.keywords.join(", "));
        write_wrapped(out, &keywords, "   ", "             ")?;
        let sources: Vec<String> = t
            .sources
            .iter()
            .map(|s| format!("{} ({})", names[&s.doc], s.paragraphs))
            .collect();
        write_wrapped(
            out,
            &format!("sources: {}", sources.join(", ")),
            "   ",
            "            ",
        )?;
        for p in t.paragraphs.iter().take(3) {
            let score = p.score.unwrap_or(0.0);
            writeln!(out, "   {score:.2}  {}:{}", names[&p.doc], p.place())?;
            let indent = "         ";
            write_wrapped(out, &shorten(&p.text, QUOTE_CHARS), indent, indent)?;
        }
        if !t.subthemes.is_empty() {
            writeln!(out, "   sub-themes:")?;
        } else if t.sub_grain == Some(crate::themes::Grain::Whole) {
            writeln!(
                out,
                "   sub-themes: none (no finer split came back in re-fits)"
            )?;
        }
        for sub in &t.subthemes {
            let head = format!(
                "{}.{} {} — {}, {}: {}",
                t.id,
                sub.id,
                capitalise(&sub.label),
                count(sub.size, "paragraph"),
                stability(sub),
                sub.keywords
                    .iter()
                    .skip(1)
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            write_wrapped(out, &head, "   ", "         ")?;
            if let Some(p) = sub.paragraphs.first() {
                let quote = format!(
                    "{}:{}  {}",
                    names[&p.doc],
                    p.place(),
                    shorten(&p.text, QUOTE_CHARS / 2)
                );
                write_wrapped(out, &quote, "         ", "         ")?;
            }
        }
        writeln!(out)?;
    }
    write_sources_table(report, &names, out)?;
    if let Some(over) = &report.over_time {
        write_over_time(over, out)?;
    }
    writeln!(out, "\nDocuments: their mix of themes")?;
    for d in &report.documents {
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
        write_wrapped(out, &line, "   ", "      ")?;
    }
    if !report.outliers.is_empty() {
        writeln!(out, "\nOutliers ({}), in no theme:", report.outliers.len())?;
        for p in &report.outliers {
            let text: String = p.text.chars().take(WIDTH - 12).collect();
            writeln!(out, "   {}:{}  {text}", names[&p.doc], p.place())?;
        }
    }
    Ok(())
}

/// Periods down, themes across: each share with its interval.
fn write_over_time(over: &super::OverTime, out: &mut dyn Write) -> fmt::Result {
    writeln!(
        out,
        "\nOver time, by {}: each theme's share of the period's paragraphs ({:.0}% interval)",
        super::period_word(over.period),
        over.level * 100.0
    )?;
    let first = over
        .periods
        .iter()
        .map(|p| p.period.len())
        .max()
        .unwrap_or(0)
        .max(6);
    write!(out, "   {:<first$}  {:>5}", "period", "paras")?;
    for s in over.periods.first().map_or(&[][..], |p| &p.shares[..]) {
        write!(out, "  {:>17}", format!("T{}", s.theme))?;
    }
    writeln!(out)?;
    for p in &over.periods {
        write!(out, "   {:<first$}  {:>5}", p.period, p.paragraphs)?;
        for s in &p.shares {
            let cell = format!(
                "{:.0}% ({:.0}–{:.0})",
                s.share * 100.0,
                s.low * 100.0,
                s.high * 100.0
            );
            write!(out, "  {cell:>17}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

fn write_sources_table(
    report: &Report,
    names: &std::collections::BTreeMap<String, String>,
    out: &mut dyn Write,
) -> fmt::Result {
    writeln!(out, "Sources × themes (paragraphs)")?;
    let name_width = names.values().map(|n| n.width()).max().unwrap_or(8).max(8);
    let pad = |name: &str| " ".repeat(name_width.saturating_sub(name.width()));
    write!(out, "   document{}", pad("document"))?;
    for t in &report.themes {
        write!(out, " {:>4}", format!("T{}", t.id))?;
    }
    let has_outliers = !report.outliers.is_empty();
    if has_outliers {
        write!(out, " {:>4}", "out")?;
    }
    writeln!(out)?;
    for d in &report.documents {
        let name = &names[&d.doc];
        write!(out, "   {name}{}", pad(name))?;
        for t in &report.themes {
            match d.paragraphs_in(t.id) {
                0 => write!(out, " {:>4}", "·")?,
                n => write!(out, " {n:>4}")?,
            }
        }
        if has_outliers {
            write!(out, " {:>4}", d.outliers)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Writes `text` in lines of at most [`WIDTH`] terminal columns, breaking between words; a
/// word longer than a line stands on a line of its own.
fn write_wrapped(out: &mut dyn Write, text: &str, first: &str, rest: &str) -> fmt::Result {
    for line in wrap(text, WIDTH, first, rest) {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn wrap(text: &str, width: usize, first: &str, rest: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.width() + 1 + word.width() > width {
            lines.push(std::mem::replace(&mut line, rest.to_string()));
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    if !empty || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Cuts a text at a word boundary near `max` characters, marking the cut with "…".
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let end = cut.rfind(' ').unwrap_or(cut.len());
    format!("{}…", cut[..end].trim_end_matches([',', ';', ':', ' ']))
}

/// "stability 0.91", or "stability 0.42, unstable"; "given, …" for a guided theme.
pub(super) fn stability(theme: &super::ThemeReport) -> String {
    let given = if theme.given { "given, " } else { "" };
    if theme.unstable {
        format!("{given}stability {:.2}, unstable", theme.stability)
    } else {
        format!("{given}stability {:.2}", theme.stability)
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_between_words_and_counts_columns() {
        let lines = wrap("aaa bbb ccc ddd", 9, "> ", "  ");
        assert_eq!(lines, vec!["> aaa bbb", "  ccc ddd"]);
        // Ideographs take two columns each.
        assert_eq!(wrap("北约 北约 北约", 10, "", "").len(), 2);
        assert_eq!(
            wrap("averyveryverylongword x", 5, "", ""),
            vec!["averyveryverylongword", "x"]
        );
        assert_eq!(wrap("", 10, "  ", ""), vec!["  "]);
    }
}

//! Dates of articles: parsed from JSONL records and file names, given by a `path,date` table,
//! and grouped into days, weeks or months.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use regex::Regex;

use super::CorpusError;

/// An ISO 8601 date (`2025-12-03`) or date-time (`2025-12-03T10:00:00Z`, `…+01:00`, or with no
/// offset): its calendar date as written (an offset does not move it to another day).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let day = text.get(..10)?;
    let date = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    let rest = &text[10..];
    if rest.is_empty() {
        return Some(date);
    }
    let time_ok = chrono::DateTime::parse_from_rfc3339(text).is_ok()
        || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M").is_ok()
        || chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").is_ok();
    time_ok.then_some(date)
}

/// The first valid `YYYY-MM-DD` in a file's name (not its folders'): `2025-12-03-rutte.txt`.
pub fn date_in_name(path: &Path) -> Option<NaiveDate> {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    let pattern =
        PATTERN.get_or_init(|| Regex::new(r"(?:^|\D)(\d{4}-\d{2}-\d{2})(?:\D|$)").unwrap());
    let name = path.file_name()?.to_string_lossy();
    let mut at = 0;
    while let Some(found) = pattern.captures_at(&name, at) {
        let m = found.get(1).expect("the pattern has a group");
        if let Ok(date) = NaiveDate::parse_from_str(m.as_str(), "%Y-%m-%d") {
            return Some(date);
        }
        at = m.start() + 1;
    }
    None
}

/// Dates given by a `path,date` table (`--dates FILE.csv`): they override a document's own.
#[derive(Debug, Clone, Default)]
pub struct DateTable {
    /// The table's file, for messages.
    source: PathBuf,
    /// Each row's file, resolved, with its date and its line in the table.
    rows: Vec<(PathBuf, NaiveDate, usize)>,
    /// The rows by file (a later row for a file wins).
    by_file: HashMap<PathBuf, NaiveDate>,
}

impl DateTable {
    /// Reads a table of `path,date` lines; a first line `path,date` is a header, blank lines
    /// and lines starting with `#` are skipped. A path is taken as given (relative to the
    /// working folder) or, failing that, relative to the table's folder; a path that names no
    /// file, an unparsable date or a malformed line is an error naming its line.
    pub fn read(path: &Path) -> Result<Self, CorpusError> {
        let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let error = |line: usize, message: String| CorpusError::Dates {
            path: path.to_path_buf(),
            line,
            message,
        };
        let base = path.parent().unwrap_or(Path::new(""));
        let mut rows = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let Some((file, date)) = raw.rsplit_once(',') else {
                return Err(error(line, format!("{raw:?} is not path,date")));
            };
            let (file, date) = (unquote(file), unquote(date));
            if rows.is_empty() && file.eq_ignore_ascii_case("path") {
                continue;
            }
            let date = parse_date(date).ok_or_else(|| {
                error(
                    line,
                    format!("{date:?} is not an ISO 8601 date such as 2025-12-03"),
                )
            })?;
            let given = PathBuf::from(file);
            let found = [given.clone(), base.join(&given)]
                .into_iter()
                .find_map(|p| p.canonicalize().ok())
                .ok_or_else(|| error(line, format!("{file} names no file")))?;
            rows.push((found, date, line));
        }
        if rows.is_empty() {
            return Err(error(1, "the table gives no dates".into()));
        }
        let by_file = rows.iter().map(|(f, d, _)| (f.clone(), *d)).collect();
        Ok(Self {
            source: path.to_path_buf(),
            rows,
            by_file,
        })
    }

    /// Checks that every row names one of `files` (those a reader will read).
    pub fn check_files(&self, files: &[PathBuf]) -> Result<(), CorpusError> {
        let known: HashSet<PathBuf> = files.iter().filter_map(|f| f.canonicalize().ok()).collect();
        match self.rows.iter().find(|(file, _, _)| !known.contains(file)) {
            Some((file, _, line)) => Err(CorpusError::Dates {
                path: self.source.clone(),
                line: *line,
                message: format!("{} is not among the inputs", file.display()),
            }),
            None => Ok(()),
        }
    }

    /// The date the table gives `file`, if it names it.
    pub fn date_of(&self, file: &Path) -> Option<NaiveDate> {
        self.by_file.get(&file.canonicalize().ok()?).copied()
    }
}

fn unquote(field: &str) -> &str {
    let field = field.trim();
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(field)
}

/// How dates are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Period {
    Day,
    /// ISO weeks, Monday to Sunday, named by their Monday.
    #[default]
    Week,
    Month,
}

impl Period {
    /// The first day of the period that holds `date`: what names the period and sorts it.
    pub fn start(self, date: NaiveDate) -> NaiveDate {
        match self {
            Period::Day => date,
            Period::Week => {
                date - chrono::Duration::days(i64::from(date.weekday().num_days_from_monday()))
            }
            Period::Month => date.with_day(1).expect("every month has a first day"),
        }
    }

    /// The period's name: `2025-12-03`, `week of 2025-12-01`, `2025-12`.
    pub fn name(self, start: NaiveDate) -> String {
        match self {
            Period::Day => start.format("%Y-%m-%d").to_string(),
            Period::Week => format!("week of {}", start.format("%Y-%m-%d")),
            Period::Month => start.format("%Y-%m").to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn dates_and_date_times_parse_to_their_calendar_day() {
        assert_eq!(parse_date("2025-12-03"), Some(d(2025, 12, 3)));
        assert_eq!(
            parse_date("2025-12-03T23:30:00+05:00"),
            Some(d(2025, 12, 3))
        );
        assert_eq!(parse_date("2025-12-03T10:00:00Z"), Some(d(2025, 12, 3)));
        assert_eq!(parse_date("2025-12-03T10:00:00.25"), Some(d(2025, 12, 3)));
        for bad in [
            "2025-13-01",
            "2025-02-30",
            "03/12/2025",
            "2025-12-03x",
            "",
            "yesterday",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_first_valid_date_in_a_file_name_counts() {
        let name = |s: &str| date_in_name(Path::new(s));
        assert_eq!(name("news/2025-12-03-rutte.txt"), Some(d(2025, 12, 3)));
        assert_eq!(name("a_2025-99-01_2025-02-13.md"), Some(d(2025, 2, 13)));
        assert_eq!(name("2025-12-03/rutte.txt"), None);
        assert_eq!(name("12025-12-031.txt"), None);
    }

    #[test]
    fn periods_start_on_mondays_and_first_days() {
        let wed = d(2025, 12, 3);
        assert_eq!(Period::Day.start(wed), wed);
        assert_eq!(Period::Week.start(wed), d(2025, 12, 1));
        assert_eq!(Period::Week.start(d(2025, 11, 30)), d(2025, 11, 24));
        assert_eq!(Period::Month.start(wed), d(2025, 12, 1));
        assert_eq!(Period::Week.name(d(2025, 12, 1)), "week of 2025-12-01");
        assert_eq!(Period::Month.name(d(2025, 12, 1)), "2025-12");
    }
}

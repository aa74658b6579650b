//! `themes --over-time`: the sample corpus' articles dated by their text
//! (tests/fixtures/nato-ukraine-dates.csv), each theme's share per period adding up to 1 in
//! JSON, and the HTML chart rendered by headless Chromium with one series per theme; undated
//! paragraphs are a one-line error.

mod common;

use common::browser::*;
use common::cli::*;
use serde_json::Value;

const DATES: &str = "tests/fixtures/nato-ukraine-dates.csv";

fn over_time(home: &std::path::Path, period: &str, format: &str) -> Outcome {
    Outcome::of(themescope_with_real_model(home).args([
        "-q",
        "themes",
        "data/nato-ukraine",
        "--dates",
        DATES,
        "--over-time",
        "--period",
        period,
        "--format",
        format,
    ]))
    .ok()
}

#[test]
fn shares_per_period_add_up_to_one_with_intervals_around_them() {
    let home = tempfile::tempdir().unwrap();
    for (period, want) in [
        (
            "day",
            vec!["2025-02-13", "2025-02-14", "2025-12-02", "2025-12-03"],
        ),
        ("week", vec!["week of 2025-02-10", "week of 2025-12-01"]),
        ("month", vec!["2025-02", "2025-12"]),
    ] {
        let report: Value =
            serde_json::from_str(&over_time(home.path(), period, "json").stdout).unwrap();
        let over = &report["over_time"];
        assert_eq!(over["period"], period);
        let periods = over["periods"].as_array().unwrap();
        let names: Vec<&str> = periods
            .iter()
            .map(|p| p["period"].as_str().unwrap())
            .collect();
        assert_eq!(names, want);
        let themes = report["themes"].as_array().unwrap().len();
        let mut paragraphs = 0;
        for p in periods {
            let shares = p["shares"].as_array().unwrap();
            assert_eq!(shares.len(), themes);
            let sum: f64 = shares
                .iter()
                .map(|s| s["share"].as_f64().unwrap())
                .sum::<f64>()
                + p.get("outliers").and_then(Value::as_f64).unwrap_or(0.0);
            assert!((sum - 1.0).abs() < 1e-5, "{p:#}");
            for s in shares {
                let (low, share, high) = (
                    s["low"].as_f64().unwrap(),
                    s["share"].as_f64().unwrap(),
                    s["high"].as_f64().unwrap(),
                );
                assert!(low <= share && share <= high, "{s:#}");
            }
            paragraphs += p["paragraphs"].as_u64().unwrap();
        }
        assert_eq!(
            paragraphs,
            report["summary"]["paragraphs"].as_u64().unwrap()
        );
    }
    // Text and Markdown carry the table.
    let text = over_time(home.path(), "week", "text").stdout;
    assert!(text.contains("Over time, by week"), "{text}");
    assert!(text.contains("week of 2025-12-01"), "{text}");
    let markdown = over_time(home.path(), "week", "markdown").stdout;
    assert!(markdown.contains("## Over time, by week"), "{markdown}");
}

#[test]
fn the_html_chart_renders_one_series_per_theme() {
    let Some(browser) = chromium() else { return };
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    std::fs::write(&page, over_time(home.path(), "day", "html").stdout).unwrap();
    let report: Value =
        serde_json::from_str(&over_time(home.path(), "day", "json").stdout).unwrap();
    let themes = report["themes"].as_array().unwrap().len();
    let dom = rendered_dom(&browser, &page, "");
    assert!(
        dom.contains("<svg id=\"chart\""),
        "the chart is in the page"
    );
    let series = tags(&dom, "g");
    let series: Vec<&str> = series
        .into_iter()
        .filter(|g| attribute(g, "class") == Some("series"))
        .collect();
    assert_eq!(series.len(), themes, "one series per theme");
    let ids: Vec<&str> = series
        .iter()
        .map(|g| attribute(g, "data-theme").unwrap())
        .collect();
    let want: Vec<String> = (1..=themes).map(|t| t.to_string()).collect();
    assert_eq!(ids, want);
    // A mark per theme and period, each with its figures on hover.
    let chart = &dom[dom.find("<svg id=\"chart\"").unwrap()..];
    let chart = &chart[..chart.find("</svg>").unwrap()];
    assert_eq!(tags(chart, "circle").len(), themes * 4);
    assert_eq!(chart.matches("<title>").count(), themes * 4);
    assert!(chart.contains("2025-02-14: "), "{chart}");
    assert_eq!(tags(chart, "polyline").len(), themes);
}

#[test]
fn undated_paragraphs_are_one_line_with_exit_2_and_nothing_written() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    Outcome::of(
        themescope_with_real_model(home.path())
            .args(["themes", "data/nato-ukraine", "--over-time", "-o"])
            .arg(&report),
    )
    .fails(
        2,
        &[
            "66 of 66 have none",
            "000_7c95b485b20482af.txt",
            "and 2 more",
            "--dates",
        ],
    );
    assert!(!report.exists());
    Outcome::of(themescope_with_real_model(home.path()).args([
        "themes",
        "data/nato-ukraine",
        "--period",
        "day",
    ]))
    .fails(2, &["--over-time"]);
}

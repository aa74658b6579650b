//! The HTML report's theme map, rendered by a real browser (Debian's `chromium`, headless): one
//! mark per paragraph with its id, and a theme filter that works.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::browser::*;
use common::*;

/// Writes the sample corpus' HTML report, with `extra` arguments, to `page`.
fn html_report(home: &Path, page: &Path, extra: &[&str]) {
    Outcome::of(
        themescope_with_real_model(home)
            .args(["-q", "themes", "data/nato-ukraine"])
            .args(extra)
            .args(["--format", "html", "-o"])
            .arg(page),
    )
    .ok();
}

#[test]
fn the_map_has_a_mark_per_paragraph_and_filters_by_theme() {
    let Some(browser) = chromium() else { return };
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let report = Outcome::of(themescope_with_real_model(home.path()).args([
        "-q",
        "themes",
        "data/nato-ukraine",
        "--format",
        "json",
    ]))
    .ok();
    let report: serde_json::Value = serde_json::from_str(&report.stdout).unwrap();
    html_report(home.path(), &page, &[]);

    let mut theme_of = std::collections::HashMap::new();
    for theme in report["themes"].as_array().unwrap() {
        for p in theme["paragraphs"].as_array().unwrap() {
            theme_of.insert(
                p["id"].as_str().unwrap().to_string(),
                theme["id"].to_string(),
            );
        }
    }
    let dom = rendered_dom(&browser, &page, "");
    let marks = tags(&dom, "circle");
    let ids: BTreeSet<String> = marks
        .iter()
        .map(|m| attribute(m, "data-id").unwrap().to_string())
        .collect();
    assert_eq!(marks.len(), 66, "one mark per paragraph");
    assert_eq!(ids, theme_of.keys().cloned().collect::<BTreeSet<_>>());
    for mark in &marks {
        let id = attribute(mark, "data-id").unwrap();
        assert_eq!(attribute(mark, "data-theme").unwrap(), theme_of[id], "{id}");
    }
    // Hover text: each mark's title says where the paragraph is from.
    assert!(dom.matches("<title>").count() > 66);
    assert!(
        dom.contains("<title>004_82e8b515326dff73.txt:5 — "),
        "doc:line, then the text"
    );
    let sections = tags(&dom, "section");
    assert!(sections.iter().all(|s| !s.contains("hidden")));

    // The filter, as a click on a mark of theme 2 or the address #theme=2 sets it.
    let dom = rendered_dom(&browser, &page, "#theme=2");
    let themed: Vec<&str> = tags(&dom, "section")
        .into_iter()
        .filter(|s| attribute(s, "data-theme").is_some())
        .collect();
    assert_eq!(themed.len(), report["themes"].as_array().unwrap().len());
    for section in themed {
        let shown = attribute(section, "data-theme") == Some("2");
        assert_eq!(!section.contains("hidden"), shown, "{section}");
    }
    for mark in tags(&dom, "circle") {
        let own = attribute(mark, "data-theme") == Some("2");
        let dimmed = attribute(mark, "class").is_some_and(|c| c.contains("dim"));
        assert_eq!(dimmed, !own, "{mark}");
    }
}

#[test]
fn no_two_theme_labels_overlap_on_the_map() {
    let Some(browser) = chromium() else { return };
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    // Twelve themes asked for: as many labels as the sample corpus' map ever had.
    html_report(home.path(), &page, &["--k", "12"]);
    // A copy of the page that writes each label's drawn box, as the browser measures it, into
    // the DOM.
    let html = std::fs::read_to_string(&page).unwrap();
    let measure = "<script>document.addEventListener('DOMContentLoaded',()=>{\
        const out=[...document.querySelectorAll('#map text.ml')].map(t=>{const b=t.getBBox();\
        return [b.x,b.y,b.width,b.height].map(v=>v.toFixed(2)).join(',');});\
        const pre=document.createElement('pre');pre.id='boxes';pre.textContent=out.join(';');\
        document.body.appendChild(pre);});</script></body>";
    let measured = dir.path().join("measured.html");
    std::fs::write(&measured, html.replace("</body>", measure)).unwrap();
    let dom = rendered_dom(&browser, &measured, "");
    let at = dom
        .find("<pre id=\"boxes\">")
        .expect("the boxes were measured")
        + 16;
    let boxes: Vec<[f64; 4]> = dom[at..dom[at..].find("</pre>").unwrap() + at]
        .split(';')
        .map(|b| {
            let v: Vec<f64> = b.split(',').map(|x| x.parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect();
    assert_eq!(boxes.len(), 12, "a label per theme");
    for (i, a) in boxes.iter().enumerate() {
        assert!(a[2] > 10.0 && a[3] > 10.0, "a drawn label: {a:?}");
        for b in &boxes[i + 1..] {
            let apart = a[0] + a[2] <= b[0]
                || b[0] + b[2] <= a[0]
                || a[1] + a[3] <= b[1]
                || b[1] + b[3] <= a[1];
            assert!(apart, "labels overlap: {a:?} and {b:?}");
        }
    }
}

//! Themes: clustering and labelling on generated data with known groups, and the report end to
//! end on the sample corpus with the real model.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use ndarray::Array2;
use themescope::themes::{
    Grain, Method, ParamError, ThemeCount, ThemeError, ThemeModel, ThemeParams,
};
use themescope::ParamGuard;

/// Splitmix-style generator, so the data is the same on every run.
fn noise(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
}

const GROUPS: [(&str, [&str; 3]); 3] = [
    (
        "security guarantees",
        [
            "for Kyiv after the war",
            "offered by European allies",
            "instead of membership",
        ],
    ),
    (
        "seat at the table",
        [
            "denied to European capitals",
            "demanded by NATO allies",
            "in the Geneva negotiations",
        ],
    ),
    (
        "defence spending",
        [
            "rising across the alliance",
            "above two percent",
            "in the next budget",
        ],
    ),
];

/// 3 groups × 12 paragraphs: unit vectors around 3 orthogonal directions, and texts that share
/// their group's phrase.
fn generated() -> (Array2<f32>, Vec<String>, Vec<usize>) {
    let dim = 24;
    let mut seed = 11;
    let (mut rows, mut texts, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    for (g, (phrase, tails)) in GROUPS.iter().enumerate() {
        for i in 0..12 {
            let mut v: Vec<f32> = (0..dim).map(|_| 0.15 * noise(&mut seed)).collect();
            v[g * 3] += 1.0;
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            rows.extend(v.iter().map(|x| x / norm));
            texts.push(format!(
                "Paragraph {i} is about {phrase}, {}.",
                tails[i % 3]
            ));
            truth.push(g);
        }
    }
    (
        Array2::from_shape_vec((36, dim), rows).unwrap(),
        texts,
        truth,
    )
}

fn members_by_truth(model: &ThemeModel, truth: &[usize]) -> Vec<HashSet<usize>> {
    model
        .themes
        .iter()
        .map(|t| t.members.iter().map(|m| truth[m.row]).collect())
        .collect()
}

#[test]
fn known_groups_are_found_and_named_from_their_text() {
    let (vectors, texts, truth) = generated();
    for count in [ThemeCount::Fixed(3), ThemeCount::Auto] {
        let params = ThemeParams::new().count(count).check().unwrap();
        let model = ThemeModel::fit(vectors.view(), &texts, &params, None).unwrap();
        assert_eq!(model.themes.len(), 3, "{count:?}");
        for (theme, groups) in model.themes.iter().zip(members_by_truth(&model, &truth)) {
            assert_eq!(groups.len(), 1, "a theme holds one group");
            let group = *groups.iter().next().unwrap();
            assert_eq!(theme.members.len(), 12);
            assert_eq!(
                theme.label, GROUPS[group].0,
                "{count:?}: {:?}",
                theme.keywords
            );
            assert!(theme.keywords.len() >= 3);
            // Most central first.
            assert!(theme.members.windows(2).all(|w| w[0].score >= w[1].score));
        }
        if count == ThemeCount::Auto {
            let selection = model.selection.as_ref().unwrap();
            // Three clear groups come back in every re-fit; no finer split of the noise does.
            assert_eq!(selection.chosen, 3, "{selection:?}");
            assert_eq!(selection.grain, Grain::Stable, "{selection:?}");
            for theme in &model.themes {
                assert!(
                    theme.subthemes.is_empty(),
                    "noise within a group is not split: {:?}",
                    theme.split
                );
                assert_eq!(theme.split.as_ref().unwrap().grain, Grain::Whole);
            }
        }
    }
}

#[test]
fn fitting_is_deterministic_and_assign_places_new_vectors() {
    let (vectors, texts, _) = generated();
    let params = ThemeParams::new().check().unwrap();
    let a = ThemeModel::fit(vectors.view(), &texts, &params, None).unwrap();
    let b = ThemeModel::fit(vectors.view(), &texts, &params, None).unwrap();
    assert_eq!(a.themes, b.themes);
    assert_eq!(a.centroids, b.centroids);

    let assigned = a.assign(vectors.view());
    for (row, assignment) in assigned.iter().enumerate() {
        let theme = &a.themes[assignment.theme];
        assert!(theme.members.iter().any(|m| m.row == row));
        assert!(assignment.score > 0.8);
    }
}

#[test]
fn density_leaves_strays_out() {
    let (vectors, mut texts, _) = generated();
    let mut rows = vectors.into_raw_vec_and_offset().0;
    let mut seed = 99;
    for i in 0..3 {
        let mut v: Vec<f32> = (0..24).map(|_| noise(&mut seed)).collect();
        v[20 + i] += 2.0;
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        rows.extend(v.iter().map(|x| x / norm));
        texts.push(format!("A stray remark number {i} about the weather."));
    }
    let vectors = Array2::from_shape_vec((39, 24), rows).unwrap();
    let params = ThemeParams::new().method(Method::Density).check().unwrap();
    let model = ThemeModel::fit(vectors.view(), &texts, &params, None).unwrap();
    assert_eq!(model.themes.len(), 3);
    assert_eq!(model.outliers, vec![36, 37, 38]);
}

#[test]
fn impossible_parameters_are_refused() {
    let k = |k| ThemeParams::new().count(ThemeCount::Fixed(k));
    assert_eq!(k(0).check().unwrap_err(), ParamError::ZeroThemes);
    assert_eq!(
        ThemeParams::new().keywords(51).check().unwrap_err(),
        ParamError::Keywords(51)
    );
    assert_eq!(
        ThemeParams::new().min_points(0).check_ref().unwrap_err(),
        ParamError::ZeroMinPoints
    );
    let ten = k(10).check().unwrap();
    assert!(ten.fits(10).is_ok());
    assert!(matches!(
        ten.fits(9),
        Err(ThemeError::TooManyThemes {
            k: 10,
            paragraphs: 9
        })
    ));
    assert!(matches!(
        ThemeParams::new().check().unwrap().fits(0),
        Err(ThemeError::NoParagraphs)
    ));
    let (vectors, texts, _) = generated();
    let too_many = ThemeModel::fit(vectors.view(), &texts, &k(37).check().unwrap(), None);
    assert!(matches!(
        too_many,
        Err(ThemeError::TooManyThemes {
            k: 37,
            paragraphs: 36
        })
    ));
    let mismatched = ThemeModel::fit(vectors.view(), &texts[..35], &ten, None);
    assert!(matches!(
        mismatched,
        Err(ThemeError::TextsAndVectors {
            texts: 35,
            vectors: 36
        })
    ));
}

fn themes_cli(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    themescope_with_real_model(home)
        .arg("themes")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn sample_corpus_report_shows_only_themes_that_hold() {
    sample_corpus_report_at("f32");
}

/// int8 vectors (mean cosine 0.9988 to f32) move a few of this small corpus' paragraphs across
/// the boundary of its two themes (README "Precision"): what must hold, holds at either.
#[test]
fn the_int8_model_shows_only_themes_that_hold() {
    sample_corpus_report_at("int8");
}

fn sample_corpus_report_at(precision: &str) {
    let home = tempfile::tempdir().unwrap();
    let args = [
        "data/nato-ukraine",
        "--format",
        "json",
        "--precision",
        precision,
    ];
    let out = themes_cli(home.path(), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = themes_cli(home.path(), &args);
    assert_eq!(out.stdout, again.stdout, "same input and seed, same bytes");

    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let themes = report["themes"].as_array().unwrap();
    assert!((2..=20).contains(&themes.len()), "{} themes", themes.len());
    // The top level is where stability put it, not the end of the k it compared.
    let scores = report["summary"]["k_scores"].as_array().unwrap();
    let largest_compared = scores.iter().map(|s| s["k"].as_u64().unwrap()).max();
    assert!(Some(themes.len() as u64) < largest_compared, "{scores:?}");
    let mut theme_of: HashMap<String, usize> = HashMap::new();
    for (t, theme) in themes.iter().enumerate() {
        assert!(!theme["label"].as_str().unwrap().is_empty());
        assert!(
            (5..=8).contains(&theme["keywords"].as_array().unwrap().len())
                || theme["size"].as_u64().unwrap() <= 4
        );
        assert_eq!(theme["unstable"], false, "{}", theme["label"]);
        assert!(theme["stability"].as_f64().unwrap() >= 0.6);
        for sub in theme["subthemes"].as_array().unwrap() {
            assert!(
                sub["stability"].as_f64().unwrap() >= 0.6,
                "{}",
                sub["label"]
            );
        }
        let paragraphs = theme["paragraphs"].as_array().unwrap();
        assert_eq!(paragraphs.len() as u64, theme["size"].as_u64().unwrap());
        let scores: Vec<f64> = paragraphs
            .iter()
            .map(|p| p["score"].as_f64().unwrap())
            .collect();
        assert!(
            scores.windows(2).all(|w| w[0] >= w[1]),
            "most central first"
        );
        for p in paragraphs {
            let id = p["id"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            assert!(
                theme_of.insert(id, t).is_none(),
                "a paragraph is in one theme"
            );
        }
    }
    assert_eq!(theme_of.len(), 66, "every kept paragraph is in a theme");
    for boilerplate in [
        "002_77179edf7d13d044.txt:55",
        "002_77179edf7d13d044.txt:52",
        "004_82e8b515326dff73.txt:19",
        "000_7c95b485b20482af.txt:10",
    ] {
        assert!(
            !theme_of.contains_key(boilerplate),
            "{boilerplate} is boilerplate"
        );
    }

    let documents = report["documents"].as_array().unwrap();
    assert_eq!(documents.len(), 5);
    for d in documents {
        let total: f64 = d["themes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["share"].as_f64().unwrap())
            .sum();
        assert!(
            (total - 1.0).abs() < 0.01,
            "a document's mix adds up: {total}"
        );
    }
    assert_eq!(report["summary"]["k_chosen_by"], "stability");
    assert!(report["outliers"].as_array().unwrap().is_empty());
}

#[test]
fn text_markdown_and_html_reports_are_readable_and_self_contained() {
    let home = tempfile::tempdir().unwrap();
    let text = String::from_utf8(themes_cli(home.path(), &["data/nato-ukraine"]).stdout).unwrap();
    assert!(
        text.lines().all(|l| l.chars().count() <= 100),
        "fits 100 columns"
    );
    assert!(text.contains("Sources × themes") && text.contains("Documents: their mix of themes"));

    let markdown = String::from_utf8(
        themes_cli(home.path(), &["data/nato-ukraine", "--format", "markdown"]).stdout,
    )
    .unwrap();
    assert!(markdown.starts_with("# Themes") && markdown.contains("| document |"));

    let dir = tempfile::tempdir().unwrap();
    let html_path = dir.path().join("themes.html");
    let html_args = [
        "data/nato-ukraine",
        "--format",
        "html",
        "--output",
        html_path.to_str().unwrap(),
    ];
    let out = themes_cli(home.path(), &html_args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    for external in ["http://", "https://", "<script src", "<link", "src="] {
        assert!(!html.contains(external), "no external assets: {external}");
    }
    // The map: inline SVG, a mark per paragraph, and its few lines of inline script.
    assert_eq!(html.matches("<circle ").count(), 66);
    assert_eq!(html.matches("<script>").count(), 1);
    let again = themes_cli(home.path(), &html_args);
    assert_eq!(
        again.status.code(),
        Some(1),
        "an existing report is not overwritten"
    );
    assert_eq!(std::fs::read_to_string(&html_path).unwrap(), html);
    let mut forced = html_args.to_vec();
    forced.push("--force");
    let out = themes_cli(home.path(), &forced);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&html_path).unwrap(),
        html,
        "the same input and seed give the same page, map included"
    );
    for format in ["text", "markdown"] {
        let args = ["data/nato-ukraine", "--format", format];
        assert_eq!(
            themes_cli(home.path(), &args).stdout,
            themes_cli(home.path(), &args).stdout,
            "{format} is deterministic"
        );
    }
}

#[test]
fn density_method_and_bad_k_from_the_command_line() {
    let home = tempfile::tempdir().unwrap();
    let out = themes_cli(
        home.path(),
        &[
            "data/nato-ukraine",
            "--method",
            "density",
            "--format",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let in_themes: u64 = report["themes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["size"].as_u64().unwrap())
        .sum();
    assert_eq!(
        in_themes + report["outliers"].as_array().unwrap().len() as u64,
        66
    );
    assert_eq!(report["summary"]["k_chosen_by"], "density");

    for (k, message) in [
        ("0", "at least 1"),
        ("67", "more than the 66 paragraphs"),
        ("many", "not a number"),
    ] {
        let out = themes_cli(home.path(), &["data/nato-ukraine", "--k", k]);
        assert_eq!(out.status.code(), Some(2), "k = {k}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(message),
            "k = {k}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn new_paragraphs_are_placed_into_fitted_themes() {
    use themescope::corpus::{Corpus, CorpusOptions};
    let corpus = Corpus::load(
        &[project_dir().join("data/nato-ukraine")],
        CorpusOptions::default(),
    )
    .unwrap();
    let embedder = real_embedder(themescope::embed::LongText::default());
    let vectors = embedder.embed(&corpus.texts()).unwrap().vectors;
    let params = ThemeParams::new().check().unwrap();
    let model = ThemeModel::fit(vectors.view(), &corpus.texts(), &params, Some(&embedder)).unwrap();
    let theme_of = |suffix: &str| {
        let row = corpus
            .paragraphs
            .iter()
            .position(|p| p.id.ends_with(suffix))
            .unwrap();
        model
            .themes
            .iter()
            .position(|t| t.members.iter().any(|m| m.row == row))
            .unwrap()
    };
    let new = embedder
        .embed(&["Kyiv must not receive only vague security guarantees if it cannot join NATO."])
        .unwrap()
        .vectors;
    let placed = model.assign(new.view());
    assert_eq!(placed[0].theme, theme_of("001_f3dada96465da5af.txt:9"));
    assert!(placed[0].score > 0.5);
}

/// 3 groups × 2 sub-groups × 8 paragraphs: a direction per group, a second direction per
/// sub-group, and noise.
fn nested() -> (Array2<f32>, Vec<String>, Vec<(usize, usize)>) {
    let dim = 24;
    let mut seed = 5;
    let (mut rows, mut texts, mut truth) = (Vec::new(), Vec::new(), Vec::new());
    for (g, (phrase, tails)) in GROUPS.iter().enumerate() {
        for sub in 0..2 {
            for i in 0..8 {
                let mut v: Vec<f32> = (0..dim).map(|_| 0.08 * noise(&mut seed)).collect();
                v[g * 4] += 1.0;
                v[g * 4 + 1 + sub] += 0.2;
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                rows.extend(v.iter().map(|x| x / norm));
                texts.push(format!("Paragraph {i} is about {phrase}, {}.", tails[sub]));
                truth.push((g, sub));
            }
        }
    }
    (
        Array2::from_shape_vec((48, dim), rows).unwrap(),
        texts,
        truth,
    )
}

/// Themes fitted on a sample and sized on the whole: a theme's sub-themes take its size in the
/// proportions they have in its sample, however the whole differs from the sample.
#[test]
fn sub_theme_sizes_add_up_to_their_theme_over_the_whole() {
    let (vectors, texts, _) = nested();
    let params = ThemeParams::new().check().unwrap();
    let model = ThemeModel::fit(vectors.view(), &texts, &params, None).unwrap();
    let paragraphs: Vec<themescope::Paragraph> = texts
        .iter()
        .enumerate()
        .map(|(row, text)| themescope::Paragraph {
            id: format!("{}", row + 1),
            doc: "sample.jsonl".into(),
            line: row + 1,
            page: None,
            date: None,
            text: text.clone(),
            kind: themescope::corpus::ParagraphKind::Body,
        })
        .collect();
    let report = themescope::Report::new(&model, &paragraphs, 0, &params);
    let sample: Vec<usize> = report.themes.iter().map(|t| t.size).collect();
    // The whole has ten times the sample's first theme and the others as sampled, times two.
    let whole: Vec<usize> = sample
        .iter()
        .enumerate()
        .map(|(t, &n)| if t == 0 { 20 * n } else { 2 * n })
        .collect();
    let rows: usize = whole.iter().sum();
    let report = report.with_population(rows, &whole);
    for (theme, &size) in report.themes.iter().zip(&whole) {
        assert_eq!(theme.size, size);
        assert_eq!(theme.subthemes.len(), 2);
        let within: usize = theme.subthemes.iter().map(|s| s.size).sum();
        assert!(
            within.abs_diff(size) <= 1,
            "{within} in sub-themes of a theme of {size}"
        );
    }
    assert_eq!(report.summary.sample, Some(texts.len()));
}

#[test]
fn sub_themes_partition_their_theme_and_depth_one_has_none() {
    let (vectors, texts, truth) = nested();
    let params = ThemeParams::new().check().unwrap();
    let model = ThemeModel::fit(vectors.view(), &texts, &params, None).unwrap();
    assert_eq!(model.themes.len(), 3, "{:?}", model.selection);
    for theme in &model.themes {
        let groups: HashSet<usize> = theme.members.iter().map(|m| truth[m.row].0).collect();
        assert_eq!(groups.len(), 1, "a theme holds one group");
        assert_eq!(theme.subthemes.len(), 2, "{:?}", theme.split);
        for sub in &theme.subthemes {
            let parts: HashSet<(usize, usize)> = sub.members.iter().map(|m| truth[m.row]).collect();
            assert_eq!(parts.len(), 1, "a sub-theme holds one sub-group");
            assert_eq!(sub.members.len(), 8);
            assert!(sub.stability >= 0.6, "{}", sub.stability);
        }
    }
    for theme in &model.themes {
        assert!(theme.words.len() >= 3, "{:?}", theme.words);
        if theme.subthemes.is_empty() {
            continue;
        }
        assert!(theme.subthemes.len() >= 2);
        let mut rows: Vec<usize> = theme
            .subthemes
            .iter()
            .flat_map(|s| s.members.iter().map(|m| m.row))
            .collect();
        rows.sort_unstable();
        let mut own: Vec<usize> = theme.members.iter().map(|m| m.row).collect();
        own.sort_unstable();
        assert_eq!(
            rows, own,
            "sub-themes hold exactly their theme's paragraphs"
        );
        assert!(theme
            .subthemes
            .windows(2)
            .all(|w| w[0].members.len() >= w[1].members.len()));
        assert!(theme.subthemes.iter().all(|s| !s.label.is_empty()));
    }
    let flat = ThemeParams::new().depth(1).check().unwrap();
    let model = ThemeModel::fit(vectors.view(), &texts, &flat, None).unwrap();
    assert!(model.themes.iter().all(|t| t.subthemes.is_empty()));
    assert!(ThemeParams::new().depth(3).check().is_err());
}

#[test]
fn clear_groups_are_stable_and_noise_is_not() {
    let (vectors, texts, _) = generated();
    let params = ThemeParams::new()
        .count(ThemeCount::Fixed(3))
        .depth(1)
        .check()
        .unwrap();
    let model = ThemeModel::fit(vectors.view(), &texts, &params, None).unwrap();
    for theme in &model.themes {
        assert!(
            theme.stability > 0.95,
            "{}: {}",
            theme.label,
            theme.stability
        );
    }
    let again = ThemeModel::fit(vectors.view(), &texts, &params, None).unwrap();
    let stabilities = |m: &ThemeModel| m.themes.iter().map(|t| t.stability).collect::<Vec<_>>();
    assert_eq!(stabilities(&model), stabilities(&again), "seeded: the same");

    // Directions spread evenly over the sphere: four groups cut from no structure.
    let mut seed = 5;
    let dim = 8;
    let rows: Vec<f32> = (0..60)
        .flat_map(|_| {
            let v: Vec<f32> = (0..dim).map(|_| noise(&mut seed)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(move |x| x / norm)
        })
        .collect();
    let noise_vectors = Array2::from_shape_vec((60, dim), rows).unwrap();
    let noise_texts: Vec<String> = (0..60).map(|i| format!("text number {i}")).collect();
    let params = ThemeParams::new()
        .count(ThemeCount::Fixed(4))
        .depth(1)
        .check()
        .unwrap();
    let model = ThemeModel::fit(noise_vectors.view(), &noise_texts, &params, None).unwrap();
    let mean = model.themes.iter().map(|t| t.stability).sum::<f32>() / 4.0;
    assert!(mean < 0.8, "{:?}", stabilities(&model));
}

#[test]
fn an_outlier_budget_keeps_outliers_under_it() {
    let home = tempfile::tempdir().unwrap();
    let outliers = |budget: Option<&str>| {
        let mut args = vec![
            "data/nato-ukraine",
            "--method",
            "density",
            "--format",
            "json",
        ];
        if let Some(budget) = budget {
            args.extend(["--max-outliers", budget]);
        }
        let out = themes_cli(home.path(), &args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["outliers"].as_array().unwrap().len()
    };
    let free = outliers(None);
    assert!(
        free > 7,
        "without a budget the sample corpus leaves {free} out"
    );
    assert!(outliers(Some("10%")) <= 6, "10% of 66 paragraphs");
    assert!(outliers(Some("0.25")) <= 16, "25% of 66 paragraphs");
    assert_eq!(outliers(Some("0%")), 0);

    for (args, message) in [
        (vec!["--max-outliers", "10%"], "density method only"),
        (
            vec!["--method", "density", "--max-outliers", "100%"],
            "under 100%",
        ),
        (
            vec!["--method", "density", "--max-outliers", "some"],
            "such as 10%",
        ),
    ] {
        let mut all = vec!["data/nato-ukraine"];
        all.extend(args.iter().copied());
        let out = themes_cli(home.path(), &all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn the_readme_sample_report_is_the_real_output_of_its_command() {
    let home = tempfile::tempdir().unwrap();
    let out = themes_cli(home.path(), &["data/nato-ukraine"]);
    assert!(out.status.success());
    let readme = std::fs::read_to_string("README.md").unwrap();
    let start = "```text\n$ themescope themes data/nato-ukraine\n";
    let at = readme
        .find(start)
        .expect("the README shows the sample report")
        + start.len();
    let end = readme[at..].find("```\n").unwrap() + at;
    assert_eq!(
        &readme[at..end],
        String::from_utf8(out.stdout).unwrap(),
        "README's sample report differs from `themescope themes data/nato-ukraine`"
    );
}

/// Ids are unique only within a document in an on-disk index: two documents that both have a
/// paragraph "1" must each keep their own theme on the map.
#[test]
fn map_marks_take_their_row_theme_when_ids_repeat_across_documents() {
    let (vectors, texts, truth) = generated();
    let params = ThemeParams::new()
        .count(ThemeCount::Fixed(3))
        .check()
        .unwrap();
    let model = ThemeModel::fit(vectors.view(), &texts, &params, None).unwrap();
    // Twelve documents of three paragraphs each, ids "1", "2", "3" in every one.
    let paragraphs: Vec<themescope::Paragraph> = texts
        .iter()
        .enumerate()
        .map(|(row, text)| themescope::Paragraph {
            id: format!("{}", row % 3 + 1),
            doc: format!("doc{}.jsonl", row / 3),
            line: row % 3 + 1,
            page: None,
            date: None,
            text: text.clone(),
            kind: themescope::corpus::ParagraphKind::Body,
        })
        .collect();
    let rows: Vec<usize> = (0..paragraphs.len()).collect();
    let layout = ndarray::Array2::<f32>::zeros((rows.len(), 2));
    let report = themescope::Report::new(&model, &paragraphs, 0, &params).with_map(
        &rows,
        layout.view(),
        &paragraphs,
    );
    let row_theme = model.row_themes(paragraphs.len());
    for (row, point) in report.map.iter().enumerate() {
        assert_eq!(
            point.theme,
            row_theme[row].map(|t| t + 1),
            "row {row} (group {}) is marked with another row's theme",
            truth[row]
        );
    }
}

/// Embeds a phrase along its group's direction in [`generated`] when it shares a word with the
/// group's phrase, else along a direction no paragraph takes.
struct GroupPhrases;

impl themescope::themes::PhraseEmbedder for GroupPhrases {
    fn embed_phrases(
        &self,
        phrases: &[String],
    ) -> Result<Array2<f32>, themescope::embed::EmbedError> {
        let mut out = Array2::<f32>::zeros((phrases.len(), 24));
        for (i, phrase) in phrases.iter().enumerate() {
            let group = GROUPS.iter().position(|(name, _)| {
                name.split(' ')
                    .any(|w| w.len() > 3 && phrase.to_lowercase().contains(w))
            });
            out[[i, group.map_or(23, |g| g * 3)]] = 1.0;
        }
        Ok(out)
    }
}

#[test]
fn a_named_theme_gathers_its_group_and_a_foreign_name_nothing() {
    let (vectors, texts, truth) = generated();
    let params = ThemeParams::new()
        .names(["defence spending", "knitting patterns"])
        .check()
        .unwrap();
    let model = ThemeModel::fit(vectors.view(), &texts, &params, Some(&GroupPhrases)).unwrap();
    let given = &model.themes[0];
    assert!(given.given);
    assert_eq!(given.label, "defence spending");
    assert_eq!(given.members.len(), 12);
    assert!(given.members.iter().all(|m| truth[m.row] == 2));
    assert!(given.stability > 0.9, "{}", given.stability);
    assert_eq!(model.unmatched.len(), 1);
    assert_eq!(model.unmatched[0].name, "knitting patterns");
    // The other two groups are themed as without names.
    assert_eq!(model.themes.len(), 3);
    for theme in &model.themes[1..] {
        assert!(!theme.given);
        let groups: HashSet<usize> = theme.members.iter().map(|m| truth[m.row]).collect();
        assert_eq!(groups.len(), 1);
        assert_eq!(theme.members.len(), 12);
    }
    assert_eq!(model.centroids.nrows(), 3);
    // Without a model to embed the names there are no guided themes.
    assert!(matches!(
        ThemeModel::fit(vectors.view(), &texts, &params, None),
        Err(ThemeError::NamesNeedEmbedder)
    ));
}

//! Dates of articles, as a user gives them: a JSONL record's `date`, a YYYY-MM-DD in a file's
//! name, a `--dates FILE.csv` table over both; and every bad date a one-line error, exit 2,
//! nothing written. The `themescope` binary on a tiny model the test builds.

mod common;

use std::path::Path;

use common::cli::{themescope, Outcome};
use common::project_dir;
use common::tiny::{tiny_model_dir, Tiny};

const BODY: &str = "NATO allies met in Brussels to talk about the peace plan for Ukraine today.";

/// `embed --format jsonl` over `inputs` (and `extra` flags): the records' ids and dates.
fn dates_of(model: &Path, dir: &Path, args: &[&str]) -> Vec<(String, Option<String>)> {
    let home = tempfile::tempdir().unwrap();
    let out = Outcome::of(
        themescope(home.path())
            .current_dir(dir)
            .arg("--model")
            .arg(model)
            .args(["embed", "--format", "jsonl"])
            .args(args),
    )
    .ok();
    out.stdout
        .lines()
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let name = Path::new(record["doc"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let date = record.get("date").map(|d| d.as_str().unwrap().to_string());
            (format!("{name}:{}", record["line"]), date)
        })
        .collect()
}

#[test]
fn dates_come_from_records_file_names_and_a_table_over_both() {
    let model = tiny_model_dir(&Tiny::default());
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("2025-12-03-rutte.txt", &format!("{BODY}\n"));
    write(
        "briefing-2025-13-40-then-2025-02-14.md",
        &format!("{BODY}\n"),
    );
    write("undated.txt", &format!("{BODY}\n"));
    write(
        "wire.jsonl",
        &format!(
            "{{\"text\": \"{BODY}\", \"date\": \"2025-12-01T23:30:00+05:00\"}}\n\
             {{\"text\": \"{BODY}\", \"date\": null}}\n\
             {{\"text\": \"{BODY}\"}}\n"
        ),
    );
    let mut own = dates_of(model.path(), dir.path(), &["."]);
    own.sort();
    let want = |pairs: &[(&str, Option<&str>)]| -> Vec<(String, Option<String>)> {
        pairs
            .iter()
            .map(|(id, date)| (id.to_string(), date.map(str::to_string)))
            .collect()
    };
    assert_eq!(
        own,
        want(&[
            ("2025-12-03-rutte.txt:1", Some("2025-12-03")),
            (
                "briefing-2025-13-40-then-2025-02-14.md:1",
                Some("2025-02-14")
            ),
            ("undated.txt:1", None),
            ("wire.jsonl:1", Some("2025-12-01")),
            ("wire.jsonl:2", None),
            ("wire.jsonl:3", None),
        ])
    );

    // A table dates what it names, over a record's or a name's own date; paths in it are
    // taken relative to the table's folder.
    let tables = tempfile::tempdir().unwrap();
    let table = tables.path().join("dates.csv");
    std::fs::write(
        &table,
        format!(
            "path,date\n# comment\n\n{0}/undated.txt,2024-01-31\n\"{0}/wire.jsonl\",2024-02-29\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let mut given = dates_of(
        model.path(),
        dir.path(),
        &[".", "--dates", table.to_str().unwrap()],
    );
    given.sort();
    assert_eq!(
        given,
        want(&[
            ("2025-12-03-rutte.txt:1", Some("2025-12-03")),
            (
                "briefing-2025-13-40-then-2025-02-14.md:1",
                Some("2025-02-14")
            ),
            ("undated.txt:1", Some("2024-01-31")),
            ("wire.jsonl:1", Some("2024-02-29")),
            ("wire.jsonl:2", Some("2024-02-29")),
            ("wire.jsonl:3", Some("2024-02-29")),
        ])
    );
}

#[test]
fn the_sample_corpus_table_dates_every_article() {
    let model = tiny_model_dir(&Tiny::default());
    let dates = dates_of(
        model.path(),
        &project_dir(),
        &[
            "data/nato-ukraine",
            "--dates",
            "tests/fixtures/nato-ukraine-dates.csv",
        ],
    );
    assert!(dates.len() > 50, "{}", dates.len());
    for (id, date) in &dates {
        let want = match &id[..3] {
            "000" | "003" => "2025-12-03",
            "001" => "2025-12-02",
            "002" => "2025-02-14",
            "004" => "2025-02-13",
            other => panic!("unexpected document {other}"),
        };
        assert_eq!(date.as_deref(), Some(want), "{id}");
    }
}

#[test]
fn bad_dates_are_one_line_errors_with_exit_2_and_nothing_written() {
    let model = tiny_model_dir(&Tiny::default());
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), format!("{BODY}\n")).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let cases = [
        (
            write("bad-date.csv", "path,date\na.txt,03/12/2025\n"),
            None,
            vec!["bad-date.csv:2", "\"03/12/2025\" is not an ISO 8601 date"],
        ),
        (
            write("no-file.csv", "path,date\nnowhere.txt,2025-12-03\n"),
            None,
            vec!["no-file.csv:2", "nowhere.txt names no file"],
        ),
        (
            write("no-comma.csv", "a.txt 2025-12-03\n"),
            None,
            vec!["no-comma.csv:1", "is not path,date"],
        ),
        (
            write("empty.csv", "path,date\n"),
            None,
            vec!["empty.csv:1", "gives no dates"],
        ),
        (
            write("not-an-input.csv", "path,date\nbad-date.csv,2025-12-03\n"),
            None,
            vec!["not-an-input.csv:2", "is not among the inputs"],
        ),
        (
            String::new(),
            Some(write(
                "records.jsonl",
                &format!(
                    "{{\"text\": \"{BODY}\"}}\n{{\"text\": \"{BODY}\", \"date\": \"yesterday\"}}\n"
                ),
            )),
            vec![
                "records.jsonl:2",
                "\"date\" \"yesterday\" is not an ISO 8601 date",
            ],
        ),
        (
            String::new(),
            Some(write(
                "numbers.jsonl",
                &format!("{{\"text\": \"{BODY}\", \"date\": 20251203}}\n"),
            )),
            vec![
                "numbers.jsonl:1",
                "\"date\" must be a string, found a number",
            ],
        ),
    ];
    for (table, input, needles) in cases {
        let output = dir.path().join("out.npy");
        let mut cmd = themescope(home.path());
        cmd.current_dir(dir.path())
            .arg("--model")
            .arg(model.path())
            .arg("embed")
            .arg(input.as_deref().unwrap_or("a.txt"))
            .arg("--output")
            .arg(&output);
        if !table.is_empty() {
            cmd.arg("--dates").arg(&table);
        }
        Outcome::of(&mut cmd).fails(2, &needles);
        assert!(!output.exists(), "{needles:?}: nothing is written");
        assert!(!dir.path().join("out.ids.jsonl").exists());
    }
}

//! The one harness for running the `themescope` binary as a user would: a private
//! THEMESCOPE_HOME, no THEMESCOPE_MODEL from the environment, no standard input, the project
//! root as working directory; and the outcome read back as exit code and text.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::{project_dir, real_model};

/// `themescope` with its store and cache in `home`.
pub fn themescope(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_themescope"));
    cmd.current_dir(project_dir())
        .env("THEMESCOPE_HOME", home)
        .env_remove("THEMESCOPE_MODEL")
        .stdin(Stdio::null());
    cmd
}

/// `themescope --model <the real model>` with its cache in `home`.
pub fn themescope_with_real_model(home: &Path) -> Command {
    let mut cmd = themescope(home);
    cmd.arg("--model").arg(&real_model().path);
    cmd
}

/// How a run ended.
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Outcome {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// Runs `cmd` to the end.
    pub fn of(cmd: &mut Command) -> Self {
        cmd.output().expect("the themescope binary runs").into()
    }

    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "failed: {}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }

    /// Exit `code`, and the error in one line, the last on stderr (a run summary may come
    /// before it), containing every one of `needles`.
    pub fn fails(self, code: i32, needles: &[&str]) -> Self {
        assert_eq!(
            self.code,
            Some(code),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        let lines: Vec<&str> = self.stderr.trim_end().lines().collect();
        let errors: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("themescope: error: "))
            .collect();
        assert_eq!(errors.len(), 1, "one error line: {}", self.stderr);
        assert_eq!(
            Some(*errors[0]),
            lines.last().copied(),
            "nothing after the error: {}",
            self.stderr
        );
        for needle in needles {
            assert!(
                errors[0].contains(needle),
                "{needle:?} missing from: {}",
                self.stderr
            );
        }
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }

    /// The last line of stdout as JSON (what `--json` prints).
    pub fn json(&self) -> serde_json::Value {
        let last = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

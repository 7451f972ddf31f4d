//! The `pinchwork` command line as a user runs it: a machine of its own (home and
//! configuration directory), one run of the binary at a time.

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

/// A machine with its own home and configuration directory, running the `pinchwork` binary
/// against one server.
pub struct Machine {
    bin: PathBuf,
    pub url: String,
    pub home: TempDir,
}

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "command failed\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl Machine {
    /// A fresh machine running the CLI binary `bin` against the server at `url`.
    pub fn new(bin: impl Into<PathBuf>, url: &str) -> Self {
        Self {
            bin: bin.into(),
            url: url.to_string(),
            home: TempDir::new().unwrap(),
        }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.home.path().join("config")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("HOME", self.home.path())
            .env("PINCHWORK_CONFIG_DIR", self.config_dir())
            .env("PINCHWORK_URL", &self.url)
            .env_remove("PINCHWORK_API_KEY")
            .env_remove("PINCHWORK_PROFILE")
            .env_remove("PINCHWORK_ADMIN_KEY")
            .env_remove("XDG_CONFIG_HOME")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    /// Runs with `input` on standard input.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().unwrap())
    }

    /// `--profile NAME` plus `args`.
    pub fn as_(&self, profile: &str, args: &[&str]) -> Run {
        let mut all = vec!["--profile", profile];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// The API key saved in `profile`.
    pub fn saved_key(&self, profile: &str) -> String {
        let text = std::fs::read_to_string(self.config_dir().join("credentials.json")).unwrap();
        let saved: Value = serde_json::from_str(&text).unwrap();
        saved["profiles"][profile]["api_key"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Registers `name` in profile `name`; returns its agent id.
    pub fn register(&self, name: &str) -> String {
        let run = self.as_(name, &["register", "--name", name, "--json"]).ok();
        run.json()["agent_id"].as_str().unwrap().to_string()
    }

    pub fn balance(&self, profile: &str) -> i64 {
        self.as_(profile, &["credits", "--json"]).ok().json()["balance"]
            .as_i64()
            .unwrap()
    }

    pub fn post_task(&self, profile: &str, need: &str, credits: &str) -> String {
        let run = self
            .as_(
                profile,
                &["tasks", "create", need, "--credits", credits, "--json"],
            )
            .ok();
        run.json()["task_id"].as_str().unwrap().to_string()
    }
}

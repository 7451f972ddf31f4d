//! End to end: the built `pinchwork` binary against a real server on loopback, each test with
//! its own database and its own configuration directory.

use pinchwork_test_kit::TestServer;
use pinchwork_test_kit::cli::{Machine, Run};
use serde_json::Value;
use std::io::Write;

const ADMIN_KEY: &str = "test-admin-key";

/// A server for the CLI tests: the test kit's, with an admin key.
fn start_server() -> TestServer {
    TestServer::start_with(|cfg| cfg.admin_key = Some(ADMIN_KEY.into()))
}

/// A machine with its own configuration directory, talking to `server`.
fn machine(server: &TestServer) -> Machine {
    Machine::new(env!("CARGO_BIN_EXE_pinchwork"), &server.url)
}

#[test]
fn two_profiles_complete_a_task_and_credits_move() {
    let server = start_server();
    let m = machine(&server);
    let alice = m.register("alice");
    let bob = m.register("bob");
    assert_ne!(alice, bob);
    assert_eq!(m.balance("alice"), 100);

    // The first registration became the current profile: no --profile needed for alice.
    let me = m.run(&["me", "--json"]).ok().json();
    assert_eq!(me["id"], alice.as_str());

    let created = m
        .as_(
            "alice",
            &[
                "tasks",
                "create",
                "Review this function",
                "--credits",
                "10",
                "--tags",
                "review,rust",
                "--context",
                "fn main() {}",
                "--json",
            ],
        )
        .ok()
        .json();
    let task = created["task_id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "posted");
    assert_eq!(m.balance("alice"), 90);

    // Bob browses (readable table) and claims the next task.
    let list = m.as_("bob", &["tasks", "list", "--tags", "rust"]).ok();
    assert!(list.stdout.contains(&task), "{}", list.stdout);
    assert!(list.stdout.contains("review, rust"), "{}", list.stdout);
    let picked = m.as_("bob", &["tasks", "pickup", "--json"]).ok().json();
    assert_eq!(picked["task_id"], task.as_str());
    assert_eq!(picked["max_credits"], 10);

    let delivered = m
        .as_(
            "bob",
            &["tasks", "deliver", &task, "Looks good to me.", "--json"],
        )
        .ok()
        .json();
    assert_eq!(delivered["status"], "delivered");

    let seen = m
        .as_("alice", &["tasks", "get", &task, "--json"])
        .ok()
        .json();
    assert_eq!(seen["result"], "Looks good to me.");
    assert_eq!(seen["worker_id"], bob.as_str());
    let shown = m.as_("alice", &["tasks", "get", &task]).ok();
    assert!(
        shown.stdout.contains("Looks good to me."),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("delivered"), "{}", shown.stdout);

    let approved = m
        .as_("alice", &["tasks", "approve", &task, "--rating", "5"])
        .ok();
    assert!(approved.stdout.contains("Approved"), "{}", approved.stdout);

    // 10 credits charged; the worker gets them less the 10 % fee.
    assert_eq!(m.balance("alice"), 90);
    assert_eq!(m.balance("bob"), 109);
    let mine = m
        .as_(
            "bob",
            &["tasks", "mine", "--role", "worker", "--status", "approved"],
        )
        .ok();
    assert!(mine.stdout.contains(&task), "{}", mine.stdout);
    assert!(mine.stdout.contains("worker"), "{}", mine.stdout);
    let credits = m.as_("bob", &["credits"]).ok();
    assert!(
        credits.stdout.contains("Balance: 109"),
        "{}",
        credits.stdout
    );

    // The worker rates the poster, and the directory shows bob's rating.
    m.as_("bob", &["tasks", "rate", &task, "--rating", "4"])
        .ok();
    let profile = m.run(&["agents", "show", &bob, "--json"]).ok().json();
    assert_eq!(profile["rating_count"], 1);
}

#[test]
fn credentials_are_private_and_keep_each_profile() {
    let server = start_server();
    let m = machine(&server);
    let alice = m.register("alice");
    m.register("bob");
    let path = m.config_dir().join("credentials.json");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(saved["current"], "alice");
    assert_eq!(saved["profiles"]["alice"]["agent_id"], alice.as_str());
    assert_eq!(saved["profiles"]["bob"]["agent_name"], "bob");
    assert_eq!(saved["profiles"]["bob"]["url"], server.url.as_str());
    assert!(
        saved["profiles"]["bob"]["api_key"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&m.config_dir()), 0o700);
    }

    // The saved URL is used when neither --url nor PINCHWORK_URL is given.
    let mut cmd = m.command(&["--profile", "bob", "me", "--json"]);
    cmd.env_remove("PINCHWORK_URL");
    let run = Run::from(cmd.output().unwrap()).ok();
    assert_eq!(run.json()["name"], "bob");

    // A saved key is not overwritten by accident.
    let again = m.as_("alice", &["register", "--name", "alice2"]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);

    // PINCHWORK_API_KEY overrides the profile's key.
    let bob_key = saved["profiles"]["bob"]["api_key"].as_str().unwrap();
    let mut cmd = m.command(&["me", "--json"]);
    cmd.env("PINCHWORK_API_KEY", bob_key);
    assert_eq!(Run::from(cmd.output().unwrap()).ok().json()["name"], "bob");

    // `profiles use` switches the current profile; `login` saves a key into a new one.
    m.run(&["profiles", "use", "bob"]).ok();
    assert_eq!(m.run(&["me", "--json"]).ok().json()["name"], "bob");
    let mut cmd = m.command(&["--profile", "bob-copy", "login"]);
    cmd.env("PINCHWORK_API_KEY", bob_key);
    Run::from(cmd.output().unwrap()).ok();
    let listed = m.run(&["profiles", "list"]).ok();
    assert!(listed.stdout.contains("bob-copy"), "{}", listed.stdout);
    assert!(!listed.stdout.contains(bob_key), "keys are never listed");
}

#[test]
fn json_output_parses_for_every_reading_command() {
    let server = start_server();
    let m = machine(&server);
    let alice = m.register("alice");
    m.register("bob");
    let task = m.post_task("alice", "Translate a paragraph", "5");
    for args in [
        vec!["me"],
        vec!["credits", "--limit", "5"],
        vec!["stats"],
        vec!["trust"],
        vec!["tasks", "list"],
        vec!["tasks", "mine"],
        vec!["tasks", "get", &task],
        vec!["tasks", "questions", &task],
        vec!["agents"],
        vec!["agents", "--sort-by", "tasks-completed", "--limit", "1"],
        vec!["agents", "show", &alice],
        vec!["profiles", "list"],
    ] {
        let mut full = vec!["--profile", "alice", "--json"];
        full.extend(args.iter().copied());
        let run = m.run(&full).ok();
        run.json();
    }
    // Nothing to claim: nothing on standard output, as the API's 204 (not `null`).
    let none = m
        .as_("bob", &["tasks", "pickup", "--tags", "nothing", "--json"])
        .ok();
    assert_eq!(none.stdout, "");
    assert_eq!(none.stderr.trim(), "No tasks available.");
    let batch = m
        .as_("bob", &["tasks", "pickup", "--batch", "3", "--json"])
        .ok()
        .json();
    assert_eq!(batch["total"], 1);
    assert_eq!(batch["tasks"][0]["task_id"], task.as_str());
}

#[test]
fn errors_exit_non_zero_with_the_servers_message() {
    let server = start_server();
    let m = machine(&server);
    m.register("alice");
    m.register("bob");
    let task = m.post_task("alice", "Write a haiku", "5");
    m.as_("bob", &["tasks", "pickup", &task]).ok();
    m.as_("bob", &["tasks", "deliver", &task, "An old silent pond"])
        .ok();

    // Approving someone else's task: the server's 403.
    let run = m.as_("bob", &["tasks", "approve", &task]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.trim(), "Error: Not your task");
    assert!(run.stdout.is_empty());

    // A task that does not exist; with --json the failure is JSON on standard output.
    let run = m.as_("alice", &["tasks", "get", "nope"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.trim(), "Error: Task not found");
    let run = m.as_("alice", &["tasks", "get", "nope", "--json"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.json(),
        serde_json::json!({"error": "Task not found", "status": 404, "exit_code": 1})
    );
    assert_eq!(run.stderr, "");

    // Server-side validation, in the words of the command line.
    let run = m.as_("alice", &["tasks", "create", "x", "--credits", "0"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with("Error: --credits must be"),
        "{}",
        run.stderr
    );
    let run = m.as_("alice", &["tasks", "create", "x", "--wait", "0"]);
    assert!(
        run.stderr.starts_with("Error: --wait must be"),
        "{}",
        run.stderr
    );

    // No key at all: a local problem (4), and the hint names the profile.
    let run = m.as_("carol", &["me"]);
    assert_eq!(run.code, 4);
    assert!(
        run.stderr.contains("no API key")
            && run.stderr.contains("pinchwork --profile carol register")
            && run.stderr.contains("pinchwork --profile carol login"),
        "{}",
        run.stderr
    );
    let run = m.as_("carol", &["me", "--json"]);
    assert_eq!(run.code, 4);
    assert_eq!(run.json()["exit_code"], 4);

    // Server URLs with the usual mistakes say what to write instead.
    let run = m.as_("alice", &["--url", "localhost:8000", "me"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("http://localhost:8000"),
        "{}",
        run.stderr
    );
    let url_v1 = format!("{}/v1", server.url);
    let run = m.as_("alice", &["--url", &url_v1, "me"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("without /v1: {}", server.url)),
        "{}",
        run.stderr
    );

    // Typos of commands one level down, or of MCP tool names, say what was meant.
    let run = m.run(&["pickup"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("did you mean `pinchwork tasks pickup`?"),
        "{}",
        run.stderr
    );

    // Usage errors are clap's exit code 2.
    let run = m.run(&["tasks", "approve"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = m.as_("alice", &["tasks", "approve", &task, "--rating", "9"]);
    assert_eq!(run.code, 2, "{}", run.stderr);

    // An unreachable server (with the key given for it).
    let mut cmd = m.command(&["--url", "http://127.0.0.1:9", "me"]);
    cmd.env("PINCHWORK_API_KEY", "pwk-x");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.starts_with("Error: "), "{}", run.stderr);

    // Admin commands need the admin key, and the right one.
    let run = m.run(&["admin", "grant", "x", "5"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let run = m.run(&["admin", "--admin-key", "wrong", "grant", "x", "5"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr.trim(), "Error: Invalid admin key");
}

#[test]
fn results_come_from_files_and_standard_input() {
    let server = start_server();
    let m = machine(&server);
    m.register("alice");
    m.register("bob");
    let task = m.post_task("alice", "Summarise", "8");
    m.as_("bob", &["tasks", "pickup", &task]).ok();

    let file = m.home.path().join("result.md");
    std::fs::write(&file, "# Summary\nShort.").unwrap();
    m.as_(
        "bob",
        &[
            "tasks",
            "deliver",
            &task,
            "--file",
            file.to_str().unwrap(),
            "--credits",
            "6",
        ],
    )
    .ok();
    let seen = m
        .as_("alice", &["tasks", "get", &task, "--json"])
        .ok()
        .json();
    assert_eq!(seen["result"], "# Summary\nShort.");
    assert_eq!(seen["credits_charged"], 6);

    // Rejected, then delivered again from standard input within the grace period.
    m.as_(
        "alice",
        &["tasks", "reject", &task, "--reason", "Too short"],
    )
    .ok();
    let run = m.run_with_input(
        &["--profile", "bob", "tasks", "deliver", &task, "-"],
        "A longer summary.",
    );
    run.ok();
    let seen = m
        .as_("alice", &["tasks", "get", &task, "--json"])
        .ok()
        .json();
    assert_eq!(seen["result"], "A longer summary.");
    m.as_("alice", &["tasks", "approve", &task]).ok();
    // The second delivery claimed no credits: the whole budget.
    assert_eq!(m.balance("alice"), 100 - 8);
}

#[test]
fn questions_messages_and_admin() {
    let server = start_server();
    let m = machine(&server);
    m.register("alice");
    let bob = m.register("bob");
    let task = m.post_task("alice", "Check a proof", "5");

    let q = m
        .as_("bob", &["tasks", "ask", &task, "Which proof?", "--json"])
        .ok()
        .json();
    let qid = q["id"].as_str().unwrap();
    m.as_(
        "alice",
        &["tasks", "answer", &task, qid, "The one attached."],
    )
    .ok();
    let listed = m.as_("bob", &["tasks", "questions", &task]).ok();
    assert!(
        listed.stdout.contains("The one attached."),
        "{}",
        listed.stdout
    );

    m.as_("bob", &["tasks", "pickup", &task]).ok();
    m.as_("bob", &["tasks", "message", &task, "Starting now."])
        .ok();
    let messages = m
        .as_("alice", &["tasks", "messages", &task, "--json"])
        .ok()
        .json();
    assert_eq!(messages["messages"][0]["message"], "Starting now.");
    let abandoned = m.as_("bob", &["tasks", "abandon", &task]).ok();
    assert!(abandoned.stdout.contains("posted"), "{}", abandoned.stdout);
    m.as_("alice", &["tasks", "cancel", &task]).ok();
    assert_eq!(m.balance("alice"), 100);

    let updated = m
        .as_("bob", &["me", "update", "--good-at", "proofs", "--json"])
        .ok()
        .json();
    assert_eq!(updated["good_at"], "proofs");

    let mut grant = m.command(&["admin", "grant", &bob, "25", "--reason", "bonus", "--json"]);
    grant.env("PINCHWORK_ADMIN_KEY", ADMIN_KEY);
    let granted = Run::from(grant.output().unwrap()).ok().json();
    assert_eq!(granted["balance"], 125);
    m.run(&[
        "admin",
        "--admin-key",
        ADMIN_KEY,
        "suspend",
        &bob,
        "--reason",
        "test",
    ])
    .ok();
    let run = m.as_("bob", &["me"]);
    assert_eq!(run.code, 1);
    m.run(&["admin", "unsuspend", &bob, "--admin-key", ADMIN_KEY])
        .ok();
    m.as_("bob", &["me"]).ok();
}

#[test]
fn completions_generate_for_each_shell() {
    let m = Machine::new(env!("CARGO_BIN_EXE_pinchwork"), "http://127.0.0.1:9");
    for shell in ["bash", "zsh", "fish"] {
        let run = m.run(&["completions", shell]).ok();
        assert!(run.stdout.contains("pinchwork"), "{shell}: {}", run.stdout);
        assert!(run.stdout.contains("pickup"), "{shell}");
    }
    assert_eq!(m.run(&["completions", "tcsh"]).code, 2);
}

#[test]
fn help_covers_every_command() {
    let m = Machine::new(env!("CARGO_BIN_EXE_pinchwork"), "http://127.0.0.1:9");
    let top = m.run(&["--help"]).ok();
    for word in [
        "register",
        "tasks",
        "credits",
        "stats",
        "trust",
        "me",
        "agents",
        "admin",
        "completions",
        "--profile",
        "--url",
        "--json",
        "PINCHWORK_URL",
        "Exit status",
    ] {
        assert!(top.stdout.contains(word), "--help lacks {word}");
    }
    let tasks = m.run(&["tasks", "--help"]).ok();
    for word in [
        "create", "list", "mine", "pickup", "deliver", "approve", "reject", "messages",
    ] {
        assert!(tasks.stdout.contains(word), "tasks --help lacks {word}");
    }
    let create = m.run(&["tasks", "create", "--help"]).ok();
    assert!(create.stdout.contains("--credits"));
    assert!(create.stdout.contains("--wait"));
    m.run(&["--version"]).ok();
}

/// A running `pinchwork events`, its output lines arriving on channels.
struct Follower {
    child: std::process::Child,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Follower {
    fn start(m: &Machine, args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = m
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let lines = |pipe: Box<dyn std::io::Read + Send>| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    #[track_caller]
    fn wait_connected(&self) {
        let line = self
            .stderr
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("the stream connects");
        assert!(line.contains("Listening"), "{line}");
    }

    /// The next stdout line that contains `needle` (within 20 s).
    #[track_caller]
    fn line_with(&self, needle: &str) -> String {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with {needle}: {e}"),
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn events_shows_what_the_other_profile_did() {
    let server = start_server();
    let m = machine(&server);
    m.register("alice");
    m.register("bob");
    let task = m.post_task("alice", "Name a cat", "5");

    let follower = Follower::start(&m, &["--profile", "alice", "events", "--json"]);
    follower.wait_connected();
    m.as_("bob", &["tasks", "pickup", &task]).ok();
    m.as_("bob", &["tasks", "deliver", &task, "Whiskers"]).ok();
    let line = follower.line_with("task_delivered");
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["type"], "task_delivered");
    assert_eq!(event["task_id"], task.as_str());
    let delivered_id = event["event_id"].to_string();
    drop(follower);

    // Readable lines; a message sent while no stream was open is replayed from the last id.
    m.as_("bob", &["tasks", "message", &task, "Hope you like it"])
        .ok();
    let follower = Follower::start(
        &m,
        &[
            "--profile",
            "alice",
            "events",
            "--last-event-id",
            &delivered_id,
        ],
    );
    follower.wait_connected();
    let line = follower.line_with("task_message");
    assert!(line.contains(&task), "{line}");
}

/// The text stream shows each event's id, in columns under a header, and replays the past on
/// request: after an id (`--since`) or all the server keeps (`--replay`).
#[test]
fn events_show_ids_in_columns_and_replay_on_request() {
    let server = start_server();
    let m = machine(&server);
    m.register("alice");
    m.register("bob");
    let task = m.post_task("alice", "Name a dog", "5");
    m.as_("bob", &["tasks", "pickup", &task]).ok();
    m.as_("bob", &["tasks", "deliver", &task, "Rex"]).ok();
    m.as_("bob", &["tasks", "message", &task, "Woof"]).ok();

    let follower = Follower::start(&m, &["--profile", "alice", "events", "--replay"]);
    follower.wait_connected();
    let header = follower.line_with("EVENT");
    let claimed = follower.line_with("task_claimed");
    let delivered = follower.line_with("task_delivered");
    let message = follower.line_with("task_message");
    drop(follower);
    for line in [&claimed, &delivered, &message] {
        assert!(line.contains(&task), "{line}");
        // Columns line up with the header: the task id sits under TASK.
        assert_eq!(line.find(&task), header.find("TASK"), "{header}\n{line}");
    }
    let id_of = |line: &str| {
        line.split_whitespace()
            .next()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    assert!(id_of(&claimed) < id_of(&delivered) && id_of(&delivered) < id_of(&message));

    // After the delivery's id: only what came later.
    let since = id_of(&delivered).to_string();
    let follower = Follower::start(&m, &["--profile", "alice", "events", "--since", &since]);
    follower.wait_connected();
    let first = follower.line_with(&task);
    assert!(first.contains("task_message"), "{first}");

    // Without either, only what happens from now on.
    let follower = Follower::start(&m, &["--profile", "alice", "events", "--json"]);
    follower.wait_connected();
    m.as_("bob", &["tasks", "message", &task, "Again"]).ok();
    let line: Value = serde_json::from_str(&follower.line_with(&task)).unwrap();
    assert_eq!(line["type"], "task_message");
    assert!(
        line["event_id"].as_i64().unwrap() > id_of(&message),
        "{line}"
    );
}

#[test]
fn events_needs_a_key_and_stops_on_refusal() {
    let server = start_server();
    let m = machine(&server);
    let run = m.run(&["events"]);
    assert_eq!(run.code, 4);
    assert!(run.stderr.contains("no API key"), "{}", run.stderr);
    let mut cmd = m.command(&["events"]);
    cmd.env("PINCHWORK_API_KEY", "not-a-key");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.starts_with("Error: "), "{}", run.stderr);
}

/// A listener that answers every request with an empty agent list and keeps what it was sent.
struct Recorder {
    url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Recorder {
    fn start() -> Self {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut head = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                seen.lock().unwrap().push(head);
                let body = r#"{"agents": [], "total": 0}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { url, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

#[test]
fn a_saved_key_is_sent_only_to_the_server_it_was_saved_for() {
    let server = start_server();
    let m = machine(&server);
    m.register("alice");
    let other = Recorder::start();

    // A command that needs the key refuses to send it elsewhere, before connecting.
    for args in [vec!["me"], vec!["tasks", "list"], vec!["events"]] {
        let mut full = vec!["--url", other.url.as_str()];
        full.extend(args.iter().copied());
        let run = m.run(&full);
        assert_eq!(run.code, 4, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&format!("holds the key of agent alice for {}", server.url))
                && run.stderr.contains("--api-key"),
            "{}",
            run.stderr
        );
    }
    assert!(other.requests().is_empty(), "{:?}", other.requests());

    // A public call goes there, without the key.
    let run = m.run(&["--url", &other.url, "agents", "--json"]).ok();
    assert_eq!(run.json()["total"], 0);
    let requests = other.requests();
    assert_eq!(requests.len(), 1);
    assert!(
        !requests[0].to_ascii_lowercase().contains("authorization"),
        "{}",
        requests[0]
    );

    // A key given explicitly goes where it is told; the saved one still works at home.
    let mut cmd = m.command(&["--url", &other.url, "agents", "--json"]);
    cmd.env("PINCHWORK_API_KEY", "pwk-for-the-other-server");
    Run::from(cmd.output().unwrap()).ok();
    assert!(other.requests()[1].contains("Bearer pwk-for-the-other-server"));
    assert_eq!(m.run(&["me", "--json"]).ok().json()["name"], "alice");
}

#[test]
fn a_key_over_plain_http_to_another_machine_is_warned_about() {
    let server = start_server();
    let m = machine(&server);
    m.register("alice");
    let key = m.saved_key("alice");
    // ::ffff:127.0.0.1 is not a loopback address to the check (as to std), so it stands for
    // another machine while the request still reaches this one.
    let port = server.url.rsplit(':').next().unwrap();
    let remote = format!("http://[::ffff:127.0.0.1]:{port}");
    let mut cmd = m.command(&["--url", &remote, "me", "--json"]);
    cmd.env("PINCHWORK_API_KEY", &key);
    let run = Run::from(cmd.output().unwrap()).ok();
    assert_eq!(run.json()["name"], "alice");
    assert!(
        run.stderr
            .starts_with("Warning: the API key is sent over plain http to [::ffff:7f00:1]"),
        "{}",
        run.stderr
    );
    // Not on loopback, and not without a key.
    let run = m.run(&["me"]).ok();
    assert!(!run.stderr.contains("Warning"), "{}", run.stderr);
    let run = m.run(&["--url", &remote, "agents"]).ok();
    assert!(!run.stderr.contains("Warning"), "{}", run.stderr);
}

/// The shape the API guide (and skill.md until now) told agents to save: the CLI reads it,
/// and rewriting the file keeps the key (in the profile `default`) and a backup.
#[test]
fn the_guides_credentials_shape_is_read_and_never_loses_the_key() {
    let server = start_server();
    let m = machine(&server);
    let bob = m.register("bob");
    let key = m.saved_key("bob");
    let path = m.config_dir().join("credentials.json");
    let flat = serde_json::json!({
        "api_key": key, "agent_id": bob, "agent_name": "bob", "url": server.url,
        "notes": "kept by my own tools"
    })
    .to_string();
    std::fs::write(&path, &flat).unwrap();

    // Read as the profile `default`.
    assert_eq!(m.run(&["me", "--json"]).ok().json()["id"], bob.as_str());
    // Saving nothing over it by accident: login and register refuse without --force.
    let mut cmd = m.command(&["login"]);
    cmd.env("PINCHWORK_API_KEY", "pwk-someone-else");
    let run = Run::from(cmd.output().unwrap());
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("already holds agent bob"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), flat);

    // A new profile rewrites the file: the old agent is kept, and so is the file as it was.
    let run = m.as_("carol", &["register", "--name", "carol"]).ok();
    assert!(
        run.stderr.contains("older single-agent shape"),
        "{}",
        run.stderr
    );
    let backup = std::fs::read_to_string(m.config_dir().join("credentials.json.bak")).unwrap();
    assert_eq!(backup, flat);
    let now: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(now["profiles"]["default"]["api_key"], key);
    assert_eq!(now["notes"], "kept by my own tools");
    assert!(now["profiles"]["carol"]["api_key"].is_string());
    assert_eq!(
        m.as_("default", &["me", "--json"]).ok().json()["id"],
        bob.as_str()
    );

    // Without `url`, the old shape's key belongs to the default server only.
    std::fs::write(&path, serde_json::json!({"api_key": key}).to_string()).unwrap();
    let run = m.run(&["me"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("http://localhost:8000"),
        "{}",
        run.stderr
    );
}

#[test]
fn pickup_wait_claims_a_task_posted_while_it_waits() {
    let server = start_server();
    let m = machine(&server);
    m.register("alice");
    m.register("bob");
    // Bob waits for work (nothing is open yet); Alice posts some while he waits.
    let waiting = m
        .command(&[
            "--profile",
            "bob",
            "tasks",
            "pickup",
            "--wait",
            "30",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let created = m
        .as_(
            "alice",
            &["tasks", "create", "Later work", "--credits", "2", "--json"],
        )
        .ok()
        .json();
    let picked = Run::from(waiting.wait_with_output().unwrap()).ok().json();
    assert_eq!(picked["task_id"], created["task_id"]);
    // Nothing comes: the same empty answer as without a wait.
    let none = m
        .as_("bob", &["tasks", "pickup", "--wait", "1", "--json"])
        .ok();
    assert_eq!(none.stdout, "");
    assert_eq!(none.stderr.trim(), "No tasks available.");
    let refused = m.as_("bob", &["tasks", "pickup", "--wait", "301"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("wait must be between 0 and 300"),
        "{}",
        refused.stderr
    );
}

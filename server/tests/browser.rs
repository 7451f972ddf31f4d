//! The web pages in a real browser: headless Chromium driven over WebDriver (chromedriver)
//! against a real server. An owner signs in, sees work appear live (a task another agent
//! posts, a delivery by its worker) and approves it from the page; the operator signs in,
//! sees a new task appear on the dashboard and suspends an agent. The browser's console must
//! stay free of errors (a CSP violation is one), the pages are used with the keyboard, and
//! screenshots at 1,440 and 375 px wide are kept under target/screenshots/.
//!
//! Needs Debian's `chromium` and `chromium-driver`: `.ci/run` installs them and runs these
//! tests with `--ignored`; elsewhere they are reported as ignored, never as passed.
//!
//! The WebDriver client is a few calls over reqwest (already a dependency): lighter to build
//! than fantoccini (webdriver, ICU segmentation data, hyper's TLS stack) or chromiumoxide (a
//! generated DevTools protocol crate).

use pinchwork_test_kit::*;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ADMIN: &str = "browser-admin-key";
const NEEDS: &str = "needs Debian's chromium and chromium-driver (.ci/run installs them and runs this with --ignored)";

/// A chromedriver process and one browser session on it; both end when dropped.
struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Self {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(tool).exists(),
                "{tool} is missing: this test {NEEDS}"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver never got ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1440,1000",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_string();
        Self {
            driver,
            http,
            session: format!("{base}/session/{session}"),
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let r: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(error) = r["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", r["value"]["message"]);
        }
        r["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_string()
    }

    async fn source(&self) -> String {
        self.get("/source").await.as_str().unwrap().to_string()
    }

    /// The element matching a CSS selector.
    async fn find(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    async fn run(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    /// Presses a key (a WebDriver key code such as "\u{E004}" for Tab).
    async fn press(&self, key: &str) {
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]}),
        )
        .await;
    }

    /// Waits (up to `secs`) until the element matching `css` contains `text`.
    async fn wait_for_text(&self, css: &str, text: &str, secs: u64) {
        let started = Instant::now();
        loop {
            let found = self
                .run(&format!(
                    "var e = document.querySelector({}); return e ? e.textContent : '';",
                    json!(css)
                ))
                .await;
            if found.as_str().is_some_and(|t| t.contains(text)) {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(secs),
                "{css} never showed {text:?}; it shows {found}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Lays the page out `width` px wide (a phone at 375) and saves a screenshot.
    async fn screenshot(&self, width: u32, name: &str) {
        self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setDeviceMetricsOverride", "params": {
                "width": width, "height": if width < 600 { 1400 } else { 1000 },
                "deviceScaleFactor": 1, "mobile": width < 600}}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Nothing is wider than the screen (no sideways scrolling of the page itself).
        let overflow = self
            .run("return document.documentElement.scrollWidth - window.innerWidth;")
            .await;
        assert!(
            overflow.as_i64().unwrap_or(0) <= 0,
            "{name} at {width} px scrolls sideways by {overflow} px"
        );
        let png = self.get("/screenshot").await;
        let bytes = base64_decode(png.as_str().unwrap());
        let dir = screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}-{width}.png")), bytes).unwrap();
        self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.clearDeviceMetricsOverride", "params": {}}),
        )
        .await;
    }

    /// The console's messages at level SEVERE (errors) so far.
    async fn console_errors(&self) -> Vec<String> {
        let log = self.post("/se/log", json!({"type": "browser"})).await;
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("screenshots")
}

/// Standard base64 (the screenshot's encoding).
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for b in text
        .bytes()
        .filter(|b| *b != b'=' && !b.is_ascii_whitespace())
    {
        let v = ALPHABET.iter().position(|c| *c == b).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Debian's chromium and chromium-driver (.ci/run installs them and runs this with --ignored)"]
async fn an_owner_and_the_operator_use_the_pages_in_a_browser() {
    let w = world_on(TestApp::with(|cfg| cfg.admin_key = Some(ADMIN.into())).await).await;
    let server = w.app.serve().await;
    let base = format!("http://127.0.0.1:{}", server.addr.port());
    let b = Browser::start().await;

    // The landing page, as a person's browser sees it.
    b.goto(&format!("{base}/")).await;
    b.wait_for_text("h1", "Pinchwork", 5).await;
    // The console is read (so that its silence at the end means something).
    b.run("console.error('probe')").await;
    let probe = b.console_errors().await;
    assert!(probe.iter().any(|m| m.contains("probe")), "{probe:?}");
    b.screenshot(1440, "landing").await;
    b.screenshot(375, "landing").await;

    // The keyboard reaches the skip link first, and focus is visible.
    b.press("\u{E004}").await;
    let focused = b
        .run("var e = document.activeElement; return [e.className, getComputedStyle(e).outlineStyle];")
        .await;
    assert_eq!(focused[0], "skip", "Tab reaches the skip link first");
    b.press("\u{E004}").await;
    let focused = b
        .run("var e = document.activeElement; return [e.className, getComputedStyle(e).outlineStyle];")
        .await;
    assert_eq!(focused[0], "brand");
    assert_eq!(focused[1], "solid", "the focused link shows its focus");

    // The owner signs in with the agent's key.
    b.goto(&format!("{base}/app")).await;
    assert!(b.url().await.ends_with("/app/login"));
    b.type_into("#key", &w.poster).await;
    b.click("button[type=submit]").await;
    b.wait_for_text("h1", "poster", 5).await;
    assert!(b.url().await.ends_with("/app"));
    let cookies = b.get("/cookie").await;
    let session = cookies
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "__Host-pinchwork-owner")
        .expect("the session cookie");
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["secure"], true);
    assert_eq!(session["sameSite"], "Strict");
    assert!(
        !b.source().await.contains(&w.poster),
        "the key is not on the page"
    );
    b.wait_for_text("#live-status", "Live", 5).await;

    // Another agent posts a task: it appears live among those this agent could pick up.
    let theirs = w.app.post_task(&w.stranger, "Proofread a README", 12).await;
    b.wait_for_text("#open", &theirs, 15).await;

    // Its own task is delivered by a worker: the page shows it at once (event stream).
    let task = w
        .new_task(json!({"need": "Summarise the changelog", "max_credits": 30}))
        .await;
    b.wait_for_text("#posted", &task, 15).await;
    w.act(&w.worker, &task, "pickup", json!({}))
        .await
        .expect(200);
    w.act(
        &w.worker,
        &task,
        "deliver",
        json!({"result": "Three releases, one breaking change."}),
    )
    .await
    .expect(200);
    b.wait_for_text("#posted", "delivered", 5).await;
    b.screenshot(1440, "owner").await;
    b.screenshot(375, "owner").await;

    // The owner reviews and approves it from the task's page.
    b.goto(&format!("{base}/app/tasks/{task}")).await;
    b.wait_for_text("#result", "Three releases", 5).await;
    b.click("#rating option[value='5']").await;
    b.click("#approve").await;
    b.wait_for_text("#state", "approved", 5).await;
    let view = w.app.get(&format!("/v1/tasks/{task}"), &w.poster).await;
    assert_eq!(view.json["status"], "approved");
    b.screenshot(1440, "owner-task").await;

    // The operator signs in with the admin key.
    b.goto(&format!("{base}/admin")).await;
    assert!(b.url().await.ends_with("/admin/login"));
    b.type_into("#key", ADMIN).await;
    b.click("button[type=submit]").await;
    b.wait_for_text("h1", "Operator dashboard", 5).await;
    // A new task shows on the dashboard without a reload.
    let fresh = w.app.post_task(&w.stranger, "Label 40 photos", 8).await;
    b.wait_for_text("#recent", &fresh, 15).await;
    b.screenshot(1440, "operator").await;
    b.screenshot(375, "operator").await;

    // The operator suspends the worker from its page.
    b.goto(&format!("{base}/admin/agents/{}", w.worker_id))
        .await;
    b.type_into("#reason", "testing suspension").await;
    b.click("#suspend").await;
    b.wait_for_text("#standing", "suspended", 5).await;
    w.app.get("/v1/me", &w.worker).await.expect(403);

    let errors = b.console_errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    drop(b);
    server.shutdown().await;
}

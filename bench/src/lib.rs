//! What the benchmark programs share: the server as a child process on a fresh database,
//! agents, and figures read from /proc.

use pinchwork_client::types::RegisterResponse;
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registered agent.
pub struct Agent {
    pub id: String,
    pub key: String,
}

/// The server as a child process, killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub dir: PathBuf,
    pub keep: bool,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.keep {
            eprintln!("kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The release `pinchwork-server` next to this executable, or `given`.
pub fn find_server(given: Option<PathBuf>) -> Result<PathBuf, String> {
    let path = match given {
        Some(p) => p,
        None => {
            let me = std::env::current_exe().map_err(|e| format!("locating myself: {e}"))?;
            me.with_file_name(format!("pinchwork-server{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "the server binary {} is missing: build it first with\n\n    \
             cargo build --release -p pinchwork-server -p pinchwork-bench\n\n(with the same CARGO_TARGET_DIR as \
             this bench), or name it with --server-bin",
            path.display()
        ))
    }
}

pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// Starts the server on a fresh SQLite file in a new temporary directory, on a free loopback
/// port, rate limits off, with `env` on top.
pub fn start_server(
    bin: &Path,
    keep: bool,
    env: &[(&str, String)],
) -> Result<(ServerProcess, u16), String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("pinchwork-bench-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let child = Command::new(bin)
        .env(
            "PINCHWORK_DATABASE_URL",
            format!("sqlite://{}", dir.join("bench.db").display()),
        )
        .env("PINCHWORK_HOST", "127.0.0.1")
        .env("PINCHWORK_RATE_LIMITS_ENABLED", "false")
        .env("PINCHWORK_PORT", port.to_string())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    Ok((ServerProcess { child, dir, keep }, port))
}

pub async fn wait_healthy(
    client: &Client,
    base: &str,
    server: &mut ServerProcess,
) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
            return Err(format!("the server exited ({status}):\n{log}"));
        }
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the server did not answer /health within 15 s".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn register(client: &Client, base: &str, name: String) -> Result<Agent, String> {
    let resp = client
        .post(format!("{base}/v1/register"))
        .header(reqwest::header::ACCEPT, "application/json")
        .json(&json!({ "name": name }))
        .send()
        .await
        .map_err(|e| format!("register: {e}"))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| e.to_string())?;
    if status != StatusCode::CREATED {
        return Err(format!(
            "register: {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let r: RegisterResponse = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
    Ok(Agent {
        id: r.agent_id,
        key: r.api_key,
    })
}

/// A `key: value kB` line of /proc/<pid>/status, in kB.
pub fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// (name, utime + stime in ticks) from a /proc …/stat file.
pub fn stat_cpu(path: &str) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // Fields 14 and 15 of stat (1-based) are utime and stime; `rest` starts at field 3.
    let ticks = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some((name, ticks))
}

/// CPU ticks of each thread group of a process, by thread name with trailing digits dropped.
pub fn thread_cpu(pid: u32) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let path = format!("{}/stat", entry.path().display());
        if let Some((name, ticks)) = stat_cpu(&path) {
            let group = name
                .trim_end_matches(|c: char| c.is_ascii_digit())
                .to_string();
            *out.entry(group).or_default() += ticks;
        }
    }
    out
}

/// (busy, total) CPU ticks of the whole machine, from the first line of /proc/stat.
pub fn machine_cpu() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    // idle and iowait are fields 4 and 5.
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub fn ms(micros: u32) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

//! Saved credentials, shared by the `pinchwork` CLI and `pinchwork-mcp` (one module, so one
//! format): `credentials.json` in `$PINCHWORK_CONFIG_DIR`, else `$XDG_CONFIG_HOME/pinchwork`,
//! else `$HOME/.config/pinchwork`. The one documented format (README, skill.md):
//!
//! ```json
//! {"current": "default",
//!  "profiles": {"default": {"api_key": "pwk-…", "agent_id": "ag-…", "agent_name": "…",
//!                           "url": "http://localhost:8000"}}}
//! ```
//!
//! Readers also take the API guide's single-agent shape, `{"api_key", "agent_id",
//! "agent_name"}` (and `url`), as the profile `default`. Writers keep every field they do
//! not know, copy the file to `credentials.json.bak` before replacing it, and write it 0600
//! in a 0700 directory, atomically (a temporary file renamed over it). A key is sent only to
//! the server its profile names ([`Target::choose`]).

use crate::client::DEFAULT_URL;
use crate::server_url;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "credentials.json";
pub const BACKUP_NAME: &str = "credentials.json.bak";
pub const DEFAULT_PROFILE: &str = "default";

/// The fields of one profile, which are also the fields of the older single-agent shape.
const PROFILE_FIELDS: [&str; 4] = ["api_key", "agent_id", "agent_name", "url"];

/// One agent's saved identity.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// The server this agent is registered on; its key is sent nowhere else. A profile
    /// without one belongs to the default server, `http://localhost:8000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Fields this version does not know, written back as they were.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Profile {
    /// The server the profile's key belongs to.
    pub fn server(&self) -> &str {
        self.url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .unwrap_or(DEFAULT_URL)
    }

    /// Who this profile is, for messages: its name, else its id.
    pub fn who(&self) -> &str {
        self.agent_name
            .as_deref()
            .or(self.agent_id.as_deref())
            .unwrap_or("(unnamed)")
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Credentials {
    /// The profile used when `--profile` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// Fields this version does not know, written back as they were.
    #[serde(flatten)]
    pub other: Map<String, Value>,
    /// The file was in the older single-agent shape, now read as the profile `default`; the
    /// next write converts it (after a backup).
    #[serde(skip)]
    pub converted: bool,
}

impl Credentials {
    /// The profile to act as: the one asked for, else the current one, else `default`.
    pub fn profile_name(&self, asked: Option<&str>) -> String {
        asked
            .or(self.current.as_deref())
            .unwrap_or(DEFAULT_PROFILE)
            .to_string()
    }

    /// Saves `agent` as the profile `name`, keeping the fields of an earlier profile of that
    /// name that this version does not know; the first profile saved becomes the current one.
    pub fn put_profile(&mut self, name: &str, mut agent: Profile) {
        if let Some(old) = self.profiles.remove(name) {
            let mut other = old.other;
            other.append(&mut agent.other);
            agent.other = other;
        }
        self.profiles.insert(name.into(), agent);
        if self.current.is_none() {
            self.current = Some(name.into());
        }
    }

    /// Parses the file's text, in the documented format or the older single-agent shape.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut creds: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let flat = PROFILE_FIELDS.iter().any(|f| creds.other.contains_key(*f));
        if flat && !creds.profiles.contains_key(DEFAULT_PROFILE) {
            let mut fields = Map::new();
            for f in PROFILE_FIELDS {
                if let Some(value) = creds.other.remove(f) {
                    fields.insert(f.into(), value);
                }
            }
            let profile = serde_json::from_value(Value::Object(fields))
                .map_err(|e| format!("the single-agent fields: {e}"))?;
            creds.profiles.insert(DEFAULT_PROFILE.into(), profile);
            creds.converted = true;
        }
        Ok(creds)
    }
}

/// Which server to call and which key to send there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub api_key: Option<String>,
    /// Why the profile's key is not sent (it belongs to another server), when that is so.
    pub withheld: Option<String>,
}

impl Target {
    /// The server: `url` (a flag or the environment), else the profile's, else the default.
    /// The key: `key` (given explicitly), else the profile's only when the server is the one
    /// the profile was saved for, so a saved key never goes to a server named elsewhere.
    pub fn choose(
        profile_name: &str,
        saved: Option<&Profile>,
        url: Option<&str>,
        key: Option<&str>,
    ) -> Self {
        let given = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(String::from);
        let url = given(url)
            .or_else(|| saved.and_then(|p| given(p.url.as_deref())))
            .unwrap_or_else(|| DEFAULT_URL.into());
        if let Some(key) = given(key) {
            return Self {
                url,
                api_key: Some(key),
                withheld: None,
            };
        }
        let Some((profile, key)) = saved.and_then(|p| Some((p, given(p.api_key.as_deref())?)))
        else {
            return Self {
                url,
                api_key: None,
                withheld: None,
            };
        };
        if server_url::same_server(profile.server(), &url) {
            return Self {
                url,
                api_key: Some(key),
                withheld: None,
            };
        }
        let withheld = format!(
            "profile '{profile_name}' holds the key of agent {} for {}, and it is not sent to \
             another server ({url}): give the key for {url} explicitly (--api-key or \
             PINCHWORK_API_KEY), or use a profile saved for it (--profile NAME or \
             PINCHWORK_PROFILE)",
            profile.who(),
            profile.server(),
        );
        Self {
            url,
            api_key: None,
            withheld: Some(withheld),
        }
    }
}

/// The directory holding the credentials file.
pub fn config_dir() -> Result<PathBuf, String> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("PINCHWORK_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = var("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(dir).join("pinchwork"));
    }
    match var("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".config").join("pinchwork")),
        None => {
            Err("cannot find the configuration directory: set HOME or PINCHWORK_CONFIG_DIR".into())
        }
    }
}

/// Reads the credentials (empty when the file does not exist yet). A file that cannot be
/// read is an error, never an empty list that a write would then replace.
pub fn load(dir: &Path) -> Result<Credentials, String> {
    let path = dir.join(FILE_NAME);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Credentials::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    warn_if_readable_by_others(&path);
    Credentials::parse(&text).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Writes the credentials: directory 0700, file 0600, the previous file first copied to
/// `credentials.json.bak`, then the new one renamed over it.
pub fn save(dir: &Path, creds: &Credentials) -> Result<PathBuf, String> {
    let fail = |what: &Path, e: io::Error| format!("cannot write {}: {e}", what.display());
    create_private_dir(dir).map_err(|e| fail(dir, e))?;
    let path = dir.join(FILE_NAME);
    match fs::read(&path) {
        Ok(previous) => {
            let backup = dir.join(BACKUP_NAME);
            write_private(dir, &backup, &previous).map_err(|e| fail(&backup, e))?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(&path, e)),
    }
    let mut text = serde_json::to_string_pretty(creds).expect("credentials serialize");
    text.push('\n');
    write_private(dir, &path, text.as_bytes()).map_err(|e| fail(&path, e))?;
    Ok(path)
}

/// Replaces `path` with `bytes` atomically, mode 0600.
fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = open_private(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> io::Result<fs::File> {
    fs::File::create(path)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "Warning: {} is readable by other users; run `chmod 600` on it",
            path.display()
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested").join("pinchwork");
        assert!(load(&dir).unwrap().profiles.is_empty());
        let mut creds = Credentials::default();
        creds.profiles.insert(
            "alice".into(),
            Profile {
                api_key: Some("pwk_1".into()),
                ..Default::default()
            },
        );
        let path = save(&dir, &creds).unwrap();
        let back = load(&dir).unwrap();
        assert_eq!(back.profiles["alice"].api_key.as_deref(), Some("pwk_1"));
        assert_eq!(back.profile_name(None), DEFAULT_PROFILE);
        assert_eq!(back.profile_name(Some("alice")), "alice");
        save(&dir, &back).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir.join(BACKUP_NAME)), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
    }

    #[test]
    fn a_damaged_file_is_an_error_not_an_empty_profile_list() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(FILE_NAME), "{not json").unwrap();
        assert!(load(tmp.path()).is_err());
        fs::write(tmp.path().join(FILE_NAME), r#"{"api_key": 5}"#).unwrap();
        assert!(load(tmp.path()).is_err());
    }

    /// The shape the API guide and the old skill.md recipe told agents to write.
    #[test]
    fn the_guides_single_agent_shape_is_the_default_profile() {
        let creds = Credentials::parse(
            r#"{"api_key": "pwk-old", "agent_id": "ag-old", "agent_name": "old-agent"}"#,
        )
        .unwrap();
        assert!(creds.converted);
        let default = &creds.profiles[DEFAULT_PROFILE];
        assert_eq!(default.api_key.as_deref(), Some("pwk-old"));
        assert_eq!(default.who(), "old-agent");
        assert_eq!(default.server(), DEFAULT_URL);
        assert_eq!(creds.profile_name(None), DEFAULT_PROFILE);
        assert!(creds.other.is_empty());
    }

    #[test]
    fn writers_keep_what_they_do_not_know_and_back_up_the_previous_file() {
        let tmp = tempfile::tempdir().unwrap();
        let original = json!({
            "api_key": "pwk-old", "agent_id": "ag-old", "agent_name": "old-agent",
            "state_file": "~/.config/pinchwork/state.json",
            "profiles": {"work": {"api_key": "pwk-w", "url": "https://pinchwork.example",
                                  "note": {"team": "blue"}}},
            "format_version": 2
        })
        .to_string();
        fs::write(tmp.path().join(FILE_NAME), &original).unwrap();
        let mut creds = load(tmp.path()).unwrap();
        creds.profiles.insert(
            "new".into(),
            Profile {
                api_key: Some("pwk-new".into()),
                ..Default::default()
            },
        );
        save(tmp.path(), &creds).unwrap();

        let backup = fs::read_to_string(tmp.path().join(BACKUP_NAME)).unwrap();
        assert_eq!(backup, original, "the file as it was before the rewrite");
        let written: Value =
            serde_json::from_str(&fs::read_to_string(tmp.path().join(FILE_NAME)).unwrap()).unwrap();
        assert_eq!(written["profiles"]["default"]["api_key"], "pwk-old");
        assert_eq!(written["profiles"]["default"]["agent_name"], "old-agent");
        assert_eq!(written["profiles"]["work"]["api_key"], "pwk-w");
        assert_eq!(written["profiles"]["work"]["note"], json!({"team": "blue"}));
        assert_eq!(written["profiles"]["new"]["api_key"], "pwk-new");
        assert_eq!(written["state_file"], "~/.config/pinchwork/state.json");
        assert_eq!(written["format_version"], 2);
        assert!(written.get("api_key").is_none(), "moved into the profile");
    }

    #[test]
    fn a_saved_key_goes_only_to_the_server_it_was_saved_for() {
        let saved = Profile {
            api_key: Some("pwk-a".into()),
            agent_name: Some("alice".into()),
            url: Some("https://a.example".into()),
            ..Default::default()
        };
        let t = Target::choose("p", Some(&saved), None, None);
        assert_eq!(
            (t.url.as_str(), t.api_key.as_deref()),
            ("https://a.example", Some("pwk-a"))
        );
        let t = Target::choose("p", Some(&saved), Some("https://a.example/"), None);
        assert_eq!(t.api_key.as_deref(), Some("pwk-a"));

        let t = Target::choose("p", Some(&saved), Some("https://evil.example"), None);
        assert_eq!(t.url, "https://evil.example");
        assert_eq!(t.api_key, None);
        let why = t.withheld.unwrap();
        assert!(
            why.contains("https://a.example") && why.contains("--api-key"),
            "{why}"
        );

        // An explicit key goes where it is told.
        let t = Target::choose("p", Some(&saved), Some("https://b.example"), Some("pwk-b"));
        assert_eq!(t.api_key.as_deref(), Some("pwk-b"));
        assert_eq!(t.withheld, None);

        // A profile saved without a server belongs to the default one.
        let old = Profile {
            api_key: Some("pwk-old".into()),
            ..Default::default()
        };
        let t = Target::choose("default", Some(&old), None, None);
        assert_eq!(
            (t.url.as_str(), t.api_key.as_deref()),
            (DEFAULT_URL, Some("pwk-old"))
        );
        let t = Target::choose("default", Some(&old), Some("https://pinchwork.dev"), None);
        assert_eq!(t.api_key, None);
        assert!(t.withheld.is_some());

        let t = Target::choose("none", None, None, None);
        assert_eq!(
            (t.url.as_str(), t.api_key, t.withheld),
            (DEFAULT_URL, None, None)
        );
    }
}

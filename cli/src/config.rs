//! Saved credentials: `credentials.json` in `$PINCHWORK_CONFIG_DIR`, else
//! `$XDG_CONFIG_HOME/pinchwork`, else `$HOME/.config/pinchwork`. The file is written 0600 in
//! a 0700 directory, atomically (a temporary file renamed over it).
//!
//! ```json
//! {"current": "default",
//!  "profiles": {"default": {"api_key": "…", "agent_id": "…", "agent_name": "…", "url": "…"}}}
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "credentials.json";
pub const DEFAULT_PROFILE: &str = "default";

/// One agent's saved identity.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// The server this agent is registered on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Credentials {
    /// The profile used when `--profile` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

impl Credentials {
    /// The profile to act as: the one asked for, else the current one, else `default`.
    pub fn profile_name(&self, asked: Option<&str>) -> String {
        asked
            .or(self.current.as_deref())
            .unwrap_or(DEFAULT_PROFILE)
            .to_string()
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

/// Reads the credentials (empty when the file does not exist yet).
pub fn load(dir: &Path) -> Result<Credentials, String> {
    let path = dir.join(FILE_NAME);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Credentials::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    warn_if_readable_by_others(&path);
    serde_json::from_str(&text).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Writes the credentials: directory 0700, file 0600, replaced atomically.
pub fn save(dir: &Path, creds: &Credentials) -> Result<PathBuf, String> {
    let fail = |what: &Path, e: io::Error| format!("cannot write {}: {e}", what.display());
    create_private_dir(dir).map_err(|e| fail(dir, e))?;
    let path = dir.join(FILE_NAME);
    let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    let mut text = serde_json::to_string_pretty(creds).expect("credentials serialize");
    text.push('\n');
    let written = open_private(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(fail(&path, e));
    }
    Ok(path)
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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
    }

    #[test]
    fn a_damaged_file_is_an_error_not_an_empty_profile_list() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(FILE_NAME), "{not json").unwrap();
        assert!(load(tmp.path()).is_err());
    }
}

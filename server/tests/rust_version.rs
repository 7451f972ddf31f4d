//! The declared minimum Rust version (`rust-version` in the workspace's Cargo.toml, stated in
//! the README) is at least what every locked dependency declares, read from `cargo metadata`:
//! only one toolchain exists where CI runs, so the minimum is checked from what the
//! dependencies say rather than by building with an older compiler.

use serde_json::Value;
use std::process::Command;

/// `1.89` or `1.89.0` as comparable numbers.
fn version(text: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = text
        .split('.')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("bad version {text:?}")))
        .collect();
    parts.resize(3, 0);
    parts
}

#[test]
fn rust_version_covers_every_locked_dependency_and_the_readme_states_it() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let packages = metadata["packages"].as_array().unwrap();
    let declared: Vec<&str> = packages
        .iter()
        .filter(|p| members.contains(&p["id"].as_str().unwrap()))
        .map(|p| {
            p["rust_version"]
                .as_str()
                .expect("every member declares it")
        })
        .collect();
    let ours = declared[0];
    assert!(declared.iter().all(|v| *v == ours), "{declared:?}");
    let too_new: Vec<String> = packages
        .iter()
        .filter(|p| !members.contains(&p["id"].as_str().unwrap()))
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            (version(needs) > version(ours))
                .then(|| format!("{} {} needs {needs}", p["name"], p["version"]))
        })
        .collect();
    assert!(
        too_new.is_empty(),
        "rust-version = {ours:?} is older than what these need: {too_new:?}"
    );

    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    assert!(
        readme.contains(&format!("Rust {ours} or newer")),
        "the README states the minimum Rust version ({ours})"
    );
}

//! The workspace's binaries, for tests outside the package that builds them (a package's own
//! tests use `env!("CARGO_BIN_EXE_…")` instead).

use std::path::PathBuf;

/// The binary `name` of this workspace, from the target directory the running test was built
/// in. `cargo test --workspace` builds every binary before it runs any test; a focused run
/// must build them first, and is told so.
pub fn workspace_bin(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test knows where it is");
    // target/<profile>/deps/<test>-<hash>: the binaries are in target/<profile>.
    let profile_dir = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test runs from target/<profile>/deps");
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing: run the whole suite (cargo test --workspace), or build the binaries \
         first (cargo build -p pinchwork-cli -p pinchwork-mcp)",
        bin.display()
    );
    bin
}

//! The layers point one way: model ← store ← market ← surfaces (api, web, a2a) and the services
//! beside them. The store names nothing above the model, and the rules name neither HTTP nor
//! SQL nor the surfaces' error. Read from the source, so a stray `use` fails here.

use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// Lines of the Rust files under `src/<module>` (and `src/<module>.rs`) naming any of `banned`
/// outside comments.
fn offending(module: &str, banned: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = sources(&src.join(module));
    let flat = src.join(format!("{module}.rs"));
    if flat.exists() {
        files.push(flat);
    }
    assert!(!files.is_empty(), "no sources for {module}");
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if let Some(name) = banned.iter().find(|b| code.contains(*b)) {
                out.push(format!("{}:{}: {name}", file.display(), n + 1));
            }
        }
    }
    out
}

/// The surfaces and the services of the app beside them: above both the store and the rules.
const ABOVE_THE_RULES: &[&str] = &[
    "crate::api",
    "crate::app",
    "crate::web",
    "crate::a2a",
    "crate::events",
    "crate::webhooks",
    "crate::scheduler",
    "crate::error",
];

#[test]
fn the_store_names_nothing_above_the_model() {
    let banned = [
        ABOVE_THE_RULES,
        &["crate::market", "pinchwork_client::types::StatsResponse"],
    ]
    .concat();
    let found = offending("store", &banned);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_rules_name_neither_http_nor_sql_nor_the_surfaces() {
    let banned = [
        ABOVE_THE_RULES,
        &["axum", "StatusCode", "rusqlite", "postgres::"],
    ]
    .concat();
    let found = offending("market", &banned);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

//! The dependency directions ARCHITECTURE.md draws, checked: between the workspace's crates
//! (from their manifests) and between the server's modules (from their `crate::` paths).
//! A new upward import fails here; so does an allowed exception that no longer occurs (then
//! remove it from `KNOWN_UPWARD`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---------------------------------------------------------------------------------------------
// Crates

/// Each member's allowed workspace dependencies (normal ones; dev-dependencies are free).
const CRATES: &[(&str, &[&str])] = &[
    ("api", &[]),
    ("client", &["pinchwork-api"]),
    ("cli", &["pinchwork-api", "pinchwork-client"]),
    ("mcp", &["pinchwork-api", "pinchwork-client"]),
    (
        "server",
        &["pinchwork-api", "pinchwork-client", "pinchwork-mcp"],
    ),
    (
        "test-kit",
        &["pinchwork-client", "pinchwork-mcp", "pinchwork-server"],
    ),
    ("tests", &["pinchwork-test-kit"]),
    (
        "bench",
        &["pinchwork-client", "pinchwork-mcp", "pinchwork-server"],
    ),
];

/// The `pinchwork-*` names in the `[dependencies]` table of a manifest.
fn workspace_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut section = "";
    let mut found = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section == "[dependencies]"
            && let Some(name) = line.split(['=', '.', ' ']).next()
            && name.starts_with("pinchwork-")
        {
            found.insert(name.to_string());
        }
    }
    found
}

#[test]
fn crates_depend_only_downwards() {
    let members: BTreeSet<&str> = CRATES.iter().map(|(dir, _)| *dir).collect();
    let root = std::fs::read_to_string(workspace().join("Cargo.toml")).unwrap();
    for dir in &members {
        assert!(
            root.contains(&format!("\"{dir}\"")),
            "{dir} is not a workspace member"
        );
    }
    for (dir, allowed) in CRATES {
        let manifest = std::fs::read_to_string(workspace().join(dir).join("Cargo.toml")).unwrap();
        let allowed: BTreeSet<String> = allowed.iter().map(|s| s.to_string()).collect();
        let extra: Vec<_> = workspace_dependencies(&manifest)
            .difference(&allowed)
            .cloned()
            .collect();
        assert!(
            extra.is_empty(),
            "{dir} depends on {extra:?}: against ARCHITECTURE.md's crate map"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The server's modules

/// The server's top-level modules, lowest layer first. A module may use its own layer and
/// the layers below it.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &["model", "ids", "time", "config"]),
    ("store", &["store"]),
    ("market", &["market"]),
    // `error` is the app's error (services and surfaces): the market's and the store's errors
    // mapped to HTTP statuses.
    ("services", &["events", "webhooks", "scheduler", "error"]),
    ("surfaces", &["api", "a2a", "web"]),
    ("app", &["app", "serve"]),
];

/// The shared state the composition root hands to every service and surface: the one item of
/// `app` they may name.
const HANDED_DOWN: &str = "app::AppState";

/// Upward imports that exist today, each with who removes it. Keep this list short and dated.
const KNOWN_UPWARD: &[(&str, &str, &str)] = &[];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, mods)| mods.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under src/: `store/sqlite.rs` → [store, sqlite].
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The crate paths a file names, as `top::next` (or just `top`), with `super::` resolved.
fn named_paths(source: &str, module: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let at_word = i == 0 || !is_ident(bytes[i - 1]);
        let rest = &code[i..];
        let (base, skip): (Vec<String>, usize) = if at_word && rest.starts_with("crate::") {
            (Vec::new(), "crate::".len())
        } else if at_word && rest.starts_with("super::") {
            // super:: as many times as written, from the file's own module.
            let mut up = 0;
            let mut j = 0;
            while code[i + j..].starts_with("super::") {
                up += 1;
                j += "super::".len();
            }
            // A file's module is `module`; its items live in it, so super:: is its parent.
            let keep = module.len().saturating_sub(up);
            (module[..keep].to_vec(), j)
        } else {
            i += 1;
            continue;
        };
        i += skip;
        for tail in path_tails(&code[i..]) {
            let mut full = base.clone();
            full.extend(tail);
            if let Some(top) = full.first() {
                let named = match full.get(1) {
                    Some(next) => format!("{top}::{next}"),
                    None => top.clone(),
                };
                found.insert(named);
            }
        }
    }
    found
}

/// The paths after `crate::`: one path, or each of a `{a, b::c}` group (first two segments).
fn path_tails(text: &str) -> Vec<Vec<String>> {
    // `a::b::c` → [a, b]; stops at the first character that does not continue the path.
    let segments = |s: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = s.trim_start();
        while out.len() < 2 {
            let ident: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if ident.is_empty() {
                break;
            }
            rest = &rest[ident.len()..];
            out.push(ident);
            match rest.strip_prefix("::") {
                Some(next) => rest = next,
                None => break,
            }
        }
        out
    };
    if let Some(group) = text.strip_prefix('{') {
        let mut depth = 0;
        let mut end = group.len();
        for (k, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    end = k;
                    break;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        let inner = &group[..end];
        let mut out = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(segments(&inner[start..k]));
                    start = k + 1;
                }
                _ => {}
            }
        }
        out.push(segments(&inner[start..]));
        out.into_iter().filter(|s| !s.is_empty()).collect()
    } else {
        vec![segments(text)]
    }
}

/// Every (importing module, imported module) pair across the server's top-level modules,
/// with the items named.
fn server_imports() -> BTreeMap<(String, String), BTreeSet<String>> {
    let src = workspace().join("server/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = module_path(relative);
        let from = module[0].clone();
        if from == "lib" || from == "main" || from == "bin" {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for named in named_paths(&source, &module) {
            let to = named.split("::").next().unwrap().to_string();
            if to != from && to != "self" {
                edges.entry((from.clone(), to)).or_default().insert(named);
            }
        }
    }
    edges
}

#[test]
fn server_modules_import_only_their_layer_and_below() {
    let edges = server_imports();
    let mut upward = BTreeMap::new();
    for ((from, to), named) in &edges {
        let from_layer = layer_of(from)
            .unwrap_or_else(|| panic!("server/src/{from} is in no layer of ARCHITECTURE.md"));
        let Some(to_layer) = layer_of(to) else {
            continue; // not a top-level module (an external crate's path)
        };
        let handed_down = named.iter().all(|n| n == HANDED_DOWN);
        if to_layer > from_layer && !handed_down {
            upward.insert((from.as_str(), to.as_str()), named);
        }
    }
    let mut unexpected = Vec::new();
    for ((from, to), named) in &upward {
        if !KNOWN_UPWARD.iter().any(|(f, t, _)| f == from && t == to) {
            unexpected.push(format!("{from} → {to} ({named:?})"));
        }
    }
    assert!(
        unexpected.is_empty(),
        "modules importing a layer above their own (see ARCHITECTURE.md):\n{}",
        unexpected.join("\n")
    );
    let gone: Vec<_> = KNOWN_UPWARD
        .iter()
        .filter(|(f, t, _)| !upward.contains_key(&(*f, *t)))
        .map(|(f, t, why)| format!("{f} → {t} ({why})"))
        .collect();
    assert!(
        gone.is_empty(),
        "these known upward imports are gone: remove them from KNOWN_UPWARD:\n{}",
        gone.join("\n")
    );
}

/// The rules name neither HTTP nor SQL nor a driver (outside comments): the market stays
/// free of how it is reached and where it is kept.
#[test]
fn the_rules_name_neither_http_nor_sql() {
    const BANNED: &[&str] = &[
        "axum",
        "StatusCode",
        "hyper",
        "rusqlite",
        "postgres::",
        "sqlx",
    ];
    let src = workspace().join("server/src");
    let mut files = Vec::new();
    rust_files(&src.join("market"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if let Some(name) = BANNED.iter().find(|b| code.contains(*b)) {
                found.push(format!("{}:{}: {name}", file.display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn the_checker_sees_grouped_nested_and_relative_paths() {
    let module = vec!["store".to_string(), "sqlite".to_string()];
    let found = named_paths(
        "use crate::{market::{self, Ctx}, model::Task};\n\
         use super::super::events::Bus;\n\
         use super::rows;\n\
         use crate::ids;\nuse crate::config::Config;\n\
         // use crate::app::Nothing;\n\
         fn f() { crate::time::rfc3339(0); }",
        &module,
    );
    let expected: BTreeSet<String> = [
        "market",
        "model::Task",
        "events::Bus",
        "store::rows",
        "ids",
        "config::Config",
        "time::rfc3339",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(found, expected);
}

//! The crate boundaries of DESIGN.md, checked from `cargo metadata`: each workspace crate
//! may depend only on the workspace crates listed for it, and `schemas` stays pure.

// A panic in a test is a failed test, not a crashed gateway.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Each workspace crate and the workspace crates it may depend on (normal dependencies).
/// `proxy` and `recorder` will meet only through `eventlog` and `schemas`; `query` and
/// `replay-ui` will never reach into `proxy`.
const ALLOWED: &[(&str, &[&str])] = &[
    ("schemas", &[]),
    ("eventlog", &["schemas"]),
    ("proxy", &["schemas", "eventlog"]),
    ("testkit", &[]),
    ("recorder", &["schemas", "eventlog"]),
    ("query", &["schemas"]),
    (
        "blastwall",
        &["schemas", "eventlog", "proxy", "recorder", "query"],
    ),
];

/// Crates that would bring I/O or an async runtime into the pure event model.
const IMPURE: &[&str] = &["tokio", "rdkafka", "async-trait", "reqwest", "hyper"];

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metadata json")
}

/// Workspace crate → its normal (non-dev) dependencies.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let metadata = metadata();
    let packages = metadata["packages"].as_array().expect("packages");
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().expect("name").to_owned())
                .collect();
            (p["name"].as_str().expect("name").to_owned(), deps)
        })
        .collect()
}

#[test]
fn workspace_crates_depend_only_on_what_the_design_allows() {
    let deps = dependencies();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    for (name, uses) in &deps {
        let Some(permitted) = allowed.get(name.as_str()) else {
            panic!("crate {name} is not in the architecture table of tests/architecture.rs");
        };
        for dep in uses.iter().filter(|d| allowed.contains_key(d.as_str())) {
            assert!(
                permitted.contains(&dep.as_str()),
                "{name} must not depend on {dep}"
            );
        }
    }
}

#[test]
fn schemas_stays_pure() {
    let deps = dependencies();
    let schemas = deps.get("schemas").expect("schemas crate");
    for impure in IMPURE {
        assert!(
            !schemas.contains(*impure),
            "schemas must not depend on {impure}"
        );
    }
}

//! The crate's modules form a DAG: the crate docs list them in an order, and each module
//! refers only to modules listed before it, so none imports one that imports it back.
// Tests may unwrap: a panic here is a failed assertion (see clippy.toml), and helpers
// outside #[test] functions are not covered by that setting.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The order the crate docs give, from the paragraph that starts with `Modules,`.
fn documented_order() -> Vec<String> {
    let lib = fs::read_to_string(src().join("lib.rs")).unwrap();
    let docs: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join(" ");
    let start = docs
        .find("Modules,")
        .expect("a `Modules,` paragraph in the crate docs");
    let end = start + docs[start..].find('.').unwrap();
    docs[start..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every module named after `crate::` in the code of a source file. Comments are left out:
/// a doc link is not an import.
fn referenced_modules(text: &str, modules: &[String]) -> Vec<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .flat_map(|line| {
            line.match_indices("crate::").map(move |(i, m)| {
                line[i + m.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect::<String>()
            })
        })
        .filter(|name| modules.contains(name))
        .collect()
}

#[test]
fn every_module_refers_only_to_modules_listed_before_it() {
    let order = documented_order();
    assert!(order.len() > 10, "{order:?}");
    for (i, module) in order.iter().enumerate() {
        let text = fs::read_to_string(src().join(format!("{module}.rs"))).unwrap();
        for used in referenced_modules(&text, &order) {
            let j = order.iter().position(|m| *m == used).unwrap();
            assert!(j < i, "{module} refers to {used}, listed after it");
        }
    }
}

#[test]
fn every_module_is_in_the_documented_order() {
    let order = documented_order();
    for entry in fs::read_dir(src()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(module) = name.strip_suffix(".rs") else {
            panic!("{name}: one file per module keeps the graph checkable");
        };
        if module != "lib" {
            assert!(order.iter().any(|m| m == module), "{module} is not listed");
        }
    }
}

//! The README documents the JSON documents as a contract, with an example of each: the
//! examples parse into the very types the binary prints (unknown fields refused) and write back
//! unchanged, so the documentation cannot drift from the schema.

mod common;

use common::schema::{PlanReport, StatusReport};
use serde_json::Value;

/// The ```json blocks of the README marked `<!-- schema: NAME -->`, as (NAME, text).
fn examples() -> Vec<(String, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out = Vec::new();
    let mut rest = readme.as_str();
    while let Some(i) = rest.find("<!-- schema: ") {
        let tail = &rest[i + "<!-- schema: ".len()..];
        let name = tail[..tail.find(" -->").unwrap()].to_string();
        let start = tail.find("```json\n").unwrap() + "```json\n".len();
        let end = start + tail[start..].find("```").unwrap();
        out.push((name, tail[start..end].to_string()));
        rest = &tail[end..];
    }
    out
}

fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(name: &str, text: &str) {
    let original: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("README {name} example: {e}"));
    let typed: T = serde_json::from_value(original.clone())
        .unwrap_or_else(|e| panic!("README {name} example does not fit the schema: {e}"));
    assert_eq!(serde_json::to_value(typed).unwrap(), original, "{name}");
}

#[test]
fn the_readme_examples_are_documents_of_the_schema() {
    let ex = examples();
    let names: Vec<&str> = ex.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["PlanReport", "StatusReport"]);
    for (name, text) in &ex {
        match name.as_str() {
            "PlanReport" => round_trips::<PlanReport>(name, text),
            "StatusReport" => round_trips::<StatusReport>(name, text),
            other => panic!("unknown schema {other}"),
        }
    }
    // A field the schema does not know is refused, not ignored.
    let (_, plan) = &ex[0];
    let mut v: Value = serde_json::from_str(plan).unwrap();
    v["upgrades"][0]["surprise"] = Value::Bool(true);
    assert!(serde_json::from_value::<PlanReport>(v).is_err());
}

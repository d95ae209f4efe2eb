//! `switchyard config`: every setting, its value, and where the value came from; then the
//! obsolete variables that are set and ignored.

use crate::config::Config;

pub(super) fn run(cfg: &Config, json: bool) -> anyhow::Result<i32> {
    if json {
        let out = serde_json::json!({
            "file": cfg.file.as_ref().map(|p| p.display().to_string()),
            "settings": cfg.entries,
            "ignored": cfg.ignored,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    match &cfg.file {
        Some(p) => println!("config file: {}", p.display()),
        None => println!("config file: none"),
    }
    let width = cfg
        .entries
        .iter()
        .map(|e| e.key.len())
        .chain(cfg.ignored.iter().map(|i| i.key.len()))
        .max()
        .unwrap_or(0);
    for e in &cfg.entries {
        let value = if e.value.is_empty() {
            "(unset)"
        } else {
            e.value.as_str()
        };
        println!("{:width$}  {}  [{}]", e.key, value, e.source);
    }
    for i in &cfg.ignored {
        println!(
            "{:width$}  {}  [{}] ignored (obsolete): {}",
            i.key, i.value, i.source, i.why
        );
    }
    Ok(0)
}

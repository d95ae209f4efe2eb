//! The node's own configuration files (`config/config.toml`, `config/app.toml`), read as
//! untrusted input: a FIFO or device there is refused, at most 4 MiB are read, and a file that is
//! not TOML is an error naming the file. [`crate::resolve_endpoints`] takes the addresses from
//! them; [`app_halt`] the operator's halt settings.

use std::path::Path;

use switchyard_core::AppHalt;

use crate::error::{Result, WatchError};

/// A node config file as a TOML table; `None` when there is none.
pub(crate) fn read_table(path: &Path) -> Result<Option<toml::Table>> {
    let bad = |why: String| WatchError::NodeConfig {
        path: path.to_path_buf(),
        why,
    };
    let bytes = match switchyard_store::read_untrusted_file(path, 4 * 1024 * 1024) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(e) => return Err(bad(e.to_string())),
    };
    let text = String::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 text: {e}")))?;
    text.parse::<toml::Table>()
        .map(Some)
        .map_err(|e| bad(e.to_string()))
}

/// The top-level `halt-height` and `halt-time` of `$home/config/app.toml` (none when the file or
/// the key is absent). A value that is not a whole number is an error naming the key: the node
/// itself would refuse to start with it.
pub fn app_halt(home: &Path) -> Result<AppHalt> {
    let path = home.join("config").join("app.toml");
    let Some(t) = read_table(&path)? else {
        return Ok(AppHalt::default());
    };
    let int = |key: &str| match t.get(key) {
        None => Ok(None),
        Some(toml::Value::Integer(i)) => Ok(Some(*i)),
        // The SDK's configuration reads a quoted number too.
        Some(toml::Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
            Ok(s.trim().parse::<i64>().ok())
        }
        Some(v) => Err(WatchError::NodeConfig {
            path: path.clone(),
            why: format!("{key} = {v} is not a whole number"),
        }),
    };
    Ok(AppHalt {
        halt_height: int("halt-height")?,
        halt_time: int("halt-time")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home_with(app: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("config")).unwrap();
        std::fs::write(d.path().join("config/app.toml"), app).unwrap();
        d
    }

    #[test]
    fn reads_the_halt_keys_of_app_toml() {
        let d = home_with(
            "minimum-gas-prices = \"\"\nhalt-height = 30\nhalt-time = 0\n[grpc]\nenable = true\n",
        );
        assert_eq!(
            app_halt(d.path()).unwrap(),
            AppHalt {
                halt_height: Some(30),
                halt_time: Some(0)
            }
        );
        let d = home_with("halt-time = \"1700000000\"\n");
        assert_eq!(app_halt(d.path()).unwrap().halt_time, Some(1_700_000_000));
        let none = tempfile::tempdir().unwrap();
        assert_eq!(app_halt(none.path()).unwrap(), AppHalt::default());
    }

    #[test]
    fn a_halt_key_that_is_not_a_number_is_named() {
        let d = home_with("halt-height = \"soon\"\n");
        let e = app_halt(d.path()).unwrap_err().to_string();
        assert!(e.contains("halt-height") && e.contains("app.toml"), "{e}");
        let d = home_with("halt-height = [1\n");
        assert!(app_halt(d.path())
            .unwrap_err()
            .to_string()
            .contains("app.toml"));
    }
}

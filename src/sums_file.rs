//! Reading a release's checksums file (`SHA256SUMS`, `checksums.txt`, `sha256sum.txt`) to find
//! the checksum of one download, for `add-upgrade --url URL --checksums-url URL`.
//!
//! Accepted lines: coreutils' `<hex>  <name>` (and `<hex> *<name>`, binary mode) and BSD's
//! `SHA256 (<name>) = <hex>`; blank lines and `#` comments are skipped, other lines are errors.
//! A name matches when it equals the download's file name, also after a leading `./` or a folder
//! part. No match, or two matching lines with different digests, is an error: never a guess.

use switchyard_core::Checksum;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SumsError {
    #[error("the download URL {0} has no file name to look up")]
    NoFileName(String),
    #[error("line {line} of the checksums file is neither `<hex>  <name>` nor `ALGO (<name>) = <hex>`: {text:?}")]
    BadLine { line: usize, text: String },
    #[error("line {line} of the checksums file: {why}")]
    BadDigest { line: usize, why: String },
    #[error("the checksums file lists no {name:?} (it lists: {listed})")]
    NotListed { name: String, listed: String },
    #[error("the checksums file lists {name:?} more than once, with different digests (lines {first} and {second}); refusing to guess")]
    Ambiguous {
        name: String,
        first: usize,
        second: usize,
    },
}

/// The file name a download URL ends in (query and fragment removed, percent-decoded).
pub(crate) fn file_name_of(url: &str) -> Result<String, SumsError> {
    let no_query = url.split(['?', '#']).next().unwrap_or("");
    let after_host = no_query
        .split_once("://")
        .map(|(_, rest)| rest.split_once('/').map(|(_, p)| p).unwrap_or(""))
        .unwrap_or(no_query);
    let last = after_host.rsplit('/').next().unwrap_or("");
    let name = percent_decode(last);
    if name.is_empty() {
        return Err(SumsError::NoFileName(url.to_string()));
    }
    Ok(name)
}

/// Finds the checksum of `file_name` in the checksums file `text`.
pub(crate) fn pick(text: &str, file_name: &str) -> Result<Checksum, SumsError> {
    let mut found: Option<(usize, Checksum)> = None;
    let mut listed = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (digest, name, algo) = parse_line(l).ok_or_else(|| SumsError::BadLine {
            line,
            text: raw.to_string(),
        })?;
        let base = name.rsplit('/').next().unwrap_or(name);
        listed.push(base.to_string());
        if base != file_name {
            continue;
        }
        let spec = match algo {
            Some(a) => format!("{}:{digest}", a.to_ascii_lowercase()),
            None => digest.to_string(),
        };
        let sum = Checksum::parse(&spec).map_err(|e| SumsError::BadDigest {
            line,
            why: e.to_string(),
        })?;
        match &found {
            Some((first, prev)) if *prev != sum => {
                return Err(SumsError::Ambiguous {
                    name: file_name.to_string(),
                    first: *first,
                    second: line,
                })
            }
            Some(_) => {}
            None => found = Some((line, sum)),
        }
    }
    found.map(|(_, s)| s).ok_or_else(|| SumsError::NotListed {
        name: file_name.to_string(),
        listed: if listed.is_empty() {
            "nothing".into()
        } else {
            listed.join(", ")
        },
    })
}

/// `(digest, name, algorithm if the line names one)`.
fn parse_line(l: &str) -> Option<(&str, &str, Option<&str>)> {
    // BSD: `SHA256 (name) = hex`
    if let Some((head, digest)) = l.rsplit_once(") = ") {
        let (algo, name) = head.split_once(" (")?;
        if !algo.is_empty() && algo.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Some((digest.trim(), name, Some(algo)));
        }
    }
    // coreutils: `hex  name` or `hex *name`
    let (digest, rest) = l.split_once(char::is_whitespace)?;
    if !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let name = rest.trim_start();
    let name = name.strip_prefix('*').unwrap_or(name);
    let name = name.strip_prefix("./").unwrap_or(name);
    (!name.is_empty()).then_some((digest, name, None))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn file_names_come_from_the_url_path() {
        assert_eq!(
            file_name_of("https://h/r/v1/paloma_Linux_x86_64.tar.gz?checksum=x#f").unwrap(),
            "paloma_Linux_x86_64.tar.gz"
        );
        assert_eq!(
            file_name_of("http://127.0.0.1:8/a%20b.zip").unwrap(),
            "a b.zip"
        );
        assert!(file_name_of("https://h/dir/").is_err());
        assert!(file_name_of("https://h").is_err());
    }

    #[test]
    fn picks_the_line_for_the_file_in_either_format() {
        let text = format!(
            "# release v2\n{A}  paloma_Linux_x86_64.tar.gz\n{B} *paloma_Darwin_arm64.tar.gz\n\nSHA256 (./dist/other.zip) = {A}\n"
        );
        assert_eq!(pick(&text, "paloma_Linux_x86_64.tar.gz").unwrap().hex, A);
        assert_eq!(pick(&text, "paloma_Darwin_arm64.tar.gz").unwrap().hex, B);
        assert_eq!(pick(&text, "other.zip").unwrap().hex, A);
        let err = pick(&text, "paloma_Windows.zip").unwrap_err().to_string();
        assert!(err.contains("paloma_Linux_x86_64.tar.gz"), "{err}");
    }

    #[test]
    fn refuses_ambiguity_and_junk() {
        let twice = format!("{A}  x.tar.gz\n{B}  build/x.tar.gz\n");
        assert!(matches!(
            pick(&twice, "x.tar.gz"),
            Err(SumsError::Ambiguous {
                first: 1,
                second: 2,
                ..
            })
        ));
        let same_twice = format!("{A}  x.tar.gz\n{A}  ./x.tar.gz\n");
        assert_eq!(pick(&same_twice, "x.tar.gz").unwrap().hex, A);
        assert!(matches!(
            pick("<html>not found</html>\n", "x"),
            Err(SumsError::BadLine { line: 1, .. })
        ));
        assert!(matches!(
            pick("abc  x.tar.gz\n", "x.tar.gz"),
            Err(SumsError::BadDigest { line: 1, .. })
        ));
    }
}

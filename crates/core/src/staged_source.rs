//! Whether a binary switchyard staged earlier is the one the plan asks for now.
//!
//! A proposal can be staged while it is voted on, and another proposal of the same name (with
//! another binary) can be the one that passes; an operator can also change a plan's info by a
//! new proposal. So at the halt, and when staging is asked again, the staged binary's source is
//! held against the plan's entry for this platform: the same checksum when the plan gives one
//! (the bytes are what matters, wherever they were served from), else the same URL. A plan that
//! lists no binary for this platform, or whose info is not a binaries list, says nothing against
//! what was staged.

use std::fmt;

use crate::plan_info::{parse_info, BinarySource, PlanInfo};

/// Where a staged binary came from, as its staging record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StagedFrom<'a> {
    /// The URL it was downloaded from.
    pub url: &'a str,
    /// The checksum the plan asked for then (`sha256:<hex>`), if it gave one.
    pub expected_checksum: Option<&'a str>,
    /// The digest of what was downloaded (`algo:hex`, in the plan's algorithm).
    pub digest: &'a str,
}

impl StagedFrom<'_> {
    /// Whether this staged binary came from `source`: the same checksum when `source` has one
    /// (asked for then, or found in the download), else the same URL.
    pub fn matches(&self, source: &BinarySource) -> bool {
        match &source.checksum {
            Some(c) => {
                let want = c.to_string();
                self.expected_checksum == Some(want.as_str()) || self.digest == want
            }
            None => self.url == source.url,
        }
    }
}

/// A staged binary that is not the one the plan lists for this platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMismatch {
    /// The URL the staged binary was downloaded from, per its staging record.
    pub staged_url: String,
    /// The digest of the staged download (`algo:hex`).
    pub staged_digest: String,
    /// The URL the plan lists for this platform now.
    pub plan_url: String,
    /// `None`: the plan's URL carries no checksum.
    pub plan_checksum: Option<String>,
}

impl fmt::Display for SourceMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "it was staged from {} ({}), but the plan lists {} ({})",
            self.staged_url,
            self.staged_digest,
            self.plan_url,
            self.plan_checksum.as_deref().unwrap_or("no checksum")
        )
    }
}

/// Holds what was staged against the plan `info` for `platform` (see the module docs).
pub fn staged_against_plan(
    staged: StagedFrom<'_>,
    info: &str,
    platform: &str,
) -> Result<(), SourceMismatch> {
    let PlanInfo::Binaries(b) = parse_info(info) else {
        return Ok(());
    };
    match b.for_platform(platform) {
        Some(src) if !staged.matches(src) => Err(SourceMismatch {
            staged_url: staged.url.to_string(),
            staged_digest: staged.digest.to_string(),
            plan_url: src.url.clone(),
            plan_checksum: src.checksum.as_ref().map(ToString::to_string),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn info(platform: &str, url: &str) -> String {
        format!(r#"{{"binaries":{{"{platform}":"{url}"}}}}"#)
    }

    fn staged<'a>(url: &'a str, asked: Option<&'a str>, digest: &'a str) -> StagedFrom<'a> {
        StagedFrom {
            url,
            expected_checksum: asked,
            digest,
        }
    }

    #[test]
    fn the_same_checksum_matches_from_any_url() {
        let plan = info("linux/amd64", &format!("http://mirror/b?checksum={A}"));
        let s = staged("http://first/b", None, A);
        assert_eq!(staged_against_plan(s, &plan, "linux/amd64"), Ok(()));
        let s = staged("http://first/b", Some(A), B);
        assert_eq!(staged_against_plan(s, &plan, "linux/amd64"), Ok(()));
    }

    #[test]
    fn another_checksum_is_a_mismatch_that_names_both_sources() {
        let url = format!("http://new/b?checksum={B}");
        let plan = info("linux/amd64", &url);
        let e = staged_against_plan(staged("http://old/b", Some(A), A), &plan, "linux/amd64")
            .unwrap_err();
        assert_eq!(e.plan_url, url);
        assert_eq!(e.plan_checksum.as_deref(), Some(B));
        let text = e.to_string();
        assert!(
            text.contains("http://old/b") && text.contains(A) && text.contains(B),
            "{text}"
        );
    }

    #[test]
    fn without_a_checksum_the_url_decides() {
        let plan = info("any", "http://x/b");
        assert_eq!(
            staged_against_plan(staged("http://x/b", None, A), &plan, "linux/arm64"),
            Ok(())
        );
        let e =
            staged_against_plan(staged("http://y/b", None, A), &plan, "linux/arm64").unwrap_err();
        assert!(e.to_string().ends_with("(no checksum)"), "{e}");
    }

    #[test]
    fn a_plan_with_nothing_for_this_platform_or_no_binaries_says_nothing() {
        let s = staged("http://y/b", None, A);
        assert_eq!(
            staged_against_plan(s, &info("darwin/arm64", "http://x/b"), "linux/amd64"),
            Ok(())
        );
        assert_eq!(staged_against_plan(s, "", "linux/amd64"), Ok(()));
        assert_eq!(staged_against_plan(s, "not json", "linux/amd64"), Ok(()));
    }
}

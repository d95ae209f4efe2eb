//! Setting values read the way cosmovisor's Go code reads them.
//!
//! cosmovisor is written in Go, so what it accepts in a variable or on its command line is what
//! Go's standard parsers accept; a drop-in has to accept at least the same text. The parsers here
//! follow those rules (see `docs/node-facts.md`, "How cosmovisor reads its settings"):
//!
//! - [`go_bool`]: `strconv.ParseBool`, which is also what Go's flag packages use for
//!   `--flag=VALUE` on a boolean flag: exactly `1 t T TRUE true True` and `0 f F FALSE false False`.
//! - [`env_bool`]: a boolean variable. cosmovisor lower-cases the value and takes `true` or
//!   `false`; switchyard takes that, plus every `strconv.ParseBool` spelling, with surrounding
//!   white space ignored (a superset, listed in the README).
//! - [`go_duration`]: `time.ParseDuration`: a sign, then one or more `<number><unit>` with a
//!   decimal fraction allowed (`.5s`, `1.5h`, `+5s`, `1h30m`), units `ns us µs μs ms s m h`, a bare
//!   `0`, at most about 292 years; no spaces anywhere.
//! - [`go_int`]: `strconv.Atoi`: base 10, an optional `+` or `-`, nothing else.

/// Go's `strconv.ParseBool`: the only spellings Go's flag packages take for `--flag=VALUE`.
pub fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// A boolean environment variable: `true`/`false` in any case (cosmovisor's rule) or any
/// [`go_bool`] spelling, surrounding white space ignored.
pub fn env_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") {
        return Some(true);
    }
    if s.eq_ignore_ascii_case("false") {
        return Some(false);
    }
    go_bool(s)
}

/// Why a text is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing (or only a sign) was given.
    #[error("empty duration")]
    Empty,
    /// A number is not followed by a unit (`5`, `1h30`).
    #[error("missing unit in {0:?} (use ns, us, ms, s, m or h)")]
    MissingUnit(String),
    /// A unit Go does not know (`d`, `M`, ` s`).
    #[error("unknown unit {unit:?} in {text:?} (use ns, us, ms, s, m or h, with no spaces)")]
    UnknownUnit {
        /// The unit as written (at most 10 characters of it).
        unit: String,
        /// The text (at most 40 characters of it).
        text: String,
    },
    /// Not of the form `[+-]<number><unit>...` (`ms`, `1..5s`, `.s`).
    #[error("{0:?} is not a duration (e.g. 300ms, 1.5s, 1m30s)")]
    Invalid(String),
    /// Larger than Go's limit of 2^63 - 1 nanoseconds (about 292 years).
    #[error("{0:?} is longer than a duration can be (about 292 years)")]
    Overflow(String),
}

/// The first characters of `s`, so a huge input gives a short error.
fn shown(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Go's `time.ParseDuration`: the duration in nanoseconds (negative when `-` was written).
pub fn go_duration(text: &str) -> Result<i64, DurationError> {
    const LIMIT: u64 = 1 << 63;
    let invalid = || DurationError::Invalid(shown(text, 40));
    let overflow = || DurationError::Overflow(shown(text, 40));
    let (neg, mut s) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(if text.is_empty() {
            DurationError::Empty
        } else {
            invalid()
        });
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // The whole part.
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut whole: u64 = 0;
        for &c in &b[..int_len] {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u64::from(c - b'0')))
                .filter(|&w| w <= LIMIT)
                .ok_or_else(overflow)?;
        }
        s = &s[int_len..];
        // The fraction: digits past what fits are dropped, as Go does.
        let (mut frac, mut scale, mut frac_len) = (0u64, 1f64, 0usize);
        if s.starts_with('.') {
            s = &s[1..];
            let mut full = false;
            for &c in s.as_bytes().iter().take_while(|c| c.is_ascii_digit()) {
                frac_len += 1;
                if full {
                    continue;
                }
                match frac
                    .checked_mul(10)
                    .and_then(|f| f.checked_add(u64::from(c - b'0')))
                    .filter(|&f| f <= LIMIT)
                {
                    Some(f) if frac <= (LIMIT - 1) / 10 => {
                        frac = f;
                        scale *= 10.0;
                    }
                    _ => full = true,
                }
            }
            s = &s[frac_len..];
        }
        if int_len == 0 && frac_len == 0 {
            return Err(invalid());
        }
        // The unit: everything up to the next number.
        let unit_len = s
            .bytes()
            .take_while(|&c| c != b'.' && !c.is_ascii_digit())
            .count();
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(shown(text, 40)));
        }
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        let nanos: u64 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(DurationError::UnknownUnit {
                    unit: shown(unit, 10),
                    text: shown(text, 40),
                })
            }
        };
        if whole > LIMIT / nanos {
            return Err(overflow());
        }
        let mut v = whole * nanos;
        if frac > 0 {
            // Go adds the fraction in floating point and truncates.
            v = v.saturating_add((frac as f64 * (nanos as f64 / scale)) as u64);
            if v > LIMIT {
                return Err(overflow());
            }
        }
        total = total
            .checked_add(v)
            .filter(|&t| t <= LIMIT)
            .ok_or_else(overflow)?;
    }
    if neg {
        // -2^63 is the one magnitude that fits only when negative.
        return Ok((total as i64).wrapping_neg());
    }
    i64::try_from(total).map_err(|_| overflow())
}

/// Why a text is not a Go integer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntError {
    /// Not `[+-]digits`.
    #[error("{0:?} is not a whole number")]
    Invalid(String),
    /// Outside a 64-bit signed integer.
    #[error("{0:?} is out of range")]
    OutOfRange(String),
}

/// Go's `strconv.Atoi` (on a 64-bit machine): an optional sign and decimal digits, nothing else.
pub fn go_int(s: &str) -> Result<i64, IntError> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(IntError::Invalid(shown(s, 40)));
    }
    // Rust's parser takes the same text once a leading '+' is allowed, which it is.
    s.parse::<i64>()
        .map_err(|_| IntError::OutOfRange(shown(s, 40)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn parse_bool_spellings_exactly() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(go_bool(t), Some(true), "{t}");
        }
        for f in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(go_bool(f), Some(false), "{f}");
        }
        for bad in ["", "yes", "tRUE", "true ", "2", "on"] {
            assert_eq!(go_bool(bad), None, "{bad:?}");
        }
        assert_eq!(env_bool("tRuE"), Some(true));
        assert_eq!(env_bool(" false\n"), Some(false));
        assert_eq!(env_bool("T"), Some(true));
        assert_eq!(env_bool("yes"), None);
    }

    #[test]
    fn durations_as_go_reads_them() {
        for (text, want) in [
            ("0", 0),
            ("+0", 0),
            ("-0", 0),
            ("0s", 0),
            ("5s", 5 * S),
            ("+5s", 5 * S),
            ("-5s", -5 * S),
            (".5s", S / 2),
            ("5.s", 5 * S),
            ("1.5h", 5400 * S),
            ("1h30m", 5400 * S),
            ("2h45m", 9900 * S),
            ("1h0.5m", 3630 * S),
            ("300ms", 300_000_000),
            ("10us", 10_000),
            ("10\u{b5}s", 10_000),
            ("10\u{3bc}s", 10_000),
            ("7ns", 7),
            ("1.0000000001s", S),
            ("0.3s", 300_000_000),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
            ("2562047h47m16.854775807s", i64::MAX),
            ("1.00000000000000000000000000001s", S),
        ] {
            assert_eq!(go_duration(text), Ok(want), "{text:?}");
        }
        for (text, why) in [
            ("", "empty"),
            ("5", "missing unit"),
            ("1h30", "missing unit"),
            ("500", "missing unit"),
            ("5 s", "unknown unit"),
            (" 5s", "not a duration"),
            ("5s ", "unknown unit"),
            ("5M", "unknown unit"),
            ("1d", "unknown unit"),
            ("ms", "not a duration"),
            (".s", "not a duration"),
            ("-", "not a duration"),
            ("1..5s", "missing unit"),
            ("--5s", "not a duration"),
            ("9223372036854775808ns", "longer"),
            ("99999999999999999999h", "longer"),
            ("2562048h", "longer"),
        ] {
            let err = go_duration(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text:?}: {err}");
        }
        // A huge input gives a short error.
        assert!(
            go_duration(&"9".repeat(100_000))
                .unwrap_err()
                .to_string()
                .len()
                < 200
        );
        assert!(
            go_duration(&format!("1{}", "x".repeat(100_000)))
                .unwrap_err()
                .to_string()
                .len()
                < 200
        );
    }

    #[test]
    fn integers_as_atoi_reads_them() {
        assert_eq!(go_int("-1"), Ok(-1));
        assert_eq!(go_int("+3"), Ok(3));
        assert_eq!(go_int("007"), Ok(7));
        for bad in ["", " 1", "1 ", "0x10", "1_000", "+", "-", "1.0"] {
            assert!(matches!(go_int(bad), Err(IntError::Invalid(_))), "{bad:?}");
        }
        assert!(matches!(
            go_int("9223372036854775808"),
            Err(IntError::OutOfRange(_))
        ));
    }
}

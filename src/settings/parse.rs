//! How a variable's text becomes a value, alike for every setting: yes/no
//! flags and numbers of seconds.

use std::ffi::OsString;
use std::time::Duration;

/// A yes/no variable: unset means `default`; empty, `0`, `no` and `false`
/// (any case) mean no; anything else yes.
pub(super) fn flag(value: Option<OsString>, default: bool) -> bool {
    match value {
        None => default,
        Some(v) => {
            let v = v.to_string_lossy();
            let v = v.trim();
            !(v.is_empty()
                || v == "0"
                || v.eq_ignore_ascii_case("no")
                || v.eq_ignore_ascii_case("false"))
        }
    }
}

/// A number of seconds; unset or unparseable means `default`.
pub(super) fn seconds(value: Option<OsString>, default: u64) -> Duration {
    value
        .and_then(|v| v.to_str().and_then(|s| s.trim().parse::<u64>().ok()))
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(default))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_seconds() {
        for (v, want) in [
            ("1", true),
            ("yes", true),
            ("0", false),
            ("No", false),
            ("", false),
        ] {
            assert_eq!(flag(Some(v.into()), !want), want, "{v:?}");
        }
        assert!(flag(None, true) && !flag(None, false));
        assert_eq!(seconds(Some(" 7 ".into()), 1), Duration::from_secs(7));
        assert_eq!(seconds(Some("-1".into()), 1), Duration::from_secs(1));
    }
}

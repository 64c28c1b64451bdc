//! Durations on the command line (`500ms`, `90s`, `20m`, `1h30m`) and in messages (`21.4s`).

use std::time::Duration;

pub use wks_waiter::time::format_duration;

/// Parses a positive duration: whole numbers each followed by a unit, `ms`, `s`, `m` or
/// `h` (`500ms`, `90s`, `20m`, `1h30m`).
///
/// Used as clap's value parser, so the error is the reason only: clap prefixes it with the
/// value and the flag.
///
/// # Errors
///
/// A one-line reason for what [`wks_waiter::time::parse_duration`] refuses, and for zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match wks_waiter::time::parse_duration(text)? {
        Duration::ZERO => Err(format!(
            "`{}` is zero; give a positive duration",
            text.trim()
        )),
        duration => Ok(duration),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_duration_is_positive() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        for zero in ["0s", "0ms", "0h0m"] {
            let err = parse_duration(zero).unwrap_err();
            assert!(
                err.contains("zero") && err.contains(&format!("`{zero}`")),
                "{err}"
            );
        }
        assert!(parse_duration("5d")
            .unwrap_err()
            .contains("unknown unit `d`"));
    }
}

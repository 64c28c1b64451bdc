//! Durations on the command line (`500ms`, `90s`, `20m`, `1h`) and in messages (`21.4s`).

use std::time::Duration;

/// Parses a whole number followed by a unit: `ms`, `s`, `m` or `h`.
///
/// Used as clap's value parser, so the error is the reason only: clap prefixes it with the
/// value and the flag.
///
/// # Errors
///
/// A one-line reason for an empty value, a missing or unknown unit, a negative or zero
/// duration, or one too large to represent.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let hint = "expected a whole number and a unit: ms, s, m or h (e.g. 500ms, 90s, 20m, 1h)";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("empty duration; {hint}"));
    }
    if text.starts_with('-') {
        return Err(format!("`{text}` is negative; {hint}"));
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err(format!("`{text}` has no number; {hint}"));
    }
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "" => return Err(format!("`{text}` has no unit; {hint}")),
        _ => return Err(format!("`{text}` has an unknown unit `{unit}`; {hint}")),
    };
    let millis = digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(millis_per_unit))
        .ok_or_else(|| format!("`{text}` is too large"))?;
    if millis == 0 {
        return Err(format!("`{text}` is zero; give a positive duration"));
    }
    Ok(Duration::from_millis(millis))
}

/// Formats a duration for people: `850ms`, `21.4s`, `90s` → `1m30s`, `1h00m07s`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1_000 {
        return format!("{millis}ms");
    }
    let secs = duration.as_secs();
    if secs < 60 {
        // Tenths, truncated, so 59.99 s never prints as "60.0s".
        return match duration.subsec_millis() / 100 {
            0 => format!("{secs}s"),
            tenths => format!("{secs}.{tenths}s"),
        };
    }
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    if hours == 0 {
        format!("{minutes}m{seconds:02}s")
    } else {
        format!("{hours}h{minutes:02}m{seconds:02}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        for (text, millis) in [
            ("500ms", 500),
            ("90s", 90_000),
            ("20m", 1_200_000),
            ("1h", 3_600_000),
            (" 2s ", 2_000),
            ("007s", 7_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(millis)),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_values_naming_them() {
        for (text, reason) in [
            ("", "empty"),
            ("   ", "empty"),
            ("0s", "zero"),
            ("0ms", "zero"),
            ("-5s", "negative"),
            ("90", "no unit"),
            ("s", "no number"),
            ("1.5s", "unknown unit `.5s`"),
            ("5 s", "unknown unit ` s`"),
            ("5d", "unknown unit `d`"),
            ("5S", "unknown unit `S`"),
            ("1h30m", "unknown unit `h30m`"),
            ("99999999999999999999s", "too large"),
            ("18446744073709551615h", "too large"),
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(reason), "{text:?}: {err}");
            if !text.trim().is_empty() {
                assert!(
                    err.contains(&format!("`{}`", text.trim())),
                    "{text:?}: {err}"
                );
            }
        }
    }

    #[test]
    fn formats_for_people() {
        for (millis, text) in [
            (0, "0ms"),
            (850, "850ms"),
            (1_000, "1s"),
            (1_050, "1s"),
            (1_500, "1.5s"),
            (21_460, "21.4s"),
            (59_999, "59.9s"),
            (60_000, "1m00s"),
            (125_300, "2m05s"),
            (3_607_000, "1h00m07s"),
        ] {
            assert_eq!(format_duration(Duration::from_millis(millis)), text);
        }
    }
}

//! Wording shared by messages and logs.

/// `1 poll`, `2 polls`, `0 polls`: a count with its noun, singular for exactly one.
pub(crate) fn plural(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn one_is_singular() {
        assert_eq!(plural(0u32, "subtask"), "0 subtasks");
        assert_eq!(plural(1u64, "subtask"), "1 subtask");
        assert_eq!(plural(2u8, "job"), "2 jobs");
    }
}

//! Outcome rules: when a job's result is decided before (or without) every subtask
//! succeeding.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;
use crate::outcome::{Counts, JobResult, OverallRule};

/// A number of subtasks, absolute or as a share of the job's subtasks.
///
/// Parses from `"3"` or `"5%"` (`"2.5%"` too).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Limit {
    /// This many subtasks.
    Count(u64),
    /// This percentage (0–100) of the job's subtasks.
    Percent(f64),
}

impl Limit {
    /// The limit as a number of subtasks of a job of `total`; `round_up` for minimums
    /// ("at least 95 % of 199" is 190), down for maximums ("at most 5 % of 199" is 9).
    fn of(self, total: usize, round_up: bool) -> u64 {
        match self {
            Self::Count(n) => n,
            Self::Percent(p) => {
                let exact = p / 100.0 * total as f64;
                // Guard against 0.1 + 0.2 style noise turning 19.000000001 into 20.
                let nudged = if round_up { exact - 1e-9 } else { exact + 1e-9 };
                let rounded = if round_up {
                    nudged.ceil()
                } else {
                    nudged.floor()
                };
                rounded.max(0.0) as u64
            }
        }
    }

    pub(crate) fn validate(self, field: &'static str) -> Result<(), Error> {
        match self {
            Self::Percent(p) if !(0.0..=100.0).contains(&p) => Err(Error::invalid(
                field,
                self,
                "a percentage must be between 0% and 100%",
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for Limit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let bad = || format!("`{text}` is not a count (e.g. 3) or a percentage (e.g. 5%)");
        if let Some(number) = trimmed.strip_suffix('%') {
            let p: f64 = number.trim().parse().map_err(|_| bad())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(format!(
                    "`{text}`: a percentage must be between 0% and 100%"
                ));
            }
            Ok(Self::Percent(p))
        } else {
            trimmed.parse().map(Self::Count).map_err(|_| bad())
        }
    }
}

/// When a job's result is decided: by default, when every subtask is terminal (success if
/// all succeeded). With limits, as soon as the result cannot change whatever the pending
/// subtasks do.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Rules {
    pub max_failures: Option<Limit>,
    pub min_succeeded: Option<Limit>,
}

impl Rules {
    /// Whether any limit was set: then the result may be decided early.
    pub(crate) fn early(&self) -> bool {
        self.max_failures.is_some() || self.min_succeeded.is_some()
    }

    /// The result these counts decide; `None` while the pending subtasks (or subtasks not
    /// listed yet) could still change it. `size` is the job's size when known (the
    /// caller's `expect_subtasks`, or the `sub_jobs_total` the job announces); `complete`
    /// when every subtask is known and terminal. Vanished subtasks count as not succeeded.
    ///
    /// Before the job is complete, a decision that depends on its size (a percentage, a
    /// minimum that can no longer be reached, a maximum that can no longer be passed) is
    /// taken only on a known size, and not on one smaller than a minimum count (such a
    /// job is still growing, or is not the job the caller meant). Without one, only what
    /// no later subtask can undo decides: more failures than a count allows, or as many
    /// successes as a count asks (with no maximum to keep).
    pub(crate) fn decide(
        &self,
        counts: &Counts,
        size: Option<usize>,
        complete: bool,
    ) -> Option<JobResult> {
        self.decide_by(counts, size, complete)
            .map(|(result, _)| result)
    }

    /// As [`decide`](Self::decide), with the limit that decided (the maximum when no limit
    /// is set, or none speaks for the result more than it).
    pub(crate) fn decide_by(
        &self,
        counts: &Counts,
        size: Option<usize>,
        complete: bool,
    ) -> Option<(JobResult, OverallRule)> {
        use OverallRule::{MaxFailures, MinSucceeded};
        let bad = (counts.failed + counts.vanished) as u64;
        let good = counts.succeeded as u64;
        if !self.early() {
            let result = if bad == 0 && good > 0 {
                JobResult::Succeeded
            } else {
                JobResult::Failed
            };
            return complete.then_some((result, MaxFailures));
        }
        let min_count = match self.min_succeeded {
            Some(Limit::Count(n)) => Some(n),
            _ => None,
        };
        let judged = if complete {
            Some(size.unwrap_or(0))
        } else {
            size.filter(|&n| min_count.is_none_or(|min| min <= n as u64))
        };
        let Some(total) = judged.map(|n| n.max(counts.total)) else {
            return self.undoable(bad, good);
        };
        // Subtasks whose end is still open: pending ones and those not listed yet.
        let open = total.saturating_sub(counts.finished()) as u64;
        let max_bad = self.max_failures.map(|l| l.of(total, false));
        let min_good = self.min_succeeded.map(|l| l.of(total, true));
        if max_bad.is_some_and(|max| bad > max) {
            return Some((JobResult::Failed, MaxFailures));
        }
        if min_good.is_some_and(|min| good + open < min) {
            return Some((JobResult::Failed, MinSucceeded));
        }
        // Without a minimum, an empty job is no success.
        let enough = min_good.map_or(good > 0 || bad > 0, |min| good >= min);
        let safe = max_bad.is_none_or(|max| bad + open <= max);
        let by_min = if self.min_succeeded.is_some() {
            MinSucceeded
        } else {
            MaxFailures
        };
        if enough && safe && (complete || self.min_succeeded.is_some()) {
            return Some((JobResult::Succeeded, by_min));
        }
        let failed_by = if enough { MaxFailures } else { by_min };
        complete.then_some((JobResult::Failed, failed_by))
    }

    /// What counts decide of a job of unknown size: only what no later subtask can undo.
    fn undoable(&self, bad: u64, good: u64) -> Option<(JobResult, OverallRule)> {
        match (self.max_failures, self.min_succeeded) {
            (Some(Limit::Count(max)), _) if bad > max => {
                Some((JobResult::Failed, OverallRule::MaxFailures))
            }
            (None, Some(Limit::Count(min))) if good >= min => {
                Some((JobResult::Succeeded, OverallRule::MinSucceeded))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(succeeded: usize, failed: usize, pending: usize) -> Counts {
        Counts {
            total: succeeded + failed + pending,
            succeeded,
            failed,
            running: pending,
            ..Counts::default()
        }
    }

    #[test]
    fn limits_parse_and_round_the_safe_way() {
        assert_eq!("3".parse::<Limit>(), Ok(Limit::Count(3)));
        assert_eq!(" 5% ".parse::<Limit>(), Ok(Limit::Percent(5.0)));
        assert!("-1".parse::<Limit>().is_err());
        assert!("101%".parse::<Limit>().unwrap_err().contains("101%"));
        assert!("five".parse::<Limit>().unwrap_err().contains("`five`"));
        assert_eq!(Limit::Percent(95.0).of(199, true), 190);
        assert_eq!(Limit::Percent(5.0).of(199, false), 9);
        assert_eq!(Limit::Percent(10.0).of(200, false), 20);
    }

    #[test]
    fn without_limits_the_result_waits_for_completion() {
        let rules = Rules::default();
        assert_eq!(
            rules.decide(&counts(9, 1, 0), Some(10), true),
            Some(JobResult::Failed)
        );
        assert_eq!(rules.decide(&counts(9, 1, 0), Some(10), false), None);
        assert_eq!(
            rules.decide(&counts(10, 0, 0), Some(10), true),
            Some(JobResult::Succeeded)
        );
    }

    #[test]
    fn limits_decide_as_soon_as_nothing_pending_can_change_them() {
        let at_most_2 = Rules {
            max_failures: Some(Limit::Count(2)),
            ..Rules::default()
        };
        assert_eq!(
            at_most_2.decide(&counts(5, 3, 10), Some(18), false),
            Some(JobResult::Failed)
        );
        assert_eq!(at_most_2.decide(&counts(5, 2, 10), Some(18), false), None);
        assert_eq!(
            at_most_2.decide(&counts(16, 2, 0), Some(18), true),
            Some(JobResult::Succeeded)
        );
        let at_least_190 = Rules {
            min_succeeded: Some(Limit::Count(190)),
            ..Rules::default()
        };
        assert_eq!(
            at_least_190.decide(&counts(190, 0, 10), Some(200), false),
            Some(JobResult::Succeeded)
        );
        assert_eq!(
            at_least_190.decide(&counts(150, 11, 39), Some(200), false),
            Some(JobResult::Failed)
        );
        assert_eq!(
            at_least_190.decide(&counts(150, 10, 40), Some(200), false),
            None
        );
        // Subtasks not listed yet keep the result open.
        assert_eq!(
            at_least_190.decide(&counts(100, 0, 0), Some(200), false),
            None
        );
    }

    #[test]
    fn a_decision_names_the_limit_that_took_it() {
        use OverallRule::{MaxFailures, MinSucceeded};
        let both = Rules {
            max_failures: Some(Limit::Count(5)),
            min_succeeded: Some(Limit::Count(190)),
        };
        let decide = |c: Counts, complete| both.decide_by(&c, Some(200), complete);
        assert_eq!(
            decide(counts(100, 6, 94), false),
            Some((JobResult::Failed, MaxFailures))
        );
        assert_eq!(
            decide(counts(100, 5, 89), true),
            Some((JobResult::Failed, MinSucceeded))
        );
        assert_eq!(
            decide(counts(195, 5, 0), true),
            Some((JobResult::Succeeded, MinSucceeded))
        );
        // Enough successes, but the pending ones could still break the maximum.
        assert_eq!(decide(counts(190, 0, 10), false), None);
        let at_most_2 = Rules {
            max_failures: Some(Limit::Count(2)),
            ..Rules::default()
        };
        assert_eq!(
            at_most_2.decide_by(&counts(7, 2, 1), Some(10), true),
            Some((JobResult::Failed, MaxFailures)),
            "a subtask left open may have failed"
        );
        assert_eq!(
            at_most_2.decide_by(&counts(8, 2, 0), Some(10), true),
            Some((JobResult::Succeeded, MaxFailures))
        );
    }
}

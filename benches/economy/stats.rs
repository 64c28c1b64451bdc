//! Percentiles, the formatting of the tables, and targets missed.

use std::time::Duration;

/// The `p`-th percentile of `values` by nearest rank on the sorted values (the median of
/// 20 seeds is the 11th smallest, the 95th percentile the 19th): `None` when empty.
pub fn percentile(values: &[Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[rank])
}

/// Median, 95th percentile and maximum.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spread {
    pub median: Duration,
    pub p95: Duration,
    pub max: Duration,
}

impl Spread {
    pub fn of(values: &[Duration]) -> Option<Spread> {
        Some(Spread {
            median: percentile(values, 50.0)?,
            p95: percentile(values, 95.0)?,
            max: values.iter().copied().max()?,
        })
    }

    /// `median / p95 / max` in seconds, one decimal.
    pub fn cell(spread: Option<Spread>) -> String {
        match spread {
            Some(s) => format!("{} / {} / {}", secs(s.median), secs(s.p95), secs(s.max)),
            None => "–".to_owned(),
        }
    }
}

/// Seconds with one decimal.
pub fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

pub fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .into_iter()
        .fold((0.0, 0usize), |(sum, n), v| (sum + v, n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// Runs `work(i)` for every `i` in `0..n` on all cores and returns the results in order:
/// runs are independent (each has its own clock and simulated service), so seeds spread
/// over threads without changing any figure.
pub fn parallel<T: Send>(n: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(n.max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    return;
                }
                let value = work(i);
                results.lock().unwrap()[i] = Some(value);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|v| v.expect("every index ran"))
        .collect()
}

/// A target missed. `known` names why it cannot be met by the timing alone: such a miss is
/// printed with its cause, and fails the run unless `--allow-known` is given.
pub struct Miss {
    pub text: String,
    pub known: Option<&'static str>,
}

impl Miss {
    pub fn new(text: String) -> Miss {
        Miss { text, known: None }
    }
}

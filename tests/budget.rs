//! The request budget through the public API: exact schedules in virtual time, threads and
//! processes sharing one budget, and a holder of the state file's lock dying.

mod support;

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use support::{finish, hours, mins, rerun_as_child, secs, spawn, TempDir, CHILD_WATCHDOG};
use wks_waiter::budget::{AcquireError, Priority};
use wks_waiter::test_util::{virtual_time, ManualClock};
use wks_waiter::time::Cancellation;
use wks_waiter::RateBudget;

/// The access key the processes of these tests share a budget under.
const KEY: &str = "AKIDCROSSPROCESSTEST";
/// Set in a child process: the state directory to share.
const CHILD_DIR: &str = "WKS_BUDGET_TEST_DIR";
/// Set in a child process: `routine` or `important`.
const CHILD_PRIORITY: &str = "WKS_BUDGET_TEST_PRIORITY";
/// The shared limit of the cross-process test, and its window: a day, so that nothing
/// leaves the window while the children run — the total is then independent of timing.
const LIMIT: u32 = 40;
const WINDOW: Duration = Duration::from_secs(24 * 60 * 60);
/// 20 % of 40, rounded up.
const ROUTINE_CAP: u32 = 32;

/// How long the budget counts a send: the window and a fiftieth more (61.2 s of a minute),
/// as the gateway may see two sends made a window apart arrive within one.
fn hold(window: Duration) -> Duration {
    window + window / 50
}

fn shared_budget(dir: &std::path::Path, clock: Arc<ManualClock>) -> RateBudget {
    RateBudget::builder()
        .limit(LIMIT)
        .window(WINDOW)
        .clock(clock)
        .share_across_processes(KEY)
        .state_dir(dir)
        .build()
        .unwrap()
}

#[test]
fn a_waiter_sharing_a_budget_is_paced_exactly_in_virtual_time() {
    let (clock, sleeper) = virtual_time();
    let budget = RateBudget::builder()
        .limit(4)
        .window(mins(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let cancel = Cancellation::new();
    let mut sends = Vec::new();
    for n in 0..10 {
        // Every third request matters; the others are routine polls.
        let priority = if n % 3 == 2 {
            Priority::Important
        } else {
            Priority::Routine
        };
        budget
            .acquire(priority, &*sleeper, &cancel, hours(1))
            .unwrap();
        sends.push((clock.elapsed(), priority == Priority::Important));
    }
    // Routine requests may fill 3 of the 4 places (20 % of 4 rounds up to 1 reserved);
    // each send counts for a minute and its guard, 61.2 s.
    let hold = hold(mins(1));
    let zero = Duration::ZERO;
    assert_eq!(
        sends,
        [
            (zero, false),
            (zero, false),
            (zero, true),
            (hold, false),
            (hold, false),
            (hold, true),
            (2 * hold, false),
            (2 * hold, false),
            (2 * hold, true),
            (3 * hold, false),
        ]
    );
    // At 183.6 s: two more routine polls fill the routine share; a third would wait for
    // them to stop counting, while the reserved place still takes an important request.
    for _ in 0..2 {
        budget
            .acquire(Priority::Routine, &*sleeper, &cancel, secs(10))
            .unwrap();
    }
    assert_eq!(
        budget.acquire(Priority::Routine, &*sleeper, &cancel, secs(10)),
        Err(AcquireError::Deadline { next: hold })
    );
    budget
        .acquire(Priority::Important, &*sleeper, &cancel, secs(10))
        .unwrap();
    assert_eq!(clock.elapsed(), 3 * hold);
}

#[test]
fn threads_sharing_clones_are_granted_exactly_the_limit() {
    let clock = Arc::new(ManualClock::at_2026());
    let budget = RateBudget::builder()
        .limit(LIMIT)
        .window(WINDOW)
        .clock(clock)
        .build()
        .unwrap();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let budget = budget.clone();
            thread::spawn(move || {
                (0..LIMIT)
                    .filter(|_| budget.try_acquire(Priority::Important).is_ok())
                    .count()
            })
        })
        .collect();
    let granted: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(granted, LIMIT as usize);
    assert_eq!(budget.try_acquire(Priority::Important), Err(hold(WINDOW)));
}

/// The child role of the cross-process test: takes what the shared budget allows without
/// waiting, then prints what it got and how long it was told to wait.
#[test]
#[ignore = "a child process of processes_sharing_a_state_file_are_granted_exactly_the_limit"]
fn child_takes_what_the_shared_budget_allows() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return; // Run by hand, not as a child: there is no shared directory to use.
    };
    let priority = match std::env::var(CHILD_PRIORITY).as_deref() {
        Ok("routine") => Priority::Routine,
        _ => Priority::Important,
    };
    // Every child reads the same frozen wall-clock time: no request leaves the window.
    let budget = shared_budget(dir.as_ref(), Arc::new(ManualClock::at_2026()));
    assert!(budget.state_file().is_some(), "the state file is usable");
    let mut granted = 0;
    let mut waits = Vec::new();
    for _ in 0..LIMIT {
        match budget.try_acquire(priority) {
            Ok(()) => granted += 1,
            Err(wait) => waits.push(wait),
        }
    }
    // libtest may print on the same line; the parent looks for these markers anywhere.
    let all_a_hold = waits.iter().all(|&wait| wait == hold(WINDOW));
    println!("\nbudget-child granted={granted} waits-are-a-hold={all_a_hold}");
}

#[test]
fn processes_sharing_a_state_file_are_granted_exactly_the_limit() {
    let dir = TempDir::new("budget-processes");
    let roles = [
        "routine",
        "important",
        "routine",
        "important",
        "routine",
        "important",
    ];
    // All started before any is waited for, so that they contend for the lock.
    let children: Vec<_> = roles
        .iter()
        .map(|role| {
            let mut command = rerun_as_child("child_takes_what_the_shared_budget_allows");
            command.env(CHILD_DIR, dir.path()).env(CHILD_PRIORITY, role);
            (role, spawn(&mut command))
        })
        .collect();
    let mut total = 0;
    let mut routine = 0;
    for (role, child) in children {
        let done = finish(child);
        assert_eq!(done.code(), 0, "{done:?}");
        let granted: u32 = done
            .stdout
            .split_once("budget-child granted=")
            .and_then(|(_, rest)| rest.split(' ').next())
            .unwrap_or_else(|| panic!("no count from the child: {done:?}"))
            .parse()
            .unwrap();
        assert!(done.stdout.contains("waits-are-a-hold=true"), "{done:?}");
        total += granted;
        if *role == "routine" {
            routine += granted;
        }
    }
    // Whatever the interleaving: routine children stop at their cap, and the last
    // important child to finish asked until the whole limit was taken.
    assert_eq!(total, LIMIT);
    assert!(routine <= ROUTINE_CAP, "routine children got {routine}");
    // The parent, a process too, finds the budget spent.
    let parent = shared_budget(dir.path(), Arc::new(ManualClock::at_2026()));
    assert_eq!(parent.try_acquire(Priority::Important), Err(hold(WINDOW)));
}

/// The child role of the crash test: holds the lock of the shared state file until killed.
#[test]
#[ignore = "a child process of a_process_dying_with_the_lock_blocks_nobody"]
fn child_holds_the_lock_until_killed() {
    let Some(lock) = std::env::var_os(CHILD_DIR) else {
        return; // Run by hand, not as a child: there is no lock file to hold.
    };
    let file = OpenOptions::new().write(true).open(lock).unwrap();
    file.lock().unwrap();
    println!("\nbudget-child holds the lock");
    // Blocks until the parent kills this process (or closes stdin).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

#[test]
fn a_process_dying_with_the_lock_blocks_nobody() {
    let dir = TempDir::new("budget-crash");
    let clock = Arc::new(ManualClock::at_2026());
    let budget = shared_budget(dir.path(), clock);
    let state = budget.state_file().expect("the state file is usable");
    // The lock is the `.lock` file beside the state file.
    let mut command = rerun_as_child("child_holds_the_lock_until_killed");
    command
        .env(CHILD_DIR, state.with_extension("lock"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    while !line.contains("budget-child holds the lock") {
        line.clear();
        assert_ne!(stdout.read_line(&mut line).unwrap(), 0, "the child exited");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The OS released the dead process's lock: the budget answers (a hang here would
    // trip the watchdog).
    let (sent, answer) = mpsc::channel();
    thread::spawn(move || sent.send(budget.try_acquire(Priority::Important)));
    assert_eq!(answer.recv_timeout(CHILD_WATCHDOG), Ok(Ok(())));
}

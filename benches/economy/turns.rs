//! Virtual time shared by many threads: one [`ManualClock`], and a sleeper that lets one
//! thread run at a time, waking the sleeper due first and moving the clock to its time.
//!
//! A `ManualSleeper` advances the clock by each sleep, which is right for one thread and
//! wrong for fifty (each would push time forward for all). Here a sleeping thread waits
//! until every other thread sleeps too and its wake-up time is the earliest; the clock
//! then jumps to it. Runs are deterministic: ties wake in the order the sleeps began.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use wks_waiter::test_util::ManualClock;
use wks_waiter::time::Sleeper;
use wks_waiter::Cancellation;

thread_local! {
    /// The turn-taking identity of the current thread.
    static TURN_ID: Cell<Option<usize>> = const { Cell::new(None) };
}

#[derive(Default)]
struct State {
    /// Who may run now.
    holder: Option<usize>,
    /// Sleepers by (wake-up time, order of falling asleep).
    sleeping: BTreeMap<(Duration, u64), usize>,
    sequence: u64,
}

/// Turn-taking over one virtual clock.
pub struct Turns {
    clock: Arc<ManualClock>,
    state: Mutex<State>,
    turn: Condvar,
}

impl fmt::Debug for Turns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Turns").finish_non_exhaustive()
    }
}

impl Turns {
    pub fn new(clock: Arc<ManualClock>) -> Arc<Turns> {
        Arc::new(Turns {
            clock,
            state: Mutex::new(State::default()),
            turn: Condvar::new(),
        })
    }

    /// Runs `work(i)` for `i` in `0..n`, each on its own thread, taking turns in virtual
    /// time; all start at the clock's current time, in order.
    pub fn run<T: Send>(self: &Arc<Self>, n: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
        {
            let mut state = self.lock();
            let now = self.clock.elapsed();
            for id in 0..n {
                state.sequence += 1;
                let order = state.sequence;
                state.sleeping.insert((now, order), id);
            }
            self.hand_over(&mut state);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..n)
                .map(|id| {
                    let work = &work;
                    scope.spawn(move || {
                        TURN_ID.with(|t| t.set(Some(id)));
                        self.wait_for_turn(id, self.lock());
                        let value = work(id);
                        let mut state = self.lock();
                        self.hand_over(&mut state);
                        value
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a waiter thread panicked"))
                .collect()
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives the turn to the sleeper due first, moving the clock to its time.
    fn hand_over(&self, state: &mut State) {
        state.holder = state.sleeping.pop_first().map(|((wake, _), id)| {
            let now = self.clock.elapsed();
            if wake > now {
                self.clock.advance(wake - now);
            }
            id
        });
        self.turn.notify_all();
    }

    fn wait_for_turn(&self, id: usize, mut state: MutexGuard<'_, State>) {
        while state.holder != Some(id) {
            state = self.turn.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Sleeper for Turns {
    fn sleep(&self, duration: Duration, cancel: &Cancellation) {
        if cancel.is_cancelled() {
            return;
        }
        let id = TURN_ID
            .with(Cell::get)
            .expect("sleep on a thread started by Turns::run");
        let mut state = self.lock();
        let wake = self.clock.elapsed() + duration;
        state.sequence += 1;
        let order = state.sequence;
        state.sleeping.insert((wake, order), id);
        self.hand_over(&mut state);
        self.wait_for_turn(id, state);
    }
}

//! A read's budget: a wall-clock deadline and a cancel flag that stop an `eth_call` (or one
//! step of a gas estimate) while it runs, so a call that loops cannot hold a node's CPU for
//! its whole gas allowance, nor run on after its client has gone.
//!
//! Block execution never has a budget (the wall clock must not decide state). A call with
//! one is checked at every frame (`natives::Guarded::frame_init`), at every gas charge of a
//! native contract, and every `TICKS` JUMPDESTs inside a frame (every loop passes one: a
//! jump lands only on a JUMPDEST), by an instruction the world swaps in only for budgeted
//! calls, so blocks run the stock instruction table. Once stopped, a budget stays stopped:
//! every later frame and JUMPDEST halts at once, so the call unwinds in a few instructions
//! per frame, and the world raises `Interrupted` instead of answering the call's outcome.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// JUMPDESTs between two looks at the clock and the flag: a look costs ~25 ns, the cheapest
/// loop iteration ~5 ns, the dearest (a cold account read) ~25 µs.
const TICKS: u32 = 128;

/// Why a budgeted call stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Timeout,
    Cancelled,
}

impl Stop {
    pub fn name(self) -> &'static str {
        match self {
            Stop::Timeout => "timeout",
            Stop::Cancelled => "cancelled",
        }
    }
}

/// The budget of the call running now (held by the world's database while it runs).
pub struct Budget {
    cancel: Arc<AtomicBool>,
    deadline: Option<Instant>,
    ticks: u32,
    pub stopped: Option<Stop>,
}

impl Budget {
    /// Whether the call must stop now; once it must, it always must.
    pub fn check(&mut self) -> bool {
        if self.stopped.is_some() {
            return true;
        }
        if self.cancel.load(Ordering::Relaxed) {
            self.stopped = Some(Stop::Cancelled);
        } else if self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.stopped = Some(Stop::Timeout);
        }
        self.stopped.is_some()
    }

    /// `check`, looking at the clock and the flag only every `TICKS` calls (JUMPDESTs).
    #[inline]
    pub fn tick(&mut self) -> bool {
        self.ticks = self.ticks.wrapping_add(1);
        if !self.ticks.is_multiple_of(TICKS) {
            return self.stopped.is_some();
        }
        self.check()
    }
}

/// A call's budget as Python holds it: `CallBudget(timeout_s=None)`; `cancel()` from any
/// thread stops a call running with it (the flag is read without the GIL).
#[pyclass(frozen, module = "consortium_revm")]
pub struct CallBudget {
    cancel: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

#[pymethods]
impl CallBudget {
    #[new]
    #[pyo3(signature = (timeout_s=None))]
    fn new(timeout_s: Option<f64>) -> PyResult<Self> {
        let deadline = match timeout_s {
            None => None,
            Some(t) if t.is_finite() && t >= 0.0 => {
                // a deadline past what Instant can hold is no deadline
                Instant::now().checked_add(Duration::from_secs_f64(t.min(1e9)))
            }
            Some(t) => {
                return Err(PyValueError::new_err(format!("timeout_s must be >= 0, not {t}")))
            }
        };
        Ok(CallBudget { cancel: Arc::new(AtomicBool::new(false)), deadline })
    }

    /// Stops every call running with this budget, and any started with it later.
    fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Cancelled, or past its deadline.
    #[getter]
    fn expired(&self) -> bool {
        self.cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

impl CallBudget {
    /// The budget of one call made with this one (same flag, same deadline).
    pub fn start(&self) -> Budget {
        Budget { cancel: self.cancel.clone(), deadline: self.deadline, ticks: 0, stopped: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_stops_at_its_deadline_and_stays_stopped() {
        let b = CallBudget::new(Some(0.0)).unwrap();
        let mut run = b.start();
        assert!(run.check());
        assert_eq!(run.stopped, Some(Stop::Timeout));
        assert!(run.tick());
    }

    #[test]
    fn cancel_reaches_a_running_budget_within_ticks() {
        let b = CallBudget::new(None).unwrap();
        let mut run = b.start();
        assert!(!run.check());
        b.cancel();
        let stopped_after = (1..=TICKS).find(|_| run.tick());
        assert!(stopped_after.is_some());
        assert_eq!(run.stopped, Some(Stop::Cancelled));
    }

    #[test]
    fn no_deadline_never_times_out() {
        let b = CallBudget::new(None).unwrap();
        let mut run = b.start();
        assert!((0..10 * TICKS).all(|_| !run.tick()));
        assert!(CallBudget::new(Some(-1.0)).is_err());
    }
}

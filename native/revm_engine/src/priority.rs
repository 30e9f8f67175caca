//! An API read runs below consensus while it executes, and at its own priority while it
//! holds the GIL.
//!
//! A node serves `eth_call` on worker threads of the same process as its ABCI server. Run
//! at normal priority, a flood of such calls takes the cores from CometBFT; run at
//! SCHED_IDLE throughout, a worker that holds the GIL (between two calls, or inside a
//! native contract's Python) is itself preempted by the other idle workers while the
//! consensus thread waits for that GIL: a flood of calls on two of four validators cut the
//! block rate to ×0.72 that way. So a budgeted call (an API read: blocks never have a
//! budget) lowers its thread to SCHED_IDLE only while it executes with the GIL released,
//! and every callback that takes the GIL (natives, guards, trie reads) raises the thread
//! back for as long as it holds it.

use std::cell::Cell;

use pyo3::prelude::*;

thread_local! {
    /// The policy to return to, while this thread is lowered.
    static SAVED: Cell<Option<libc::c_int>> = const { Cell::new(None) };
}

fn set_policy(policy: libc::c_int) -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    unsafe { libc::sched_setscheduler(0, policy, &param) == 0 }
}

/// Lowers the calling thread to SCHED_IDLE until dropped (a no-op if it was not allowed,
/// or the thread is lowered already).
pub struct Lowered {
    restore: Option<libc::c_int>,
}

pub fn lower() -> Lowered {
    if SAVED.with(Cell::get).is_some() {
        return Lowered { restore: None };
    }
    // SAFETY: pid 0 is the calling thread.
    let policy = unsafe { libc::sched_getscheduler(0) };
    if policy < 0 || policy == libc::SCHED_IDLE || !set_policy(libc::SCHED_IDLE) {
        return Lowered { restore: None };
    }
    SAVED.with(|s| s.set(Some(policy)));
    Lowered { restore: Some(policy) }
}

impl Drop for Lowered {
    fn drop(&mut self) {
        if let Some(policy) = self.restore {
            SAVED.with(|s| s.set(None));
            set_policy(policy);
        }
    }
}

/// `Python::attach`, at the thread's own priority for as long as it holds the GIL.
pub fn attach<R>(f: impl FnOnce(Python<'_>) -> R) -> R {
    match SAVED.with(Cell::get) {
        None => Python::attach(f),
        Some(policy) => {
            set_policy(policy);
            let out = Python::attach(f);
            set_policy(libc::SCHED_IDLE);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowered_only_while_held() {
        // SAFETY: pid 0 is the calling thread.
        let before = unsafe { libc::sched_getscheduler(0) };
        {
            let _low = lower();
            let now = unsafe { libc::sched_getscheduler(0) };
            assert_eq!(now, libc::SCHED_IDLE);
            let _again = lower(); // nested: no change, no restore on its drop
        }
        assert_eq!(unsafe { libc::sched_getscheduler(0) }, before);
    }
}

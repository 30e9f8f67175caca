//! `consortium_revm`: the consortium's fast execution engine — revm (Prague) behind the
//! world-state interface of `consortium.evm.engine`, native contracts served from Python.
//!
//! - `Engine`: what outlives blocks (decoded trie nodes, analysed code, the flat cache of the
//!   newest state root); one per store: decoded nodes carry their children's places in it.
//! - `World`: the state at one root in one block environment; transactions applied to it
//!   stay in memory until `persist(height)`, which answers the new root, the trie nodes (to
//!   store under that height) and code, and the diff. Python owns the database: the world
//!   reads misses through `fetch`.

mod budget;
mod conv;
mod natives;
mod priority;
mod rlp;
mod state;
mod trie;
mod txs;

use std::collections::HashMap;
use std::sync::Arc;

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use revm::context::result::ResultAndState;
use revm::context::result::{EVMError, ExecutionResult, HaltReason, Output};
use revm::context::{BlockEnv, CfgEnv, Context, ContextSetters, TxEnv};
use revm::context_interface::block::BlobExcessGasAndPrice;
use revm::context_interface::{ContextTr, JournalTr};
use revm::handler::{EthFrame, Handler, MainnetHandler};
use revm::interpreter::interpreter::EthInterpreter;
use revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE;
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, Bytes, TxKind, B256, U256};
use revm::MainContext;

use natives::{Ctx, Guarded, NativeTable};
use state::{BlockDb, Chain, Shared};

create_exception!(consortium_revm, InvalidTransaction, PyException);
// A budgeted call stopped before its end: its message is the reason, "timeout" or "cancelled".
create_exception!(consortium_revm, Interrupted, PyException);

/// The engine's own allocations (trie nodes above all: thousands made and dropped a block)
/// come from mimalloc; Python's are untouched.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type DbErr = state::DbError;
type Handled = MainnetHandler<Guarded<Ctx>, EVMError<DbErr>, EthFrame<EthInterpreter>>;

/// The caches that outlive a block.
#[pyclass(frozen)]
struct Engine {
    shared: Arc<Shared>,
}

#[pymethods]
impl Engine {
    #[new]
    fn new() -> Self {
        Engine { shared: Arc::new(Shared::default()) }
    }

    /// Sizes of the caches: decoded trie nodes, analysed code.
    fn stats(&self) -> (usize, usize) {
        let nodes = self.shared.nodes.lock().unwrap().len();
        let codes = self.shared.codes.lock().unwrap().len();
        (nodes, codes)
    }
}

/// One transaction's outcome, as Python's `ExecResult` wants it.
type PyResult6<'py> =
    (u8, Bound<'py, PyBytes>, u64, Bound<'py, PyList>, Option<Bound<'py, PyBytes>>, String);

/// revm's EVM holds `Rc`s and raw pointers that never leave a `transact` call. A `World` is
/// reached only through its methods, and PyO3's borrow flag gives each method exclusive
/// access (`&mut self`) for its whole run, GIL released or not: a second thread reaching the
/// same world meanwhile gets "already borrowed", never the cell. So it may move between
/// threads (a ledger builds its CheckTx world on the mempool thread and drops it on the
/// consensus thread) and run with the GIL released (`py.detach`): the only Python objects it
/// holds are `Py` handles, used under `Python::attach` in the callbacks, and every `Rc` and
/// pointer in it stays on the thread running the method.
struct EvmCell(Guarded<Ctx>);

// SAFETY: see `EvmCell`: access is serialised by PyO3's borrow checking, and nothing in the
// cell is shared outside it.
unsafe impl Send for EvmCell {}
unsafe impl Sync for EvmCell {}

#[pyclass]
struct World {
    evm: EvmCell,
}

impl World {
    fn db(&mut self) -> &mut BlockDb {
        &mut self.evm.0.evm.ctx.journaled_state.database
    }

    fn ctx(&mut self) -> &mut Ctx {
        &mut self.evm.0.evm.ctx
    }

    fn transact(&mut self, tx: TxEnv) -> Result<ResultAndState, EVMError<DbErr>> {
        self.ctx().set_tx(tx);
        let result = Handled::default().run(&mut self.evm.0);
        let state = self.ctx().journal_mut().finalize();
        result.map(|r| ResultAndState::new(r, state))
    }

    /// Runs a transaction and keeps its changes; needs no GIL (callbacks attach).
    fn execute(&mut self, tx: TxEnv) -> Result<ExecutionResult, Failure> {
        match self.transact(tx) {
            Ok(done) => {
                if self.db().budget.as_ref().is_some_and(|b| b.stopped.is_some()) {
                    return Ok(done.result); // a stopped call's state is thrown away
                }
                self.db().commit_tx(done.state).map_err(|e| Failure::Fatal(e.to_string()))?;
                Ok(done.result)
            }
            Err(EVMError::Transaction(e)) => Err(Failure::Invalid(e.to_string())),
            Err(EVMError::Header(e)) => Err(Failure::Invalid(e.to_string())),
            Err(e) => Err(Failure::Fatal(e.to_string())),
        }
    }

    /// `execute`, the outcome for Python. With `detach` the GIL is released meanwhile:
    /// for calls, not for a block's transactions one by one (`apply`), where handing the GIL
    /// over and back for each transaction made a block 2.5 times slower while another Python
    /// thread was busy (`apply_block` releases it once for the whole block).
    /// With `lower` too, the thread runs at SCHED_IDLE while detached (`priority`).
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        tx: TxEnv,
        detach: bool,
        lower: bool,
    ) -> PyResult<PyResult6<'py>> {
        let done = match (detach, lower) {
            (false, _) => self.execute(tx),
            (true, false) => py.detach(|| self.execute(tx)),
            (true, true) => py.detach(|| {
                let _idle = priority::lower();
                self.execute(tx)
            }),
        };
        match done {
            Ok(result) => outcome(py, result),
            Err(failure) => Err(self.failure(failure)),
        }
    }

    fn failure(&mut self, failure: Failure) -> PyErr {
        match failure {
            Failure::Invalid(why) => InvalidTransaction::new_err(why),
            Failure::Fatal(why) => self.db().py_error(why),
        }
    }
}

/// Why a transaction did not run: refused before execution (nothing changed), or a store or
/// callback failure (the Python error a callback raised is in the database's `err`).
enum Failure {
    Invalid(String),
    Fatal(String),
}

fn halt_name(reason: &HaltReason) -> String {
    // py-evm's names for the same failures, where there is one
    match reason {
        HaltReason::OutOfGas(_) => "OutOfGas",
        HaltReason::OpcodeNotFound | HaltReason::InvalidFEOpcode | HaltReason::NotActivated => {
            "InvalidInstruction"
        }
        HaltReason::InvalidJump => "InvalidJumpDestination",
        HaltReason::StackUnderflow => "InsufficientStack",
        HaltReason::StackOverflow => "FullStack",
        HaltReason::CreateCollision => "ContractCreationCollision",
        HaltReason::StateChangeDuringStaticCall | HaltReason::CallNotAllowedInsideStatic => {
            "WriteProtection"
        }
        HaltReason::OutOfFunds => "InsufficientFunds",
        HaltReason::CallTooDeep => "StackDepthLimit",
        HaltReason::OutOfOffset => "OutOfBoundsRead",
        HaltReason::PrecompileErrorWithContext(name) => return name.clone(),
        HaltReason::PrecompileError => "PrecompileError",
        other => return format!("{other:?}"),
    }
    .to_string()
}

fn outcome(py: Python<'_>, result: ExecutionResult) -> PyResult<PyResult6<'_>> {
    let gas_used = result.tx_gas_used();
    Ok(match result {
        ExecutionResult::Success { logs, output, .. } => {
            let items = PyList::empty(py);
            for log in &logs {
                let topics =
                    PyTuple::new(py, log.topics().iter().map(|t| PyBytes::new(py, t.as_slice())))?;
                items.append((
                    PyBytes::new(py, log.address.as_slice()),
                    topics,
                    PyBytes::new(py, &log.data.data),
                ))?;
            }
            let (data, created) = match output {
                Output::Call(data) => (data, None),
                Output::Create(data, address) => {
                    (data, address.map(|a| PyBytes::new(py, a.as_slice())))
                }
            };
            (1, PyBytes::new(py, &data), gas_used, items, created, String::new())
        }
        ExecutionResult::Revert { output, .. } => (
            0,
            PyBytes::new(py, &output),
            gas_used,
            PyList::empty(py),
            None,
            "execution reverted".into(),
        ),
        ExecutionResult::Halt { reason, .. } => {
            (0, PyBytes::new(py, b""), gas_used, PyList::empty(py), None, halt_name(&reason))
        }
    })
}

#[pymethods]
impl World {
    /// The state at `root` (its node stored at height `root_at`) for a block with these
    /// consensus facts. `fetch(key)` reads from the store (None if absent): a trie node by its
    /// 40-byte place (height, big-endian, then hash), code by its 32-byte hash; `natives` maps
    /// addresses to their `serve(frame)`; `guard(read, storage_address, code_address)` may
    /// refuse a call, and is not asked while every `guard_gates` slot ((address, slot), …)
    /// holds zero. `fetch_many(keys) -> [bytes | None]`, if given, reads nodes in batches
    /// (`prefetch`, `warm`).
    #[new]
    #[pyo3(signature = (engine, fetch, root, root_at, number, timestamp, coinbase, prevrandao,
                        gas_limit, chain_id, prev_hashes, natives, guard=None,
                        guard_gates=Vec::new(), fetch_many=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        engine: &Engine,
        fetch: Py<PyAny>,
        root: &[u8],
        root_at: u64,
        number: u64,
        timestamp: u64,
        coinbase: &[u8],
        prevrandao: &[u8],
        gas_limit: u64,
        chain_id: u64,
        prev_hashes: Vec<Vec<u8>>,
        natives: &Bound<'_, PyDict>,
        guard: Option<Py<PyAny>>,
        guard_gates: Vec<(Vec<u8>, Bound<'_, PyAny>)>,
        fetch_many: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let prev_hashes =
            prev_hashes.iter().map(|h| conv::b256(h)).collect::<PyResult<Vec<B256>>>()?;
        let mut serve = HashMap::new();
        for (address, f) in natives.iter() {
            serve.insert(conv::address(&address.extract::<Vec<u8>>()?)?, f.unbind());
        }
        let gates = guard_gates
            .iter()
            .map(|(address, slot)| Ok((conv::address(address)?, conv::u256_from_py(slot)?)))
            .collect::<PyResult<Vec<_>>>()?;
        let table = Arc::new(NativeTable { serve, guard, gates });
        let mut db = BlockDb::new(
            engine.shared.clone(),
            fetch,
            conv::b256(root)?,
            root_at,
            Chain { number, prev_hashes },
        );
        db.fetch_many = fetch_many;
        let mut cfg = CfgEnv::new_with_spec(SpecId::PRAGUE);
        cfg.chain_id = chain_id;
        cfg.set_gas_params(natives::gas_params());
        let block = BlockEnv {
            number: U256::from(number),
            beneficiary: conv::address(coinbase)?,
            timestamp: U256::from(timestamp),
            gas_limit,
            basefee: 0,
            difficulty: U256::ZERO,
            prevrandao: Some(conv::b256(prevrandao)?),
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(
                0,
                BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE,
            )),
            ..Default::default()
        };
        let ctx = Context::mainnet().with_db(db).with_cfg(cfg).with_block(block);
        Ok(World { evm: EvmCell(Guarded::new(ctx, table)) })
    }

    // --- reads ---------------------------------------------------------------------------

    fn get_balance<'py>(&mut self, py: Python<'py>, address: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        let a = conv::address(address)?;
        let db = self.db();
        let acct = db.account(&a).map_err(|e| db.py_error(e))?;
        conv::u256_to_py(py, &acct.map_or(U256::ZERO, |a| a.balance))
    }

    fn get_nonce(&mut self, address: &[u8]) -> PyResult<u64> {
        let a = conv::address(address)?;
        let db = self.db();
        let acct = db.account(&a).map_err(|e| db.py_error(e))?;
        Ok(acct.map_or(0, |a| a.nonce))
    }

    fn get_code<'py>(&mut self, py: Python<'py>, address: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let a = conv::address(address)?;
        let db = self.db();
        let acct = db.account(&a).map_err(|e| db.py_error(e))?;
        let Some(acct) = acct else { return Ok(PyBytes::new(py, b"")) };
        let code = db.code(&acct.code_hash).map_err(|e| db.py_error(e))?;
        Ok(PyBytes::new(py, &code.original_bytes()))
    }

    fn get_storage<'py>(
        &mut self,
        py: Python<'py>,
        address: &[u8],
        slot: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = conv::address(address)?;
        let key = conv::u256_from_py(slot)?;
        let db = self.db();
        let value = db.slot(&a, &key).map_err(|e| db.py_error(e))?;
        conv::u256_to_py(py, &value)
    }

    /// An account's storage root as of the root the world sits on (the last `persist()`).
    fn storage_root<'py>(
        &mut self,
        py: Python<'py>,
        address: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let a = conv::address(address)?;
        let db = self.db();
        let root = db.storage_root(&a).map_err(|e| db.py_error(e))?;
        Ok(PyBytes::new(py, root.as_slice()))
    }

    /// Loads into the engine's caches, in a few batched reads, the trie paths of `addresses`
    /// (a block's senders and recipients, before it runs). Answers how many nodes it read.
    fn prefetch(&mut self, addresses: Vec<Vec<u8>>) -> PyResult<usize> {
        let addresses =
            addresses.iter().map(|a| conv::address(a)).collect::<PyResult<Vec<Address>>>()?;
        let db = self.db();
        db.prefetch(&addresses).map_err(|e| db.py_error(e))
    }

    /// Loads the top of the state trie into the engine's caches, breadth first, up to
    /// `budget` nodes (a node opening a large state). Answers how many it read.
    fn warm(&mut self, budget: usize) -> PyResult<usize> {
        let db = self.db();
        db.warm(budget).map_err(|e| db.py_error(e))
    }

    // --- writes outside transactions (genesis) ---------------------------------------------

    fn set_balance(&mut self, address: &[u8], value: &Bound<'_, PyAny>) -> PyResult<()> {
        let (a, v) = (conv::address(address)?, conv::u256_from_py(value)?);
        let db = self.db();
        db.set_balance(a, v).map_err(|e| db.py_error(e))
    }

    fn set_nonce(&mut self, address: &[u8], nonce: u64) -> PyResult<()> {
        let a = conv::address(address)?;
        let db = self.db();
        db.set_nonce(a, nonce).map_err(|e| db.py_error(e))
    }

    fn set_code(&mut self, address: &[u8], code: &[u8]) -> PyResult<()> {
        let a = conv::address(address)?;
        let db = self.db();
        db.set_code(a, Bytes::copy_from_slice(code)).map_err(|e| db.py_error(e))
    }

    fn set_storage(
        &mut self,
        address: &[u8],
        slot: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let a = conv::address(address)?;
        let (k, v) = (conv::u256_from_py(slot)?, conv::u256_from_py(value)?);
        let db = self.db();
        db.set_slot(a, k, v).map_err(|e| db.py_error(e))
    }

    // --- execution -------------------------------------------------------------------------

    /// Applies a py-evm signed transaction whose `sender` is known. Raises
    /// InvalidTransaction (nothing changed) when revm refuses it before execution.
    fn apply<'py>(&mut self, py: Python<'py>, tx: &Bound<'py, PyAny>) -> PyResult<PyResult6<'py>> {
        let env = match tx.cast::<txs::RawTx>() {
            // decoded in Rust at CheckTx: its fields are here already, only the sender is not
            Ok(raw) => {
                let sender: Vec<u8> = tx.getattr(pyo3::intern!(py, "sender"))?.extract()?;
                raw.borrow().to_env(conv::address(&sender)?)
            }
            Err(_) => txs::from_pyevm(tx)?,
        };
        self.run(py, env, false, false)
    }

    /// Applies a raw signed transaction; `sender` skips recovery when already known.
    #[pyo3(signature = (raw, sender=None))]
    fn apply_raw<'py>(
        &mut self,
        py: Python<'py>,
        raw: &[u8],
        sender: Option<&[u8]>,
    ) -> PyResult<PyResult6<'py>> {
        let sender = sender.map(conv::address).transpose()?;
        let (_, env) = txs::from_raw(raw, sender).map_err(InvalidTransaction::new_err)?;
        self.run(py, env, false, false)
    }

    /// Applies a block's raw transactions in order (senders None: recover here). Each answer
    /// is an outcome tuple, or a string saying why the transaction was refused.
    fn apply_block<'py>(
        &mut self,
        py: Python<'py>,
        raws: Vec<Vec<u8>>,
        senders: Vec<Option<Vec<u8>>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let senders = (0..raws.len())
            .map(|i| senders.get(i).and_then(|s| s.as_deref()).map(conv::address).transpose())
            .collect::<PyResult<Vec<Option<Address>>>>()?;
        // the whole block runs with the GIL released
        let done = py.detach(|| {
            let mut done = Vec::with_capacity(raws.len());
            for (raw, sender) in raws.iter().zip(senders) {
                done.push(match txs::from_raw(raw, sender) {
                    Ok((_, env)) => match self.execute(env) {
                        Ok(result) => Ok(result),
                        Err(Failure::Invalid(why)) => Err(why),
                        Err(fatal) => return Err(fatal),
                    },
                    Err(why) => Err(why),
                });
            }
            Ok(done)
        });
        let done = done.map_err(|f| self.failure(f))?;
        let out = PyList::empty(py);
        for item in done {
            match item {
                Ok(result) => out.append(outcome(py, result)?)?,
                Err(why) => out.append(why)?,
            }
        }
        Ok(out)
    }

    /// eth_call: gas price 0, no nonce check; the state changes (do not persist it). Runs
    /// with the GIL released. With `budget` (a `CallBudget`), raises Interrupted("timeout" or
    /// "cancelled") once its deadline passes or it is cancelled, whatever the call did.
    #[pyo3(signature = (sender, to, value, data, gas, access_list=None, budget=None))]
    #[allow(clippy::too_many_arguments)]
    fn call<'py>(
        &mut self,
        py: Python<'py>,
        sender: &[u8],
        to: Option<&[u8]>,
        value: &Bound<'py, PyAny>,
        data: &[u8],
        gas: u64,
        access_list: Option<&Bound<'py, PyAny>>,
        budget: Option<&Bound<'py, budget::CallBudget>>,
    ) -> PyResult<PyResult6<'py>> {
        let caller = conv::address(sender)?;
        let nonce = {
            let db = self.db();
            db.account(&caller).map_err(|e| db.py_error(e))?.map_or(0, |a| a.nonce)
        };
        let env = TxEnv {
            tx_type: if access_list.is_some() { 1 } else { 0 },
            caller,
            gas_limit: gas,
            gas_price: 0,
            kind: match to {
                Some(t) if !t.is_empty() => TxKind::Call(conv::address(t)?),
                _ => TxKind::Create,
            },
            value: conv::u256_from_py(value)?,
            data: Bytes::copy_from_slice(data),
            nonce,
            chain_id: Some(self.ctx().cfg.chain_id),
            access_list: match access_list {
                Some(a) => txs::access_list(a)?,
                None => Default::default(),
            },
            ..Default::default()
        };
        let budgeted = budget.is_some();
        self.db().budget = budget.map(|b| b.get().start());
        self.evm.0.set_budgeted(budgeted);
        self.ctx().cfg.disable_nonce_check = true;
        let result = self.run(py, env, true, budgeted);
        self.ctx().cfg.disable_nonce_check = false;
        self.evm.0.set_budgeted(false);
        let stopped = self.db().budget.take().and_then(|b| b.stopped);
        if let Some(stop) = stopped {
            self.db().err = None; // a callback's error on the way out says nothing more
            return Err(Interrupted::new_err(stop.name()));
        }
        match result {
            Err(e) if e.is_instance_of::<InvalidTransaction>(py) => Ok((
                0,
                PyBytes::new(py, b""),
                gas,
                PyList::empty(py),
                None,
                e.value(py).to_string(),
            )),
            other => other,
        }
    }

    // --- the state root ----------------------------------------------------------------------

    /// The state root with every change so far (nothing stored, nothing remembered).
    fn state_root<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let db = self.db();
        let (root, _, _, _) = py.detach(|| db.compute_root(0)).map_err(|e| db.py_error(e))?;
        Ok(PyBytes::new(py, root.as_slice()))
    }

    /// Makes the changes so far the world's base, their new trie nodes stored at `height`.
    /// Answers the new root, the height its node is stored at, the nodes to store [(place,
    /// record)] (places as `fetch` takes them, ascending), the new code [(hash, code)], and
    /// with `diff` the diff [(address, None | (nonce, balance, code_hash, storage_root,
    /// storage_cleared, [(slot, value)]))] (else an empty list).
    #[allow(clippy::type_complexity)]
    #[pyo3(signature = (height, diff=false))]
    fn persist<'py>(
        &mut self,
        py: Python<'py>,
        height: u64,
        diff: bool,
    ) -> PyResult<(
        Bound<'py, PyBytes>,
        u64,
        Bound<'py, PyList>,
        Bound<'py, PyList>,
        Bound<'py, PyList>,
    )> {
        let db = self.db();
        // the root is computed with the GIL released (node misses attach to fetch)
        let (root, root_at, nodes, storage_roots) = py
            .detach(|| {
                let (root, root_at, mut nodes, storage_roots) = db.compute_root(height)?;
                nodes.sort_unstable_by_key(|n| n.hash);
                nodes.dedup_by_key(|n| n.hash);
                Ok::<_, trie::TrieError>((root, root_at, nodes, storage_roots))
            })
            .map_err(|e| db.py_error(e))?;
        let stored = PyList::empty(py);
        for n in &nodes {
            let key = state::node_key(&n.hash, height);
            stored.append((PyBytes::new(py, &key), PyBytes::new(py, &n.record)))?;
        }
        let codes = PyList::empty(py);
        for (h, code) in db.new_code() {
            codes.append((PyBytes::new(py, h.as_slice()), PyBytes::new(py, code)))?;
        }
        let changes = PyList::empty(py);
        let mut addresses: Vec<&Address> =
            if diff { db.accounts.keys().collect() } else { Vec::new() };
        addresses.sort();
        for address in addresses {
            let entry = match db.accounts[address] {
                None => py.None().into_bound(py),
                Some(a) => {
                    let (cleared, slots) = match db.storage.get(address) {
                        None => (false, PyList::empty(py)),
                        Some(o) => {
                            let mut sorted: Vec<_> = o.slots.iter().collect();
                            sorted.sort();
                            let slots = PyList::empty(py);
                            for (k, v) in sorted {
                                slots
                                    .append((conv::u256_to_py(py, k)?, conv::u256_to_py(py, v)?))?;
                            }
                            (o.cleared, slots)
                        }
                    };
                    let storage_root =
                        storage_roots.get(address).map_or(a.storage_root, |(root, _)| *root);
                    (
                        a.nonce,
                        conv::u256_to_py(py, &a.balance)?,
                        PyBytes::new(py, a.code_hash.as_slice()),
                        PyBytes::new(py, storage_root.as_slice()),
                        cleared,
                        slots,
                    )
                        .into_pyobject(py)?
                        .into_any()
                }
            };
            changes.append((PyBytes::new(py, address.as_slice()), entry))?;
        }
        db.rebase(root, root_at, nodes, storage_roots);
        Ok((PyBytes::new(py, root.as_slice()), root_at, stored, codes, changes))
    }

    /// Lets the shared caches learn the last `persist` (its nodes, its accounts and slots):
    /// call it once those nodes are in the store, so later worlds find them by place. A few
    /// milliseconds a block of service transactions, so the GIL is released meanwhile (the
    /// API's threads run beside it; nothing in it calls back into Python).
    fn keep(&mut self, py: Python<'_>) {
        let db = self.db();
        py.detach(|| db.keep());
    }

    /// The state root recomputed from every stored leaf with alloy-trie's HashBuilder (every
    /// storage root checked the same way): the oracle for the incremental trie. Slow.
    fn full_root<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let db = self.db();
        let root = db.full_root().map_err(|e| db.py_error(e))?;
        Ok(PyBytes::new(py, root.as_slice()))
    }
}

/// The 2,048-bit log bloom of `items` (addresses and topics), bit for bit eth_bloom's: three
/// bits from the first six bytes of each item's keccak. A block's bloom hashes every distinct
/// address and topic of its logs; in Python that was ~1.3 µs an item.
#[pyfunction]
fn log_bloom<'py>(py: Python<'py>, items: Vec<Vec<u8>>) -> Bound<'py, PyBytes> {
    PyBytes::new(py, &bloom_of(items.iter().map(Vec::as_slice)))
}

fn bloom_of<'a>(items: impl Iterator<Item = &'a [u8]>) -> [u8; 256] {
    let mut bloom = [0u8; 256];
    for item in items {
        let h = revm::primitives::keccak256(item);
        for i in [0usize, 2, 4] {
            let bit = ((usize::from(h[i]) << 8) | usize::from(h[i + 1])) & 2047;
            bloom[255 - bit / 8] |= 1 << (bit % 8);
        }
    }
    bloom
}

/// The sender of a raw signed transaction (decoded and recovered in Rust).
#[pyfunction]
fn recover_sender<'py>(py: Python<'py>, raw: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let sender = txs::recover(raw).map_err(PyValueError::new_err)?;
    Ok(PyBytes::new(py, sender.as_slice()))
}

/// `raw` decoded and its sender recovered: (transaction, sender), or None when py-evm's
/// decoder should decide (not canonical, another type, a signature that does not recover).
#[pyfunction]
fn decode_tx<'py>(
    py: Python<'py>,
    raw: &[u8],
) -> PyResult<Option<(Bound<'py, txs::RawTx>, Bound<'py, PyBytes>)>> {
    match txs::decode(raw, None) {
        None => Ok(None),
        Some((tx, sender)) => Ok(Some((Bound::new(py, tx)?, PyBytes::new(py, sender.as_slice())))),
    }
}

/// A transaction `decode_txs` decoded, with its recovered sender.
type DecodedTx<'py> = (Bound<'py, txs::RawTx>, Bound<'py, PyBytes>);

/// `decode_tx` for a whole batch, with the GIL released while it decodes and recovers: the
/// node's API primes CheckTx's sender cache from a worker thread this way, so signature
/// recovery runs beside the event loop instead of on it. `senders`, when given, has one
/// entry per raw: a 20-byte sender already recovered (taken as it is), or None.
#[pyfunction]
#[pyo3(signature = (raws, senders=None))]
fn decode_txs<'py>(
    py: Python<'py>,
    raws: Vec<Vec<u8>>,
    senders: Option<Vec<Option<Vec<u8>>>>,
) -> PyResult<Vec<Option<DecodedTx<'py>>>> {
    let known: Vec<Option<revm::primitives::Address>> = match senders {
        None => vec![None; raws.len()],
        Some(given) => {
            if given.len() != raws.len() {
                return Err(PyValueError::new_err(format!(
                    "{} senders for {} transactions",
                    given.len(),
                    raws.len()
                )));
            }
            given
                .iter()
                .map(|s| s.as_deref().map(conv::address).transpose())
                .collect::<PyResult<_>>()?
        }
    };
    let decoded: Vec<Option<(txs::RawTx, revm::primitives::Address)>> = py
        .detach(|| raws.iter().zip(known).map(|(raw, sender)| txs::decode(raw, sender)).collect());
    decoded
        .into_iter()
        .map(|item| match item {
            None => Ok(None),
            Some((tx, sender)) => {
                Ok(Some((Bound::new(py, tx)?, PyBytes::new(py, sender.as_slice()))))
            }
        })
        .collect()
}

#[pymodule]
fn consortium_revm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<World>()?;
    m.add_class::<budget::CallBudget>()?;
    m.add_class::<natives::NativeFrame>()?;
    m.add_function(wrap_pyfunction!(recover_sender, m)?)?;
    m.add_function(wrap_pyfunction!(decode_tx, m)?)?;
    m.add_function(wrap_pyfunction!(decode_txs, m)?)?;
    m.add_function(wrap_pyfunction!(log_bloom, m)?)?;
    m.add_class::<txs::RawTx>()?;
    m.add("InvalidTransaction", m.py().get_type::<InvalidTransaction>())?;
    m.add("Interrupted", m.py().get_type::<Interrupted>())?;
    m.add("REVM_VERSION", "43.0.3")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::bloom_of;

    #[test]
    fn bloom_is_eth_blooms() {
        assert_eq!(bloom_of(std::iter::empty()), [0u8; 256]);
        // eth_bloom's BloomFilter with b"consortium" added: bytes 58, 131 and 224 (big-endian)
        let mut expected = [0u8; 256];
        (expected[58], expected[131], expected[224]) = (32, 8, 16);
        assert_eq!(bloom_of([b"consortium".as_slice()].into_iter()), expected);
        let twice = bloom_of([b"consortium".as_slice(), b"consortium".as_slice()].into_iter());
        assert_eq!(twice, expected);
    }
}

//! Native contracts (Python classes) served as revm precompiles, and the call guards.
//!
//! For every message call revm asks the precompile provider first, after taking the call's
//! journal checkpoint and moving its value. The provider here:
//! 1. runs the call guards (Python): a refusal reverts the call with the guard's revert data
//!    and all its gas returned — the checkpoint revert undoes the value transfer;
//! 2. serves a native contract's address by calling its Python `serve(frame)`, where `frame`
//!    (`NativeFrame`) is the native's narrow view of the EVM: caller, value, block, gas,
//!    journaled storage and logs, calls to other contracts. Success keeps the changes; a
//!    revert or a halt makes revm revert the checkpoint;
//! 3. otherwise hands the call to Ethereum's precompiles (or to the interpreter).
//!
//! Creations do not reach the precompile provider: `Guarded` wraps the EVM and asks the
//! guards about each new contract's address as its frame starts (py-evm asks them about every
//! message, creations included); a refusal reverts the creation before its init code runs,
//! with all its gas returned. It also charges a creation transaction's EIP-3860 initcode cost
//! where py-evm does, in the creation's frame after the guards (the world's gas parameters
//! leave it out of the intrinsic gas), so py-evm's intrinsic gas is revm's and a creation
//! that cannot pay it runs out of gas in the EVM rather than being refused.
//!
//! A native's call to another contract runs as a nested frame loop on the same context and
//! journal (revm 43's precompiles cannot return a sub-call to the interpreter), so it goes
//! through the same call machinery as an EVM CALL: checkpoint, value, guards, natives,
//! Ethereum's precompiles, or EVM code.
//!
//! A `NativeFrame` holds a raw pointer to the EVM context, valid only while its call runs:
//! every method checks the frame is still live.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use revm::bytecode::opcode::JUMPDEST;
use revm::context::{BlockEnv, CfgEnv, Context, Evm, Journal, TxEnv};
use revm::context_interface::context::ContextError;
use revm::context_interface::{ContextTr, FrameStack, JournalTr, LocalContextTr};
use revm::database_interface::Database;
use revm::handler::evm::{ContextDbError, FrameInitResult};
use revm::handler::instructions::EthInstructions;
use revm::handler::{
    EthFrame, EthPrecompiles, EvmTr, FrameData, FrameResult, ItemOrResult, PrecompileProvider,
};
use revm::interpreter::interpreter::EthInterpreter;
use revm::interpreter::interpreter_action::FrameInit;
use revm::interpreter::{
    CallInput, CallInputs, CallScheme, CallValue, FrameInput, Gas, Instruction, InstructionContext,
    InstructionExecResult, InstructionResult, InterpreterResult, SharedMemory,
};
use revm::primitives::hardfork::SpecId;
use revm::primitives::{Address, AddressSet, Bytes, Log, B256, U256};

use crate::conv;
use crate::state::BlockDb;

pub type Ctx = Context<BlockEnv, TxEnv, CfgEnv, BlockDb, Journal<BlockDb>, ()>;

/// The context behind a precompile call: the block's own, or a native's nested frames'.
pub trait CtxPtr {
    fn ctx_ptr(&mut self) -> *mut Ctx;
    fn block_db(&mut self) -> &mut BlockDb;
}

impl CtxPtr for Ctx {
    fn ctx_ptr(&mut self) -> *mut Ctx {
        self
    }
    fn block_db(&mut self) -> &mut BlockDb {
        &mut self.journaled_state.database
    }
}

impl CtxPtr for &mut Ctx {
    fn ctx_ptr(&mut self) -> *mut Ctx {
        &mut **self
    }
    fn block_db(&mut self) -> &mut BlockDb {
        &mut self.journaled_state.database
    }
}

/// What a frame or a native stops with when its call's budget is spent (`budget`).
pub const OUT_OF_BUDGET: &str = "the call's budget is spent";

/// JUMPDEST for budgeted calls: a no-op that also ticks the budget and halts the frame once
/// it is spent (every loop passes a JUMPDEST, so this bounds a loop's wall-clock time).
fn budgeted_jumpdest<C: CtxPtr>(
    ic: InstructionContext<'_, C, EthInterpreter>,
) -> InstructionExecResult {
    let spent = ic.host.block_db().budget.as_mut().is_some_and(|b| b.tick());
    if spent {
        return Err(InstructionResult::OutOfGas);
    }
    Ok(())
}

/// revm's EVM over context `C`, with the natives, and the guards asked about creations.
pub struct Guarded<C: ContextTr + CtxPtr> {
    pub evm: Evm<C, (), EthInstructions<EthInterpreter, C>, Natives, EthFrame<EthInterpreter>>,
    table: Arc<NativeTable>,
}

impl<C: ContextTr + CtxPtr> Guarded<C>
where
    EthInstructions<EthInterpreter, C>: revm::handler::instructions::InstructionProvider<
        Context = C,
        InterpreterTypes = EthInterpreter,
    >,
{
    pub fn new(ctx: C, table: Arc<NativeTable>) -> Self {
        let evm = Evm {
            ctx,
            inspector: (),
            instruction: EthInstructions::new_mainnet_with_spec(SpecId::PRAGUE),
            precompiles: Natives::new(table.clone()),
            frame_stack: FrameStack::new_prealloc(8),
        };
        Guarded { evm, table }
    }

    /// Runs JUMPDEST as `budgeted_jumpdest` (on) or as the stock no-op (off): only budgeted
    /// calls pay for the check.
    pub fn set_budgeted(&mut self, on: bool) {
        let jumpdest = if on {
            Instruction::new(budgeted_jumpdest::<C>)
        } else {
            Instruction::new(
                revm::interpreter::instructions::control::jumpdest::<EthInterpreter, C>,
            )
        };
        self.evm.instruction.instruction_table_mut()[JUMPDEST as usize] = jumpdest;
    }
}

impl<C: ContextTr + CtxPtr> EvmTr for Guarded<C>
where
    EthInstructions<EthInterpreter, C>: revm::handler::instructions::InstructionProvider<
        Context = C,
        InterpreterTypes = EthInterpreter,
    >,
{
    type Context = C;
    type Instructions = EthInstructions<EthInterpreter, C>;
    type Precompiles = Natives;
    type Frame = EthFrame<EthInterpreter>;

    fn all(
        &self,
    ) -> (&Self::Context, &Self::Instructions, &Self::Precompiles, &FrameStack<Self::Frame>) {
        self.evm.all()
    }

    fn all_mut(
        &mut self,
    ) -> (
        &mut Self::Context,
        &mut Self::Instructions,
        &mut Self::Precompiles,
        &mut FrameStack<Self::Frame>,
    ) {
        self.evm.all_mut()
    }

    fn frame_init(
        &mut self,
        frame_input: FrameInit,
    ) -> Result<FrameInitResult<'_, Self::Frame>, ContextDbError<C>> {
        if self.evm.ctx.block_db().out_of_budget() {
            return Err(ContextError::Custom(OUT_OF_BUDGET.into()));
        }
        let is_create = matches!(frame_input.frame_input, FrameInput::Create(_));
        if let ItemOrResult::Result(result) = self.evm.frame_init(frame_input)? {
            return Ok(ItemOrResult::Result(result));
        }
        let created = match &self.evm.frame_stack.get().data {
            FrameData::Create(frame) if is_create => frame.created_address,
            _ => return Ok(ItemOrResult::Item(self.evm.frame_stack.get())),
        };
        let ctx = self.evm.ctx.ctx_ptr();
        let refusal = match self.table.guard_for(ctx) {
            Some(guard) => crate::priority::attach(|py| call_guard(py, ctx, guard, created, None)),
            None => Ok(None),
        };
        // SAFETY: the context outlives this call; nothing else borrows it now.
        let failed = unsafe { (*ctx).journal_mut().db_mut().err.is_some() };
        let refusal = match refusal {
            Ok(r) if !failed => r,
            Ok(_) => return Err(ContextError::Custom("a call guard's read failed".into())),
            Err(e) => return Err(ContextError::Custom(fatal(ctx, e))),
        };
        let frame = self.evm.frame_stack.get();
        let mut gas = frame.interpreter.gas;
        let result = match refusal {
            // End the new frame at once, as init code reverting would: its checkpoint is
            // reverted (value, the new account) and all its gas goes back.
            Some(output) => InterpreterResult::new(InstructionResult::Revert, output.into(), gas),
            None => {
                let FrameInput::Create(inputs) = &frame.input else { unreachable!() };
                let initcode_cost = 2 * (inputs.init_code().len() as u64).div_ceil(32);
                if frame.depth != 0 || frame.interpreter.gas.record_regular_cost(initcode_cost) {
                    return Ok(ItemOrResult::Item(self.evm.frame_stack.get()));
                }
                gas.spend_all();
                InterpreterResult::new(InstructionResult::OutOfGas, Bytes::new(), gas)
            }
        };
        let action = revm::interpreter::InterpreterAction::Return(result);
        let result =
            frame.process_next_action::<C, ContextDbError<C>>(&mut self.evm.ctx, action)?;
        frame.set_finished(true);
        self.evm.frame_stack.pop();
        match result {
            ItemOrResult::Result(result) => Ok(ItemOrResult::Result(result)),
            ItemOrResult::Item(_) => {
                Err(ContextError::Custom("a refused creation continued".into()))
            }
        }
    }

    fn frame_run(
        &mut self,
    ) -> Result<revm::handler::FrameInitOrResult<Self::Frame>, ContextDbError<C>> {
        self.evm.frame_run()
    }

    fn frame_return_result(
        &mut self,
        result: FrameResult,
    ) -> Result<Option<FrameResult>, ContextDbError<C>> {
        self.evm.frame_return_result(result)
    }
}

const STACK_DEPTH_LIMIT: usize = 1024;

/// The natives by address (their Python `serve` functions) and the call guard.
pub struct NativeTable {
    pub serve: HashMap<Address, Py<PyAny>>,
    pub guard: Option<Py<PyAny>>,
    /// Storage slots that are all zero whenever the guard would let every call through (no
    /// contract frozen, say): then the guard is not asked. Empty: always ask.
    pub gates: Vec<(Address, U256)>,
}

impl NativeTable {
    /// The guard to ask about this call, or None when there is none or its gates say it
    /// would not refuse (a gate that cannot be read leaves the decision to the guard).
    fn guard_for(&self, ctx: *mut Ctx) -> Option<&Py<PyAny>> {
        let guard = self.guard.as_ref()?;
        if self.gates.is_empty() {
            return Some(guard);
        }
        // SAFETY: called from the provider's `run` / `frame_init`, which hold the context.
        let ctx = unsafe { &mut *ctx };
        let open = self
            .gates
            .iter()
            .any(|(address, slot)| peek(ctx, *address, *slot).map_or(true, |v| !v.is_zero()));
        open.then_some(guard)
    }
}

pub struct Natives {
    table: Arc<NativeTable>,
    eth: EthPrecompiles,
    warm: AddressSet,
}

impl Natives {
    pub fn new(table: Arc<NativeTable>) -> Self {
        let eth = EthPrecompiles::new(SpecId::PRAGUE);
        let mut warm = eth.warm_addresses().clone();
        warm.extend(table.serve.keys().copied());
        Natives { table, eth, warm }
    }
}

/// Prague's gas, but a creation transaction's EIP-3860 initcode cost is not intrinsic: as in
/// py-evm, the creation's frame pays it (`Guarded::frame_init`).
pub fn gas_params() -> revm::context_interface::cfg::GasParams {
    use revm::context_interface::cfg::{GasId, GasParams};
    let mut params = GasParams::new_spec(SpecId::PRAGUE);
    params.override_gas([(GasId::tx_initcode_cost(), 0)]);
    params
}

fn frame_gas(limit: u64, reservoir: u64, remaining: u64) -> Gas {
    let mut gas = Gas::new_with_regular_gas_and_reservoir(limit, reservoir);
    let _ = gas.record_regular_cost(limit.saturating_sub(remaining));
    gas
}

/// Runs a call as its own frame loop on `ctx` (a native's call to another contract).
fn run_nested(
    ctx: &mut Ctx,
    table: &Arc<NativeTable>,
    inputs: CallInputs,
    depth: usize,
) -> Result<InterpreterResult, ContextError<crate::state::DbError>> {
    let budgeted = ctx.journaled_state.database.budget.is_some();
    let mut evm = Guarded::new(ctx, table.clone());
    evm.set_budgeted(budgeted);
    let init = FrameInit {
        depth,
        memory: SharedMemory::new(),
        frame_input: FrameInput::Call(Box::new(inputs)),
    };
    let result = match evm.frame_init(init)? {
        ItemOrResult::Result(result) => result,
        ItemOrResult::Item(_) => loop {
            let result = match evm.frame_run()? {
                ItemOrResult::Item(next) => match evm.frame_init(next)? {
                    ItemOrResult::Item(_) => continue,
                    ItemOrResult::Result(result) => result,
                },
                ItemOrResult::Result(result) => result,
            };
            if let Some(result) = evm.frame_return_result(result)? {
                break result;
            }
        },
    };
    match result {
        FrameResult::Call(outcome) => Ok(outcome.result),
        FrameResult::Create(outcome) => Ok(outcome.result),
    }
}

/// Keeps a Python error for the caller of `transact` and aborts the transaction.
fn fatal(ctx: *mut Ctx, err: PyErr) -> String {
    let message = err.to_string();
    // SAFETY: called from `run`, which holds the only reference to the context.
    unsafe { (*ctx).journal_mut().db_mut().err = Some(err) };
    message
}

impl<C: ContextTr + CtxPtr> PrecompileProvider<C> for Natives {
    type Output = InterpreterResult;

    fn set_spec(&mut self, spec: <C::Cfg as revm::context::Cfg>::Spec) -> bool {
        <EthPrecompiles as PrecompileProvider<C>>::set_spec(&mut self.eth, spec);
        let mut warm = self.eth.warm_addresses().clone();
        warm.extend(self.table.serve.keys().copied());
        self.warm = warm;
        true
    }

    fn run(
        &mut self,
        context: &mut C,
        inputs: &CallInputs,
    ) -> Result<Option<InterpreterResult>, String> {
        let ctx: *mut Ctx = context.ctx_ptr();
        if let Some(guard) = self.table.guard_for(ctx) {
            let refused = crate::priority::attach(|py| {
                call_guard(py, ctx, guard, inputs.target_address, Some(inputs.bytecode_address))
            });
            match refused {
                Ok(None) => {}
                Ok(Some(output)) => {
                    let gas = frame_gas(inputs.gas_limit, inputs.reservoir, inputs.gas_limit);
                    return Ok(Some(InterpreterResult::new(
                        InstructionResult::Revert,
                        output.into(),
                        gas,
                    )));
                }
                Err(e) => return Err(fatal(ctx, e)),
            }
            // SAFETY: as in `fatal`.
            if unsafe { (*ctx).journal_mut().db_mut().err.is_some() } {
                return Err("a call guard's storage read failed".into());
            }
        }
        let Some(serve) = self.table.serve.get(&inputs.bytecode_address) else {
            return <EthPrecompiles as PrecompileProvider<C>>::run(&mut self.eth, context, inputs);
        };
        let input = Bytes::copy_from_slice(&inputs.input.as_bytes(context));
        let call = Call {
            address: inputs.target_address,
            code_address: inputs.bytecode_address,
            caller: inputs.caller,
            value: inputs.value.get(),
            is_static: inputs.is_static,
            input,
            gas: inputs.gas_limit,
        };
        let outcome = crate::priority::attach(|py| run_native(py, ctx, &self.table, serve, call));
        let (status, output, remaining, refunded) = match outcome {
            Ok(o) => o,
            Err(e) => return Err(fatal(ctx, e)),
        };
        // SAFETY: as in `fatal`.
        if unsafe { (*ctx).journal_mut().db_mut().err.is_some() } {
            return Err("a native contract's storage read failed".into());
        }
        let result = match status {
            0 => {
                let mut gas = frame_gas(inputs.gas_limit, inputs.reservoir, remaining);
                gas.record_refund(refunded);
                InterpreterResult::new(InstructionResult::Return, output.into(), gas)
            }
            1 => InterpreterResult::new(
                InstructionResult::Revert,
                output.into(),
                frame_gas(inputs.gas_limit, inputs.reservoir, remaining),
            ),
            _ => {
                if context.journal().depth() == 1 {
                    // the transaction's error: py-evm's name for what stopped the native
                    let name = String::from_utf8_lossy(&output).into_owned();
                    context.local_mut().set_precompile_error_context(name);
                }
                let mut gas = frame_gas(inputs.gas_limit, inputs.reservoir, 0);
                gas.spend_all();
                InterpreterResult::new(InstructionResult::PrecompileError, Bytes::new(), gas)
            }
        };
        Ok(Some(result))
    }

    fn warm_addresses(&self) -> &AddressSet {
        &self.warm
    }

    fn contains(&self, address: &Address) -> bool {
        self.warm.contains(address)
    }
}

/// Storage as the running transaction sees it, without warming anything (EIP-2929 warmth is
/// the EVM code's business; py-evm's natives and guards do not warm either).
fn peek(ctx: &mut Ctx, address: Address, key: U256) -> Result<U256, String> {
    if let Some(account) = ctx.journal_ref().evm_state().get(&address) {
        if let Some(slot) = account.storage.get(&key) {
            return Ok(slot.present_value);
        }
        if account.is_created() {
            return Ok(U256::ZERO);
        }
    }
    ctx.journal_mut().db_mut().storage(address, key).map_err(|e| e.to_string())
}

/// Asks the guard whether this call may run: None, or the revert data refusing it.
fn call_guard(
    py: Python<'_>,
    ctx: *mut Ctx,
    guard: &Py<PyAny>,
    storage_address: Address,
    code_address: Option<Address>,
) -> PyResult<Option<Vec<u8>>> {
    let reader = Py::new(py, SlotReader { ctx, live: Cell::new(true) })?;
    let answer = guard.call1(
        py,
        (
            reader.clone_ref(py),
            PyBytes::new(py, storage_address.as_slice()),
            // a creation's code address is py-evm's CREATE_CONTRACT_ADDRESS, b""
            PyBytes::new(py, code_address.as_ref().map_or(&[][..], |a| a.as_slice())),
        ),
    );
    reader.borrow(py).live.set(false);
    let answer = answer?;
    if answer.is_none(py) {
        Ok(None)
    } else {
        Ok(Some(answer.extract::<Vec<u8>>(py)?))
    }
}

/// `read(address, slot) -> int` for call guards.
#[pyclass(unsendable)]
pub struct SlotReader {
    ctx: *mut Ctx,
    live: Cell<bool>,
}

#[pymethods]
impl SlotReader {
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        address: &[u8],
        slot: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !self.live.get() {
            return Err(PyRuntimeError::new_err("this storage reader's call has ended"));
        }
        let address = conv::address(address)?;
        let key = conv::u256_from_py(slot)?;
        // SAFETY: live, so the provider's `run` is on the stack and the context is valid.
        let ctx = unsafe { &mut *self.ctx };
        let value = peek(ctx, address, key).map_err(PyRuntimeError::new_err)?;
        conv::u256_to_py(py, &value)
    }
}

struct Call {
    address: Address,
    code_address: Address,
    caller: Address,
    value: U256,
    is_static: bool,
    input: Bytes,
    gas: u64,
}

/// Runs a native's `serve(frame)`: (status 0 success / 1 revert / 2 halt, output, gas left,
/// gas refund earned by its sub-calls).
fn run_native(
    py: Python<'_>,
    ctx: *mut Ctx,
    table: &Arc<NativeTable>,
    serve: &Py<PyAny>,
    call: Call,
) -> PyResult<(u8, Vec<u8>, u64, i64)> {
    let frame = Py::new(
        py,
        NativeFrame {
            ctx,
            table: table.clone(),
            live: Cell::new(true),
            remaining: Cell::new(call.gas),
            refunded: Cell::new(0),
            write_prices: Cell::new(None),
            call,
        },
    )?;
    let answer = serve.call1(py, (frame.clone_ref(py),));
    let (remaining, refunded) = {
        let f = frame.borrow(py);
        f.live.set(false);
        (f.remaining.get(), f.refunded.get())
    };
    let (status, output): (u8, Vec<u8>) = answer?.extract(py)?;
    match status {
        0 => Ok((0, output, remaining, refunded)),
        1 => Ok((1, output, remaining, 0)),
        _ => Ok((2, output, 0, 0)),
    }
}

/// A native contract's view of its call (see `consortium.evm.revm_engine.RevmHost`).
#[pyclass(unsendable)]
pub struct NativeFrame {
    ctx: *mut Ctx,
    table: Arc<NativeTable>,
    live: Cell<bool>,
    remaining: Cell<u64>,
    refunded: Cell<i64>,
    /// Set by `price_writes` (the chain's native gas schedule 2): a write that changes a
    /// slot already set, or clears it, costs the first price and one that leaves the slot
    /// as it is the second, by the slot's present value; a write that sets an empty slot
    /// costs what the caller passes. None (schedule 1): every write what the caller passes.
    write_prices: Cell<Option<(u128, u128)>>,
    call: Call,
}

impl NativeFrame {
    // the context is reached through the frame's raw pointer, not through `self`
    #[allow(clippy::mut_from_ref)]
    fn ctx(&self) -> PyResult<&mut Ctx> {
        if !self.live.get() {
            return Err(PyRuntimeError::new_err("this native contract call has ended"));
        }
        // SAFETY: live, so the call that made this frame is on the stack and owns the context.
        Ok(unsafe { &mut *self.ctx })
    }

    fn db_error(&self, e: impl std::fmt::Display) -> PyErr {
        PyRuntimeError::new_err(format!("engine storage read failed: {e}"))
    }

    /// A slot of the native's own storage (journaled): what `sload` answers.
    fn read(&self, key: U256) -> PyResult<U256> {
        let journal = self.ctx()?.journal_mut();
        journal.load_account(self.call.address).map_err(|e| self.db_error(e))?;
        Ok(journal.sload(self.call.address, key).map_err(|e| self.db_error(e))?.data)
    }

    /// A write of the native's own storage (journaled): what `sstore` does.
    fn write(&self, key: U256, value: U256) -> PyResult<()> {
        let journal = self.ctx()?.journal_mut();
        journal.load_account(self.call.address).map_err(|e| self.db_error(e))?;
        journal.sstore(self.call.address, key, value).map_err(|e| self.db_error(e))?;
        Ok(())
    }

    /// `charged_sload` without Python values: None when the gas ran out.
    fn charged_read(&self, gas: u128, key: U256) -> PyResult<Option<U256>> {
        if !self.charge(gas)? {
            return Ok(None);
        }
        self.read(key).map(Some)
    }

    /// `charged_sstore` without Python values: false when the gas ran out. `gas` is the
    /// price of a write to an empty slot; with `write_prices` set the others are priced by
    /// the slot's present value, read first (a read costs nothing here: only the charge).
    fn charged_write(&self, gas: u128, key: U256, value: U256) -> PyResult<bool> {
        let price = match self.write_prices.get() {
            None => gas,
            Some((change, same)) => {
                let present = self.read(key)?;
                if present == value {
                    same
                } else if present.is_zero() {
                    gas
                } else {
                    change
                }
            }
        };
        if !self.charge(price)? {
            return Ok(false);
        }
        self.write(key, value)?;
        Ok(true)
    }
}

/// Solidity's slot of mapping entry [key] at `slot`: keccak256(key . slot), both 32-byte
/// words (`consortium.evm.storage.Storage.at` of an integer key).
fn mapping_slot(slot: U256, key: U256) -> U256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&key.to_be_bytes::<32>());
    buf[32..].copy_from_slice(&slot.to_be_bytes::<32>());
    U256::from_be_bytes(revm::primitives::keccak256(buf).0)
}

#[pymethods]
impl NativeFrame {
    #[getter]
    fn address<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.call.address.as_slice())
    }

    #[getter]
    fn code_address<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.call.code_address.as_slice())
    }

    #[getter]
    fn caller<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.call.caller.as_slice())
    }

    #[getter]
    fn origin<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let ctx = self.ctx()?;
        Ok(PyBytes::new(py, ctx.tx.caller.as_slice()))
    }

    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::u256_to_py(py, &self.call.value)
    }

    #[getter]
    fn is_static(&self) -> bool {
        self.call.is_static
    }

    #[getter]
    fn input<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.call.input)
    }

    /// (number, timestamp, coinbase, chain id, prevrandao, gas limit)
    #[getter]
    #[allow(clippy::type_complexity)]
    fn block<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(u64, u64, Bound<'py, PyBytes>, u64, Bound<'py, PyBytes>, u64)> {
        let ctx = self.ctx()?;
        let b = &ctx.block;
        Ok((
            b.number.to::<u64>(),
            b.timestamp.to::<u64>(),
            PyBytes::new(py, b.beneficiary.as_slice()),
            ctx.cfg.chain_id,
            PyBytes::new(py, b.prevrandao.unwrap_or_default().as_slice()),
            b.gas_limit,
        ))
    }

    fn gas_left(&self) -> u64 {
        self.remaining.get()
    }

    /// Takes `gas`; False (and nothing taken) when there is not that much left, or when the
    /// call's budget is spent (the native then stops as out of gas).
    fn charge(&self, gas: u128) -> PyResult<bool> {
        let left = self.remaining.get();
        if self.ctx()?.journaled_state.database.out_of_budget() {
            return Ok(false);
        }
        if gas > left as u128 {
            return Ok(false);
        }
        self.remaining.set(left - gas as u64);
        Ok(true)
    }

    /// Gives back gas a sub-call did not use.
    fn refund(&self, gas: u64) {
        self.remaining.set(self.remaining.get() + gas);
    }

    /// A slot of the native's own storage (journaled).
    fn sload<'py>(&self, py: Python<'py>, slot: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let value = self.read(conv::u256_from_py(slot)?)?;
        conv::u256_to_py(py, &value)
    }

    /// `charge(gas)`, then `sload(slot)` if it was there (else None, nothing read): the
    /// hottest pair a native makes, in one crossing.
    fn charged_sload<'py>(
        &self,
        py: Python<'py>,
        gas: u128,
        slot: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        if !self.charge(gas)? {
            return Ok(None);
        }
        self.sload(py, slot).map(Some)
    }

    /// `charge(gas)`, then `sstore(slot, value)` if it was there; whether it was (`gas`:
    /// a write's price, or with `price_writes` a write's to an empty slot).
    fn charged_sstore(
        &self,
        gas: u128,
        slot: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let Some((change, _)) = self.write_prices.get() else {
            if !self.charge(gas)? {
                return Ok(false);
            }
            self.sstore(slot, value)?;
            return Ok(true);
        };
        let key = conv::u256_from_py(slot)?;
        match conv::u256_from_py(value) {
            Ok(value) => self.charged_write(gas, key, value),
            Err(refused) => {
                // a value no slot holds: priced as a change (never "the same"), then
                // refused after the charge, as the slot-by-slot path refuses it
                let price = if self.read(key)?.is_zero() { gas } else { change };
                if !self.charge(price)? {
                    return Ok(false);
                }
                Err(refused)
            }
        }
    }

    /// From now on this frame's writes are priced by the slot's present value: `change`
    /// for one that changes or clears a set slot, `same` for one that leaves it as it is
    /// (the chain's native gas schedule 2; `consortium.evm.native.write_gas`).
    fn price_writes(&self, change: u128, same: u128) {
        self.write_prices.set(Some((change, same)));
    }

    /// `WordSet.add(key)` (`add`) or `WordSet.remove(key)` of the set at `slot`
    /// (`consortium.evm.records`) in one crossing: the same reads and writes in the same
    /// order, each charged as `charged_sload` / `charged_sstore` charge it. First the key's
    /// position (at(slot + 1, key)); if the key is to be added and is not there, or to be
    /// removed and is, the count, then for an add the item, the position and the count; for
    /// a remove (when the key is not the last item) the last item, moved into the key's place
    /// with its position, then the last place emptied, the key's position and the count.
    /// Whether the set changed; None when the gas ran out (what was written stays in the
    /// journal: the frame reverts). A key with a position has a count of at least that
    /// position (the set's own writes keep it so).
    fn word_set(
        &self,
        add: bool,
        sload_gas: u128,
        sstore_gas: u128,
        slot: &Bound<'_, PyAny>,
        key: &Bound<'_, PyAny>,
    ) -> PyResult<Option<bool>> {
        let (slot, key) = (conv::u256_from_py(slot)?, conv::u256_from_py(key)?);
        let one = U256::from(1);
        let positions = slot.wrapping_add(one);
        let index = mapping_slot(positions, key);
        let Some(position) = self.charged_read(sload_gas, index)? else { return Ok(None) };
        if position.is_zero() != add {
            return Ok(Some(false));
        }
        let Some(n) = self.charged_read(sload_gas, slot)? else { return Ok(None) };
        // a count the set's own writes never leave (none with a key in it, or the largest
        // word): the slot-by-slot code refuses the write of count - 1 or count + 1 where it
        // comes, after the writes before it, and so does this
        let refused = if add { n == U256::MAX } else { n.is_zero() };
        let mut writes = Vec::with_capacity(5);
        if add {
            let count = n.wrapping_add(one);
            writes.extend([(mapping_slot(slot, n), key), (index, count), (slot, count)]);
        } else {
            let last = n.wrapping_sub(one);
            if position.wrapping_sub(one) != last {
                let Some(moved) = self.charged_read(sload_gas, mapping_slot(slot, last))? else {
                    return Ok(None);
                };
                writes.push((mapping_slot(slot, position.wrapping_sub(one)), moved));
                writes.push((mapping_slot(positions, moved), position));
            }
            writes.extend([
                (mapping_slot(slot, last), U256::ZERO),
                (index, U256::ZERO),
                (slot, last),
            ]);
        }
        for (i, (at, value)) in writes.iter().enumerate() {
            // add: its position and count are count + 1; remove: its count is count - 1
            if refused && (i + 1 == writes.len() || (add && i == 1)) {
                return Err(PyValueError::new_err("uint256 out of range"));
            }
            if !self.charged_write(sstore_gas, *at, *value)? {
                return Ok(None);
            }
        }
        Ok(Some(true))
    }

    /// `charged_sload` of each slot in order, in one crossing (a record's fields): the words
    /// read; None when the gas ran out (the reads before it charged, as one at a time).
    fn charged_sloads<'py>(
        &self,
        py: Python<'py>,
        gas: u128,
        slots: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Vec<Bound<'py, PyAny>>>> {
        let mut words = Vec::with_capacity(slots.len());
        for slot in &slots {
            // charged before the slot is read as a word, as `charged_sload` does
            if !self.charge(gas)? {
                return Ok(None);
            }
            words.push(conv::u256_to_py(py, &self.read(conv::u256_from_py(slot)?)?)?);
        }
        Ok(Some(words))
    }

    /// `charged_sstore` of each (slot, value) in order, in one crossing (a record's fields);
    /// false when the gas ran out (the writes before it stay in the journal: the frame
    /// reverts).
    fn charged_sstores(
        &self,
        gas: u128,
        writes: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)>,
    ) -> PyResult<bool> {
        for (slot, value) in &writes {
            if !self.charged_sstore(gas, slot, value)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// A slot of any account, as the transaction sees it (nothing warmed).
    fn peek<'py>(
        &self,
        py: Python<'py>,
        address: &[u8],
        slot: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let address = conv::address(address)?;
        let key = conv::u256_from_py(slot)?;
        let value = peek(self.ctx()?, address, key).map_err(|e| self.db_error(e))?;
        conv::u256_to_py(py, &value)
    }

    fn sstore(&self, slot: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.write(conv::u256_from_py(slot)?, conv::u256_from_py(value)?)
    }

    fn log(&self, topics: Vec<Vec<u8>>, data: &[u8]) -> PyResult<()> {
        let topics = topics.iter().map(|t| conv::b256(t)).collect::<PyResult<Vec<B256>>>()?;
        let ctx = self.ctx()?;
        ctx.journal_mut().log(Log::new_unchecked(
            self.call.address,
            topics,
            Bytes::copy_from_slice(data),
        ));
        Ok(())
    }

    /// Calls another contract as this native with `gas` (already taken from this frame),
    /// as an EVM CALL would (STATICCALL inside a static call). Answers (status, output, gas
    /// left): 0 success, 1 failure (revert or halt), 2 stack depth limit, 3 insufficient
    /// balance for `value` (py-evm raises for those two). As in py-evm, the call guards are
    /// asked first: a refused call reverts (all its gas back) whatever its depth or value.
    fn subcall<'py>(
        &self,
        py: Python<'py>,
        to: &[u8],
        data: &[u8],
        value: &Bound<'py, PyAny>,
        gas: u64,
    ) -> PyResult<(u8, Bound<'py, PyBytes>, u64)> {
        let to = conv::address(to)?;
        let value = conv::u256_from_py(value)?;
        self.ctx()?; // still live
        if let Some(guard) = self.table.guard_for(self.ctx) {
            let refused = call_guard(py, self.ctx, guard, to, Some(to))?;
            // SAFETY: live (checked above), so the context is valid.
            if unsafe { (*self.ctx).journal_mut().db_mut().err.is_some() } {
                return Err(PyRuntimeError::new_err("a call guard's storage read failed"));
            }
            if let Some(output) = refused {
                return Ok((1, PyBytes::new(py, &output), gas));
            }
        }
        let ctx = self.ctx()?;
        let me = self.call.address;
        let empty = |py| PyBytes::new(py, b"");
        let depth = ctx.journal_ref().depth();
        if depth > STACK_DEPTH_LIMIT {
            return Ok((2, empty(py), 0));
        }
        let tx_id = ctx.journaled_state.inner.transaction_id;
        let was_warm = ctx
            .journal_ref()
            .evm_state()
            .get(&to)
            .is_some_and(|a| !a.is_cold_transaction_id(tx_id));
        let journal = ctx.journal_mut();
        let balance = journal.load_account(me).map_err(|e| self.db_error(e))?.data.info.balance;
        if !value.is_zero() && balance < value {
            return Ok((3, empty(py), 0));
        }
        let known_bytecode = {
            let account = journal.load_account_with_code(to).map_err(|e| self.db_error(e))?;
            let info = &account.data.info;
            (info.code_hash, info.code.clone().unwrap_or_default())
        };
        if !was_warm {
            // a native's call does not warm its target (as in py-evm): only EVM opcodes do
            if let Some(account) = journal.evm_state_mut().get_mut(&to) {
                account.mark_cold();
            }
        }
        let inputs = CallInputs {
            input: CallInput::Bytes(Bytes::copy_from_slice(data)),
            return_memory_offset: 0..0,
            gas_limit: gas,
            reservoir: 0,
            bytecode_address: to,
            known_bytecode,
            target_address: to,
            caller: me,
            value: CallValue::Transfer(value),
            scheme: if self.call.is_static { CallScheme::StaticCall } else { CallScheme::Call },
            is_static: self.call.is_static,
            charged_new_account_state_gas: false,
        };
        let result = run_nested(ctx, &self.table, inputs, depth).map_err(|e| {
            let db = &mut ctx.journal_mut().database;
            db.err.take().unwrap_or_else(|| PyRuntimeError::new_err(format!("{e:?}")))
        })?;
        if ctx.journal_mut().db_mut().err.is_some() {
            return Err(PyRuntimeError::new_err("engine storage read failed in a sub-call"));
        }
        if result.result.is_ok() {
            self.refunded.set(self.refunded.get() + result.gas.refunded());
            return Ok((0, PyBytes::new(py, &result.output), result.gas.remaining()));
        }
        if result.result.is_revert() {
            return Ok((1, PyBytes::new(py, &result.output), result.gas.remaining()));
        }
        Ok((1, empty(py), 0))
    }
}

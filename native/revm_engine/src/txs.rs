//! Transactions into revm's `TxEnv`: from py-evm's decoded objects (the ledger's path: the
//! sender was recovered once, at CheckTx), or from raw EIP-2718 bytes decoded here, with the
//! sender recovered here unless the caller already knows it.

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use revm::context::TxEnv;
use revm::context_interface::transaction::{AccessList, AccessListItem};
use revm::primitives::{keccak256, Address, Bytes, TxKind, B256, U256};

use crate::conv;

/// A `TxEnv` from a py-evm signed transaction whose `sender` is set.
pub fn from_pyevm(tx: &Bound<'_, PyAny>) -> PyResult<TxEnv> {
    let py = tx.py();
    let type_id: Option<u8> = tx.getattr(intern!(py, "type_id"))?.extract()?;
    let to: Vec<u8> = tx.getattr(intern!(py, "to"))?.extract()?;
    let sender: Vec<u8> = tx.getattr(intern!(py, "sender"))?.extract()?;
    let mut env = TxEnv {
        tx_type: type_id.unwrap_or(0),
        caller: conv::address(&sender)?,
        gas_limit: tx.getattr(intern!(py, "gas"))?.extract()?,
        kind: if to.is_empty() { TxKind::Create } else { TxKind::Call(conv::address(&to)?) },
        value: conv::u256_from_py(&tx.getattr(intern!(py, "value"))?)?,
        data: Bytes::from(tx.getattr(intern!(py, "data"))?.extract::<Vec<u8>>()?),
        nonce: tx.getattr(intern!(py, "nonce"))?.extract()?,
        chain_id: tx.getattr(intern!(py, "chain_id"))?.extract()?,
        ..Default::default()
    };
    match type_id {
        Some(2) => {
            env.gas_price = tx.getattr(intern!(py, "max_fee_per_gas"))?.extract()?;
            env.gas_priority_fee =
                Some(tx.getattr(intern!(py, "max_priority_fee_per_gas"))?.extract()?);
        }
        _ => env.gas_price = tx.getattr(intern!(py, "gas_price"))?.extract()?,
    }
    if type_id.is_some() {
        env.access_list = access_list(&tx.getattr(intern!(py, "access_list"))?)?;
    }
    Ok(env)
}

/// An access list from Python: ((address, (slot int, …)), …).
pub fn access_list(ob: &Bound<'_, PyAny>) -> PyResult<AccessList> {
    let mut items = Vec::new();
    for entry in ob.try_iter()? {
        let entry = entry?;
        let address: Vec<u8> = entry.get_item(0)?.extract()?;
        let mut storage_keys = Vec::new();
        for slot in entry.get_item(1)?.try_iter()? {
            storage_keys.push(B256::from(conv::u256_from_py(&slot?)?.to_be_bytes::<32>()));
        }
        items.push(AccessListItem { address: conv::address(&address)?, storage_keys });
    }
    Ok(AccessList(items))
}

/// A raw transaction decoded: its hash, sender (recovered unless given) and `TxEnv`.
pub fn from_raw(raw: &[u8], sender: Option<Address>) -> Result<(B256, TxEnv), String> {
    let envelope =
        TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| format!("cannot decode: {e}"))?;
    let caller = match sender {
        Some(s) => s,
        None => envelope.recover_signer().map_err(|e| format!("bad signature: {e}"))?,
    };
    let tx_type = envelope.tx_type() as u8;
    let mut env = TxEnv {
        tx_type,
        caller,
        gas_limit: envelope.gas_limit(),
        kind: envelope.kind(),
        value: envelope.value(),
        data: envelope.input().clone(),
        nonce: envelope.nonce(),
        chain_id: envelope.chain_id(),
        ..Default::default()
    };
    match envelope.max_priority_fee_per_gas() {
        Some(priority) if tx_type == 2 => {
            env.gas_price = envelope.max_fee_per_gas();
            env.gas_priority_fee = Some(priority);
        }
        _ => env.gas_price = envelope.gas_price().unwrap_or_default(),
    }
    if let Some(list) = envelope.access_list() {
        env.access_list = list.clone();
    }
    if tx_type > 2 {
        return Err(format!("transaction type {tx_type} is not accepted"));
    }
    Ok((keccak256(raw), env))
}

/// The sender of a raw signed transaction.
pub fn recover(raw: &[u8]) -> Result<Address, String> {
    let envelope =
        TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| format!("cannot decode: {e}"))?;
    envelope.recover_signer().map_err(|e| format!("bad signature: {e}"))
}

/// A decoded signed transaction with the attributes of py-evm's transaction objects that the
/// ledger reads (for CheckTx without py-evm's decoder): `decode_tx` makes it, `sender` is
/// the recovered sender (py-evm's code sets it as `tx.__dict__["sender"]` too).
#[pyclass(dict, module = "consortium_revm")]
pub struct RawTx {
    #[pyo3(get)]
    type_id: Option<u8>,
    #[pyo3(get)]
    nonce: u64,
    #[pyo3(get)]
    gas: u64,
    to: Option<Address>,
    value: U256,
    data: Bytes,
    #[pyo3(get)]
    chain_id: Option<u64>,
    #[pyo3(get)]
    gas_price: u128,
    #[pyo3(get)]
    max_fee_per_gas: u128,
    #[pyo3(get)]
    max_priority_fee_per_gas: u128,
    access: Vec<(Address, Vec<B256>)>,
    r: U256,
    s: U256,
    #[pyo3(get)]
    v: u64,
    #[pyo3(get)]
    y_parity: u8,
    #[pyo3(get)]
    intrinsic_gas: u64,
}

#[pymethods]
impl RawTx {
    #[getter]
    fn to<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.to.as_ref().map_or(&[][..], |a| a.as_slice()))
    }

    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::u256_to_py(py, &self.value)
    }

    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.data)
    }

    #[getter]
    fn r<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::u256_to_py(py, &self.r)
    }

    #[getter]
    fn s<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        conv::u256_to_py(py, &self.s)
    }

    /// ((address, (slot, …)), …), as py-evm's transactions answer it.
    #[getter]
    fn access_list<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let mut items = Vec::with_capacity(self.access.len());
        for (address, keys) in &self.access {
            let slots = keys
                .iter()
                .map(|k| conv::u256_to_py(py, &U256::from_be_bytes(k.0)))
                .collect::<PyResult<Vec<_>>>()?;
            items.push((PyBytes::new(py, address.as_slice()), PyTuple::new(py, slots)?));
        }
        PyTuple::new(py, items)
    }
}

impl RawTx {
    /// The `TxEnv` of this transaction sent by `caller`: what `from_pyevm` builds from a
    /// py-evm object, without a Python attribute read per field.
    pub fn to_env(&self, caller: Address) -> TxEnv {
        let mut env = TxEnv {
            tx_type: self.type_id.unwrap_or(0),
            caller,
            gas_limit: self.gas,
            kind: match self.to {
                Some(to) => TxKind::Call(to),
                None => TxKind::Create,
            },
            value: self.value,
            data: self.data.clone(),
            nonce: self.nonce,
            chain_id: self.chain_id,
            ..Default::default()
        };
        if self.type_id == Some(2) {
            env.gas_price = self.max_fee_per_gas;
            env.gas_priority_fee = Some(self.max_priority_fee_per_gas);
        } else {
            env.gas_price = self.gas_price;
        }
        if self.type_id.is_some() {
            env.access_list = AccessList(
                self.access
                    .iter()
                    .map(|(address, keys)| AccessListItem {
                        address: *address,
                        storage_keys: keys.clone(),
                    })
                    .collect(),
            );
        }
        env
    }
}

/// `raw` decoded and its sender recovered in Rust: (transaction, sender), or None when the
/// bytes are not the canonical encoding of an accepted transaction type or the signature does
/// not recover (the caller then takes py-evm's path, which says why). With `known`, that
/// sender is taken instead of recovering it (the node's own API process recovered it).
pub fn decode(raw: &[u8], known: Option<Address>) -> Option<(RawTx, Address)> {
    use alloy_eips::eip2718::Encodable2718;

    let envelope = TxEnvelope::decode_2718(&mut &raw[..]).ok()?;
    let type_id = envelope.tx_type() as u8;
    if type_id > 2 || envelope.encoded_2718() != raw {
        return None; // other types, or not canonical: py-evm's decoder decides
    }
    let sender = match known {
        Some(sender) => sender,
        None => envelope.recover_signer().ok()?,
    };
    let signature = envelope.signature();
    let chain_id = envelope.chain_id();
    let parity = signature.v() as u8;
    let access: Vec<(Address, Vec<B256>)> = envelope
        .access_list()
        .map(|list| list.iter().map(|i| (i.address, i.storage_keys.clone())).collect())
        .unwrap_or_default();
    let slots = access.iter().map(|(_, k)| k.len() as u64).sum();
    let to = envelope.to();
    let intrinsic = crate::natives::gas_params().initial_tx_gas(
        envelope.input(),
        to.is_none(),
        access.len() as u64,
        slots,
        0,
        None,
    );
    let (gas_price, max_fee, priority) = match envelope.max_priority_fee_per_gas() {
        Some(p) if type_id == 2 => (envelope.max_fee_per_gas(), envelope.max_fee_per_gas(), p),
        _ => {
            let price = envelope.gas_price().unwrap_or_default();
            (price, price, price)
        }
    };
    let v = match (type_id, chain_id) {
        (0, Some(id)) => 35 + 2 * id + parity as u64,
        (0, None) => 27 + parity as u64,
        _ => parity as u64,
    };
    let tx = RawTx {
        type_id: if type_id == 0 { None } else { Some(type_id) },
        nonce: envelope.nonce(),
        gas: envelope.gas_limit(),
        to,
        value: envelope.value(),
        data: envelope.input().clone(),
        chain_id,
        gas_price,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority,
        access,
        r: signature.r(),
        s: signature.s(),
        v,
        y_parity: parity,
        intrinsic_gas: intrinsic.initial_regular_gas,
    };
    Some((tx, sender))
}

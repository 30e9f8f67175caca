//! Transactions into revm's `TxEnv`: from py-evm's decoded objects (the ledger's path: the
//! sender was recovered once, at CheckTx), or from raw EIP-2718 bytes decoded here, with the
//! sender recovered here unless the caller already knows it.

use alloy_consensus::transaction::SignerRecoverable;
use alloy_consensus::{Transaction, TxEnvelope};
use alloy_eips::eip2718::Decodable2718;
use pyo3::intern;
use pyo3::prelude::*;
use revm::context::TxEnv;
use revm::context_interface::transaction::{AccessList, AccessListItem};
use revm::primitives::{keccak256, Address, Bytes, TxKind, B256};

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


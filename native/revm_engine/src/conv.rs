//! Conversions between Python values and revm's.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyInt};
use revm::primitives::{Address, B256, U256};

pub fn u256_from_py(ob: &Bound<'_, PyAny>) -> PyResult<U256> {
    if let Ok(v) = ob.extract::<u128>() {
        return Ok(U256::from(v));
    }
    let raw: Vec<u8> = ob.call_method1("to_bytes", (32, "big"))?.extract()?;
    Ok(U256::from_be_slice(&raw))
}

pub fn u256_to_py<'py>(py: Python<'py>, v: &U256) -> PyResult<Bound<'py, PyAny>> {
    if v.bit_len() <= 128 {
        return Ok(v.to::<u128>().into_pyobject(py)?.into_any());
    }
    let raw = PyBytes::new(py, &v.to_be_bytes::<32>());
    py.get_type::<PyInt>().call_method1("from_bytes", (raw, "big"))
}

pub fn address(raw: &[u8]) -> PyResult<Address> {
    if raw.len() != 20 {
        return Err(PyValueError::new_err(format!("an address is 20 bytes, got {}", raw.len())));
    }
    Ok(Address::from_slice(raw))
}

pub fn b256(raw: &[u8]) -> PyResult<B256> {
    if raw.len() != 32 {
        return Err(PyValueError::new_err(format!("expected 32 bytes, got {}", raw.len())));
    }
    Ok(B256::from_slice(raw))
}

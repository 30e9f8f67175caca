//! Conversions between Python values and revm's.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyInt;
use revm::primitives::{Address, B256, U256};

/// A Python int as a U256. On CPython < 3.13 an int is copied straight into 32 big-endian
/// bytes by `_PyLong_AsByteArray` (what pyo3's own 128-bit conversion uses): a keccak slot
/// or an address-sized value, most of a native contract's storage keys, otherwise fails the
/// u128 extraction (an exception made and dropped) and goes through `int.to_bytes`, ~4x
/// slower. Negative or over 2**256 - 1: OverflowError either way.
pub fn u256_from_py(ob: &Bound<'_, PyAny>) -> PyResult<U256> {
    #[cfg(not(any(Py_LIMITED_API, PyPy, Py_3_13)))]
    if let Ok(int) = ob.cast::<PyInt>() {
        let mut buf = [0u8; 32];
        // SAFETY: `int` is a live int object (checked above) and `buf` holds the 32 bytes
        // asked for; on failure the function sets a Python error, fetched here.
        let rc = unsafe {
            pyo3::ffi::_PyLong_AsByteArray(int.as_ptr().cast(), buf.as_mut_ptr(), 32, 0, 0)
        };
        if rc < 0 {
            return Err(PyErr::fetch(ob.py()));
        }
        return Ok(U256::from_be_bytes(buf));
    }
    if let Ok(v) = ob.extract::<u128>() {
        return Ok(U256::from(v));
    }
    let raw: Vec<u8> = ob.call_method1("to_bytes", (32, "big"))?.extract()?;
    Ok(U256::from_be_slice(&raw))
}

/// A U256 as a Python int (over 128 bits: `_PyLong_FromByteArray` on CPython < 3.13, as
/// above, instead of `int.from_bytes`).
pub fn u256_to_py<'py>(py: Python<'py>, v: &U256) -> PyResult<Bound<'py, PyAny>> {
    if v.bit_len() <= 128 {
        return Ok(v.to::<u128>().into_pyobject(py)?.into_any());
    }
    let bytes = v.to_be_bytes::<32>();
    #[cfg(not(any(Py_LIMITED_API, PyPy, Py_3_13)))]
    {
        // SAFETY: reads the 32 bytes of `bytes`; returns a new reference or NULL with a
        // Python error set, which `from_owned_ptr_or_err` turns into the Err.
        unsafe {
            let int = pyo3::ffi::_PyLong_FromByteArray(bytes.as_ptr(), 32, 0, 0);
            Bound::from_owned_ptr_or_err(py, int)
        }
    }
    #[cfg(any(Py_LIMITED_API, PyPy, Py_3_13))]
    {
        let raw = pyo3::types::PyBytes::new(py, &bytes);
        py.get_type::<PyInt>().call_method1("from_bytes", (raw, "big"))
    }
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

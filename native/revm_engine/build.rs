//! pyo3's cfgs (`Py_3_13`, `Py_LIMITED_API`, `PyPy`) for this crate's own code: src/conv.rs
//! converts ints through CPython's byte-array functions where they exist.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
}

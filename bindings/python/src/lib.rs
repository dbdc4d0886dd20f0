//! The native module `lmbatch._lmbatch`: PyO3 bindings over lmbatch's safe Rust API. The Python
//! package (`python/lmbatch`) adds pop_async, the exceptions and closing at interpreter exit.

mod errors;
mod frames;
mod pipeline;
mod pump;
mod results;

use pyo3::prelude::*;

#[pymodule]
fn _lmbatch(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<pipeline::PyPipeline>()?;
    m.add_class::<results::Landmarks>()?;
    m.add_class::<results::Quality>()?;
    m.add_class::<results::Stats>()?;
    m.add_class::<results::ModelInfo>()?;
    m.add(
        "API_VERSION",
        (
            lmbatch::ffi::LM_API_VERSION_MAJOR,
            lmbatch::ffi::LM_API_VERSION_MINOR,
        ),
    )?;
    Ok(())
}

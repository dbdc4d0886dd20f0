//! The CUDA half of the TensorRT backend, through cudarc's driver API loaded at run time: the
//! device, one non-default stream, and the batch buffers (pinned host memory on both ends).
//!
//! Crops are uploaded as bytes and turned into the model's planar floats on the GPU. Reason: a
//! full batch is 32 × 192 × 192 × 3 = 3.5 MB as u8 and 14.2 MB as f32, so the upload shrinks 4×
//! (about 0.15 ms instead of 0.6 ms at 25 GB/s), and the worker thread is spared the conversion:
//! on the host, `to_planar` of a full batch took 1.18 ms on the 2-core development machine
//! (`cargo bench --bench hot_paths -- to_planar`), about what a GPU needs for the whole batch, so
//! the host would bound throughput. On the GPU it is one pass over 3.5 MB. Where NVRTC is missing the kernel cannot be compiled, and the
//! backend converts on the host and uploads floats instead (logged at create).
//!
//! The kernel does the bundled conventions (float32 NCHW RGB, one scale). A model whose
//! descriptor says otherwise (NHWC, BGR or GRAY, per-channel mean/std, transposed, f16 or u8)
//! has its input tensor written on the host by the same code as the CPU engines
//! (`model::write_input_bytes`) and uploaded as it is.
//!
//! cudarc's per-buffer event tracking is turned off: all work goes to ONE stream, in order, and
//! the backend waits for that stream explicitly, so raw pointers and raw async copies are used.
//!
//! One stream means batch N+1's upload (the DMA; its host-side staging already overlaps) waits
//! for batch N's enqueueV3. A copy stream would overlap them, and is deliberately not used: a full
//! batch's upload is 3.5 MB, about 0.15 ms at 25 GB/s, against milliseconds of compute, so it
//! would win a few percent at most, while it needs two cross-stream event waits per batch, and a
//! mistake there gives silently wrong points that only a GPU run shows (this code was last changed
//! without one). Revisit when scripts/gpu-check.sh's step 3 shows a gap to trtexec.

use std::ffi::OsString;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use cudarc::driver::{
    result as cu, sys, CudaContext, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig,
    PinnedHostSlice, PushKernelArg,
};

use super::nvrtc::{candidates, driver_major, Nvrtc, Target};
use crate::error::{panic_message, Error, ErrorKind, Result};
use crate::model::{write_input_bytes, ModelSpec};

fn unavailable(message: String) -> Error {
    Error::new(ErrorKind::BackendUnavailable, message)
}

fn failed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InferenceFailed, format!("CUDA {what}: {e}"))
}

/// cudarc panics on a few paths (a symbol missing from an old driver, a failed assertion); none
/// may escape. A panic becomes an error with its message.
fn no_panic<T>(what: &str, kind: ErrorKind, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        Err(Error::new(
            kind,
            format!("CUDA {what}: {}", panic_message(&*payload)),
        ))
    })
}

/// Which GPU a plan was built for.
#[derive(Clone, Debug)]
pub struct GpuIdentity {
    pub name: String,
    pub compute_capability: (i32, i32),
    pub uuid: String,
}

pub struct Gpu {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    pub identity: GpuIdentity,
}

/// Whether a CUDA driver (libcuda) loads here. Tests that assume a machine without a GPU skip
/// where it does.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen libcuda under its usual names and closes it again.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

impl Gpu {
    /// Opens device `ordinal`. Without a CUDA driver this is BACKEND_UNAVAILABLE, never a panic:
    /// cudarc's loader panics when libcuda is missing, so its presence is probed first.
    pub fn open(ordinal: u32) -> Result<Gpu> {
        if !driver_present() {
            return Err(unavailable(
                "no CUDA driver: libcuda.so was not found on the loader path".into(),
            ));
        }
        no_panic("initialisation", ErrorKind::BackendUnavailable, || {
            let count = CudaContext::device_count()
                .map_err(|e| unavailable(format!("the CUDA driver has no usable device: {e}")))?;
            if i64::from(ordinal) >= i64::from(count) {
                return Err(unavailable(format!(
                    "device_id {ordinal} does not exist: the CUDA driver sees {count} device(s)"
                )));
            }
            let ctx = CudaContext::new(ordinal as usize)
                .map_err(|e| unavailable(format!("cannot open CUDA device {ordinal}: {e}")))?;
            // SAFETY: no buffer exists yet, so none relies on cudarc's event tracking.
            unsafe { ctx.disable_event_tracking() };
            let stream = ctx
                .new_stream()
                .map_err(|e| unavailable(format!("cannot create a CUDA stream: {e}")))?;
            let uuid = ctx
                .uuid()
                .map(|u| {
                    u.bytes
                        .iter()
                        .map(|b| format!("{:02x}", *b as u8))
                        .collect()
                })
                .map_err(|e| unavailable(format!("cannot read the GPU's UUID: {e}")))?;
            let identity = GpuIdentity {
                name: ctx.name().unwrap_or_else(|_| "unknown GPU".into()),
                compute_capability: ctx
                    .compute_capability()
                    .map_err(|e| unavailable(format!("cannot read the compute capability: {e}")))?,
                uuid,
            };
            Ok(Gpu {
                ctx,
                stream,
                identity,
            })
        })
    }

    /// The raw stream handle for TensorRT's enqueueV3.
    pub fn raw_stream(&self) -> *mut std::ffi::c_void {
        self.stream.cu_stream() as *mut std::ffi::c_void
    }

    pub fn synchronize(&self) -> Result<()> {
        no_panic("synchronize", ErrorKind::InferenceFailed, || {
            self.stream.synchronize().map_err(|e| failed("stream", e))
        })
    }

    /// An event to mark the end of one batch's work on the stream: without timing (cheaper to
    /// record and to wait for) and with blocking sync, so the worker thread sleeps while it waits
    /// instead of spinning a core the VMS needs. (cudarc's `new_event` takes one flag only.)
    pub fn new_event(&self) -> Result<Event> {
        no_panic("event", ErrorKind::BackendUnavailable, || {
            self.ctx
                .bind_to_thread()
                .map_err(|e| unavailable(format!("cannot create a CUDA event: {e}")))?;
            let mut raw: sys::CUevent = std::ptr::null_mut();
            // SAFETY: `raw` is a valid out pointer; the context is current on this thread.
            unsafe { sys::cuEventCreate(&mut raw, EVENT_FLAGS) }
                .result()
                .map_err(|e| unavailable(format!("cannot create a CUDA event: {e}")))?;
            Ok(Event {
                raw,
                ctx: self.ctx.clone(),
            })
        })
    }

    /// Records `event` at the current end of the stream.
    pub fn record(&self, event: &Event) -> Result<()> {
        no_panic("event record", ErrorKind::InferenceFailed, || {
            // SAFETY: both handles are live and belong to this GPU's context.
            unsafe { sys::cuEventRecord(event.raw, self.stream.cu_stream()) }
                .result()
                .map_err(|e| failed("event record", e))
        })
    }

    /// Waits until the work before `event`'s recording is done.
    pub fn wait(&self, event: &Event) -> Result<()> {
        no_panic("event wait", ErrorKind::InferenceFailed, || {
            // SAFETY: the event is live.
            unsafe { sys::cuEventSynchronize(event.raw) }
                .result()
                .map_err(|e| failed("event wait", e))
        })
    }
}

/// `CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING`.
const EVENT_FLAGS: u32 = sys::CUevent_flags::CU_EVENT_BLOCKING_SYNC as u32
    | sys::CUevent_flags::CU_EVENT_DISABLE_TIMING as u32;

/// A CUDA event of [`Gpu::new_event`], destroyed on drop.
pub struct Event {
    raw: sys::CUevent,
    ctx: Arc<CudaContext>,
}

impl Drop for Event {
    fn drop(&mut self) {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            if self.ctx.bind_to_thread().is_ok() {
                // SAFETY: made by cuEventCreate in this context, destroyed once.
                let _ = unsafe { sys::cuEventDestroy_v2(self.raw) };
            }
        }));
    }
}

/// The u8 HWC → f32 CHW kernel, one thread per pixel, compiled by NVRTC for the GPU at hand.
const CONVERT_KERNEL: &str = r#"
extern "C" __global__ void lmb_crops_to_planar(const unsigned char* __restrict__ src,
                                               float* __restrict__ dst,
                                               unsigned int pixels_per_crop,
                                               unsigned int total_pixels, float scale) {
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total_pixels) return;
    unsigned int item = i / pixels_per_crop;
    unsigned int p = i - item * pixels_per_crop;
    const unsigned char* px = src + 3u * i;
    float* out = dst + 3u * item * pixels_per_crop + p;
    out[0] = px[0] * scale;
    out[pixels_per_crop] = px[1] * scale;
    out[2u * pixels_per_crop] = px[2] * scale;
}
"#;

/// Pinned host memory with its pointer taken once (event tracking is off; the stream orders use).
struct Pinned<T> {
    slice: PinnedHostSlice<T>,
    ptr: *mut T,
}

impl<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits> Pinned<T> {
    fn new(gpu: &Gpu, len: usize, write_combined: bool) -> Result<Self> {
        let flags = if write_combined {
            cudarc::driver::sys::CU_MEMHOSTALLOC_WRITECOMBINED
        } else {
            0
        };
        // SAFETY: the memory is written before it is read (inputs by the host, outputs by the
        // device-to-host copies).
        let mut slice = unsafe { gpu.ctx.alloc_pinned_with_flags::<T>(len, flags) }
            .map_err(|e| unavailable(format!("cannot allocate pinned host memory: {e}")))?;
        let ptr = slice
            .as_mut_ptr()
            .map_err(|e| unavailable(format!("pinned host memory: {e}")))?;
        Ok(Pinned { slice, ptr })
    }

    fn as_mut_slice(&mut self, len: usize) -> &mut [T] {
        let len = len.min(self.slice.len());
        // SAFETY: `ptr` addresses `slice.len()` elements owned by `slice`; no copy on the stream
        // touches them (the backend synchronises before reusing a buffer).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, len) }
    }
}

/// `len` zeroed values of device memory on the backend's stream.
fn device_zeros<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
    gpu: &Gpu,
    len: usize,
) -> Result<CudaSlice<T>> {
    gpu.stream
        .alloc_zeros::<T>(len)
        .map_err(|e| unavailable(format!("cannot allocate GPU memory: {e}")))
}

/// One engine output: its device buffer and, when the host reads it, a pinned copy.
struct OutputBuffer {
    device: CudaSlice<f32>,
    host: Option<Pinned<f32>>,
    floats_per_item: usize,
}

/// How crops become the model's input tensor.
enum Upload {
    /// The bundled conventions: upload the crops' bytes, convert to floats on the GPU.
    Gpu {
        kernel: CudaFunction,
        host_u8: Pinned<u8>,
        dev_u8: CudaSlice<u8>,
    },
    /// No NVRTC, or a model with other conventions: the host writes the input tensor's bytes
    /// in the model's dtype and layout, and uploads them.
    Host { host: Pinned<u8> },
}

/// Everything one batch needs, sized for `max_batch`.
pub struct BatchBuffers {
    upload: Upload,
    /// The input tensor's bytes (max_batch items in the model's dtype).
    dev_input: CudaSlice<u8>,
    /// One device buffer per engine output, and the pinned host copies of the ones read back.
    outputs: Vec<OutputBuffer>,
    spec: ModelSpec,
}

// SAFETY: the raw pointers address memory owned by the buffers; the buffers are used by one
// thread at a time (the worker).
unsafe impl Send for BatchBuffers {}

impl BatchBuffers {
    /// `kernel`: the conversion kernel ([`compile_kernel`]), or `None` to write the input on the
    /// host; the kernel is used only for a model with the bundled conventions.
    /// `outputs`: floats per item of each engine output, and whether it is read back.
    pub fn new(
        gpu: &Gpu,
        kernel: Option<CudaFunction>,
        max_batch: usize,
        spec: &ModelSpec,
        outputs: &[(usize, bool)],
    ) -> Result<Self> {
        no_panic("buffers", ErrorKind::BackendUnavailable, || {
            let crop_bytes = max_batch * spec.crop_bytes();
            let input_bytes = max_batch * spec.input_bytes();
            let upload = match kernel.filter(|_| spec.has_bundled_conventions()) {
                Some(kernel) => Upload::Gpu {
                    kernel,
                    host_u8: Pinned::new(gpu, crop_bytes, true)?,
                    dev_u8: device_zeros(gpu, crop_bytes)?,
                },
                None => Upload::Host {
                    host: Pinned::new(gpu, input_bytes, true)?,
                },
            };
            let mut buffers = Vec::with_capacity(outputs.len());
            for &(floats_per_item, read_back) in outputs {
                let len = max_batch * floats_per_item;
                buffers.push(OutputBuffer {
                    device: device_zeros(gpu, len)?,
                    // Read by the host: plain pinned memory (write-combined reads are slow).
                    host: if read_back {
                        Some(Pinned::new(gpu, len, false)?)
                    } else {
                        None
                    },
                    floats_per_item,
                });
            }
            Ok(BatchBuffers {
                upload,
                dev_input: device_zeros(gpu, input_bytes)?,
                outputs: buffers,
                spec: spec.clone(),
            })
        })
    }

    /// Copies the staged input of `n` items back to the host as its bytes (a check, not a hot
    /// path).
    pub fn read_input(&self, gpu: &Gpu, n: usize) -> Result<Vec<u8>> {
        let mut host = vec![0u8; n * self.spec.input_bytes()];
        no_panic("read back", ErrorKind::InferenceFailed, || {
            let src = self.dev_input.device_ptr(&gpu.stream).0;
            // SAFETY: `host` holds n items' bytes and the device input max_batch ≥ n items';
            // the stream is synchronised before `host` is read.
            unsafe { cu::memcpy_dtoh_async(&mut host[..], src, gpu.stream.cu_stream()) }
                .map_err(|e| failed("read back", e))?;
            gpu.synchronize()
        })?;
        Ok(host)
    }

    pub fn converts_on_gpu(&self) -> bool {
        matches!(self.upload, Upload::Gpu { .. })
    }

    pub fn input_address(&self, gpu: &Gpu) -> u64 {
        self.dev_input.device_ptr(&gpu.stream).0
    }

    pub fn output_address(&self, gpu: &Gpu, index: usize) -> u64 {
        self.outputs[index].device.device_ptr(&gpu.stream).0
    }

    /// Queues the upload (and conversion) of `crops` on the stream.
    pub fn stage(&mut self, gpu: &Gpu, crops: &[&[u8]]) -> Result<()> {
        let (crop_bytes, plane) = (self.spec.crop_bytes(), self.spec.sample_size().pixels());
        let scale = self.spec.input_scale;
        let n = crops.len();
        no_panic("upload", ErrorKind::InferenceFailed, || {
            // The raw driver calls below use the thread's current context: make it ours.
            gpu.ctx.bind_to_thread().map_err(|e| failed("context", e))?;
            match &mut self.upload {
                Upload::Gpu {
                    kernel,
                    host_u8,
                    dev_u8,
                } => {
                    let host = host_u8.as_mut_slice(n * crop_bytes);
                    for (crop, slot) in crops.iter().zip(host.chunks_exact_mut(crop_bytes)) {
                        slot.copy_from_slice(crop);
                    }
                    let src = dev_u8.device_ptr(&gpu.stream).0;
                    let dst = self.dev_input.device_ptr(&gpu.stream).0;
                    // SAFETY: `host` is pinned and stays untouched until the stream is synchronised;
                    // `src` holds max_batch crops, at least `host.len()` bytes.
                    unsafe { cu::memcpy_htod_async(src, host, gpu.stream.cu_stream()) }
                        .map_err(|e| failed("upload", e))?;
                    let pixels_per_crop = plane as u32;
                    let total = (n * plane) as u32;
                    let config = LaunchConfig {
                        grid_dim: (total.div_ceil(256), 1, 1),
                        block_dim: (256, 1, 1),
                        shared_mem_bytes: 0,
                    };
                    let mut launch = gpu.stream.launch_builder(kernel);
                    launch
                        .arg(&src)
                        .arg(&dst)
                        .arg(&pixels_per_crop)
                        .arg(&total)
                        .arg(&scale);
                    // SAFETY: the arguments match the kernel's signature (two device pointers, two
                    // u32, one f32); `total` pixels fit both buffers.
                    unsafe { launch.launch(config) }.map_err(|e| failed("convert kernel", e))?;
                    Ok(())
                }
                Upload::Host { host } => {
                    let host = host.as_mut_slice(n * self.spec.input_bytes());
                    write_input_bytes(crops, &self.spec, host);
                    let dst = self.dev_input.device_ptr(&gpu.stream).0;
                    // SAFETY: as above; the device input holds max_batch items.
                    unsafe { cu::memcpy_htod_async(dst, host, gpu.stream.cu_stream()) }
                        .map_err(|e| failed("upload", e))
                }
            }
        })
    }

    /// Queues the copies of the read-back outputs for `n` items to pinned host memory.
    pub fn fetch(&mut self, gpu: &Gpu, n: usize) -> Result<()> {
        no_panic("download", ErrorKind::InferenceFailed, || {
            for output in &mut self.outputs {
                if let Some(host) = &mut output.host {
                    let src = output.device.device_ptr(&gpu.stream).0;
                    let dst = host.as_mut_slice(n * output.floats_per_item);
                    // SAFETY: pinned destination of n × floats, read only after synchronising.
                    unsafe { cu::memcpy_dtoh_async(dst, src, gpu.stream.cu_stream()) }
                        .map_err(|e| failed("download", e))?;
                }
            }
            Ok(())
        })
    }

    /// The first `len` floats of read-back output `index`; valid after the stream is synchronised.
    pub fn output(&mut self, index: usize, len: usize) -> &[f32] {
        match self.outputs.get_mut(index).and_then(|o| o.host.as_mut()) {
            Some(host) => host.as_mut_slice(len),
            None => &[],
        }
    }
}

/// The conversion kernel as it was obtained.
pub struct KernelBuild<T = CudaFunction> {
    /// The kernel and the form it loaded as ("CUBIN for sm_90 by libnvrtc.so.12"), or why none
    /// did (then the host converts).
    pub outcome: std::result::Result<(T, String), String>,
    /// Each better form that failed, with its reason, for the log.
    pub fell_back: Vec<String>,
}

/// The CUDA version the driver supports (`cuDriverGetVersion`: 1000 × major + 10 × minor).
fn driver_version() -> Option<i32> {
    catch_unwind(|| {
        let mut version = 0;
        // SAFETY: writes one int; the driver is loaded (a `Gpu` exists).
        let status = unsafe { sys::cuDriverGetVersion(&mut version) };
        (status == sys::CUresult::CUDA_SUCCESS).then_some(version)
    })
    .ok()
    .flatten()
}

/// Compiles the u8 -> f32 conversion kernel with NVRTC and loads it. NVRTCs no newer than the
/// driver are tried first (`nvrtc::candidates`), each for the device's own architecture (a
/// CUBIN: no JIT) and then as PTX (the driver compiles it; covers a GPU newer than that NVRTC
/// knows); the next NVRTC only when both fail.
pub fn compile_kernel(gpu: &Gpu) -> KernelBuild {
    let names = candidates(driver_version().and_then(driver_major));
    compile_with_first_that_loads(&names, gpu.identity.compute_capability, |image| {
        let module = gpu
            .ctx
            .load_module(cudarc::nvrtc::Ptx::from_binary(image))
            .map_err(|e| format!("loading it: {e}"))?;
        module
            .load_function("lmb_crops_to_planar")
            .map_err(|e| e.to_string())
    })
}

/// One NVRTC asked for one target.
struct Attempt {
    nvrtc: &'static Nvrtc,
    target: Target,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} by {}", self.target, self.nvrtc.path)
    }
}

/// The chain of [`compile_kernel`] over the NVRTCs of `names` that load, with `load` turning an
/// image into the kernel.
pub fn compile_with_first_that_loads<T>(
    names: &[OsString],
    (major, minor): (i32, i32),
    mut load: impl FnMut(Vec<u8>) -> std::result::Result<T, String>,
) -> KernelBuild<T> {
    let (found, failures) = Nvrtc::all_of(names);
    if found.is_empty() {
        return KernelBuild {
            outcome: Err(Nvrtc::none_found(names, &failures)),
            fell_back: Vec::new(),
        };
    }
    let attempts: Vec<Attempt> = found
        .iter()
        .flat_map(|nvrtc| {
            [Target::Cubin { major, minor }, Target::Ptx].map(|target| Attempt { nvrtc, target })
        })
        .collect();
    let (outcome, fell_back) = first_that_loads(&attempts, |attempt| {
        catch_unwind(AssertUnwindSafe(|| {
            load(attempt.nvrtc.compile(CONVERT_KERNEL, &attempt.target)?)
        }))
        .unwrap_or_else(|p| Err(panic_message(&*p)))
    });
    KernelBuild {
        outcome: outcome.map_err(|e| format!("no conversion kernel ({e})")),
        fell_back,
    }
}

/// Tries `attempts` in order until one loads: that one with its name, else the last reason; and
/// a line for each attempt that failed before.
pub fn first_that_loads<A: std::fmt::Display, T>(
    attempts: &[A],
    mut load: impl FnMut(&A) -> std::result::Result<T, String>,
) -> (std::result::Result<(T, String), String>, Vec<String>) {
    let mut failed = Vec::new();
    let mut last = String::from("nothing to try");
    for attempt in attempts {
        match load(attempt) {
            Ok(loaded) => return (Ok((loaded, attempt.to_string())), failed),
            Err(why) => {
                failed.push(format!("conversion kernel as {attempt} failed: {why}"));
                last = format!("{attempt}: {why}");
            }
        }
    }
    // The last failure is the outcome itself; the earlier ones are the fall-backs.
    failed.pop();
    (Err(last), failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// Builds a stand-in libnvrtc (tests/data/fake_nvrtc.c) tagged `tag`.
    fn fake_nvrtc(tag: &str, fail: bool) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lmbatch-fake-nvrtc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join(format!("libnvrtc_{tag}_{fail}.so"));
        let status = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-o"])
            .arg(&out)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fake_nvrtc.c"))
            .arg(format!("-DFAKE_TAG={tag}"))
            .args(fail.then_some("-DFAKE_FAIL"))
            .status()
            .expect("a C compiler (cc) runs");
        assert!(status.success(), "compiling the fake libnvrtc {tag}");
        out
    }

    fn text(image: Vec<u8>) -> String {
        String::from_utf8_lossy(&image)
            .trim_end_matches('\0')
            .to_string()
    }

    /// NVRTC 13 on a CUDA 12 driver: it may fail to compile for the device, or compile images
    /// the driver refuses. Either way the next NVRTC is tried before the host conversion.
    #[test]
    fn the_next_nvrtc_is_tried_when_one_gives_no_kernel() {
        let fails = fake_nvrtc("fake13", true);
        let newer = fake_nvrtc("fake13", false);
        let older = fake_nvrtc("fake12", false);

        let build = compile_with_first_that_loads(
            &[fails.clone().into(), older.clone().into()],
            (8, 9),
            |image| Ok::<_, String>(text(image)),
        );
        let (image, form) = build.outcome.unwrap();
        assert_eq!(image, "fake12 -arch=sm_89");
        assert_eq!(form, format!("CUBIN for sm_89 by {}", older.display()));
        assert_eq!(build.fell_back.len(), 2, "{:?}", build.fell_back);
        assert!(
            build.fell_back[0].contains("NVRTC_ERROR_COMPILATION")
                && build.fell_back[0].contains("fake: this NVRTC cannot compile"),
            "{:?}",
            build.fell_back
        );

        // Compiled, but the driver refuses what the newer NVRTC made (PTX version, ...).
        let build = compile_with_first_that_loads(
            &[newer.clone().into(), older.clone().into()],
            (8, 9),
            |image| {
                let image = text(image);
                if image.starts_with("fake13") {
                    Err("loading it: CUDA_ERROR_UNSUPPORTED_PTX_VERSION".to_string())
                } else {
                    Ok(image)
                }
            },
        );
        assert_eq!(build.outcome.unwrap().0, "fake12 -arch=sm_89");
        assert_eq!(build.fell_back.len(), 2, "{:?}", build.fell_back);

        // Nothing gives a kernel: the last reason, every earlier one logged.
        let build = compile_with_first_that_loads(&[fails.into(), newer.into()], (8, 9), |_| {
            Err::<(), _>("refused".to_string())
        });
        let why = build.outcome.unwrap_err();
        assert!(why.starts_with("no conversion kernel (PTX by "), "{why}");
        assert_eq!(build.fell_back.len(), 3, "{:?}", build.fell_back);
    }

    #[test]
    fn the_kernel_falls_back_from_cubin_to_ptx_then_to_the_host() {
        let targets = [Target::Cubin { major: 8, minor: 9 }, Target::Ptx];
        let (ok, fell_back) = first_that_loads(&targets, |_| Ok::<_, String>("kernel"));
        assert_eq!(ok.unwrap(), ("kernel", "CUBIN for sm_89".to_string()));
        assert!(fell_back.is_empty());

        let (ok, fell_back) = first_that_loads(&targets, |t| match t {
            Target::Cubin { .. } => Err("invalid value for --gpu-architecture".to_string()),
            Target::Ptx => Ok("kernel"),
        });
        assert_eq!(ok.unwrap().1, "PTX");
        assert_eq!(fell_back.len(), 1);
        assert!(
            fell_back[0].contains("CUBIN for sm_89 failed: invalid value"),
            "{fell_back:?}"
        );

        let (none, fell_back) = first_that_loads(&targets, |t| Err::<(), _>(format!("{t} broken")));
        assert_eq!(none.unwrap_err(), "PTX: PTX broken");
        assert_eq!(
            fell_back,
            vec!["conversion kernel as CUBIN for sm_89 failed: CUBIN for sm_89 broken"]
        );
    }
}

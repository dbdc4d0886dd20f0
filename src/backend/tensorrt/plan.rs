//! Plans: where they come from, whether one fits the model, and the on-disk cache. Pure logic
//! and file handling only, so all of it is tested without a GPU.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::library::TrtVersion;
use crate::backend::ModelSource;
use crate::descriptor::DType;
use crate::error::{Error, ErrorKind, Result};
use crate::log::LogLevel;
use crate::model::{ModelSpec, DEFAULT_MODEL_ONNX};

/// TensorRT's `DataType::kFLOAT`.
pub const DTYPE_FLOAT: i32 = 0;
/// TensorRT's `DataType::kHALF`.
pub const DTYPE_HALF: i32 = 1;
/// TensorRT's `DataType::kUINT8`.
pub const DTYPE_UINT8: i32 = 5;

/// The TensorRT data type of a descriptor's `input.dtype`, and its name for messages.
pub fn engine_dtype(dtype: DType) -> (i32, &'static str) {
    match dtype {
        DType::F32 => (DTYPE_FLOAT, "float32"),
        DType::F16 => (DTYPE_HALF, "float16"),
        DType::U8 => (DTYPE_UINT8, "uint8"),
    }
}

fn model_error(message: String) -> Error {
    Error::new(ErrorKind::ModelError, message)
}

/// What `model_path` names, for the TensorRT backend.
#[derive(Debug)]
pub enum ModelInput {
    /// ONNX bytes: the plan is built from them (or taken from the cache).
    Onnx { bytes: Vec<u8>, sha256: [u8; 32] },
    /// A serialized plan given by the caller: used as it is, or refused.
    Plan { bytes: Vec<u8>, path: PathBuf },
}

/// Reads the model: the bundled ONNX, an `.onnx` file, or an `.engine`/`.plan`/`.trt` file.
pub fn read_model(source: &ModelSource) -> Result<ModelInput> {
    let path = match source {
        ModelSource::Bundled => {
            return Ok(ModelInput::Onnx {
                bytes: DEFAULT_MODEL_ONNX.to_vec(),
                sha256: Sha256::digest(DEFAULT_MODEL_ONNX).into(),
            })
        }
        ModelSource::Path(path) => path,
    };
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let is_plan = match extension.as_deref() {
        Some("onnx") => false,
        Some("engine" | "plan" | "trt") => true,
        _ => {
            return Err(model_error(format!(
                "{}: the TensorRT backend takes an .onnx model or a serialized plan \
                 (.engine, .plan, .trt)",
                path.display()
            )))
        }
    };
    let bytes = std::fs::read(path)
        .map_err(|e| model_error(format!("cannot read {}: {e}", path.display())))?;
    Ok(if is_plan {
        ModelInput::Plan {
            bytes,
            path: path.clone(),
        }
    } else {
        let sha256 = Sha256::digest(&bytes).into();
        ModelInput::Onnx { bytes, sha256 }
    })
}

/// The batch dimension's optimization profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    pub min: usize,
    pub opt: usize,
    pub max: usize,
}

impl Profile {
    /// min 1, opt as asked (default `max_batch`, clamped into 1..=max_batch), max `max_batch`.
    pub fn for_batch(max_batch: usize, opt: Option<usize>) -> Self {
        Profile {
            min: 1,
            opt: opt.unwrap_or(max_batch).clamp(1, max_batch),
            max: max_batch,
        }
    }
}

/// What a plan is tied to: a plan runs only on the TensorRT version and GPU it was built by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanKey {
    pub tensorrt: TrtVersion,
    /// e.g. (9, 0) for an H100.
    pub compute_capability: (i32, i32),
    /// The GPU's UUID in hex: two cards of one model may still differ in what TensorRT picks.
    pub gpu_uuid: String,
    pub model_sha256: [u8; 32],
    /// The input's dimensions after the batch, from the descriptor (size, layout, channels,
    /// transposition): the profile's shapes are `[batch, input_dims…]`, so a model with free
    /// spatial dimensions gets one plan per described size.
    pub input_dims: [i64; 3],
    pub profile: Profile,
    pub fp16: bool,
}

impl PlanKey {
    /// The cache file name: every part of the key, readable, so a stale file is never mistaken
    /// for a match and an operator can tell what each file is.
    pub fn file_name(&self) -> String {
        let model: String = self.model_sha256[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let uuid: String = self
            .gpu_uuid
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let [d1, d2, d3] = self.input_dims;
        format!(
            "lmbatch-v2-{model}-trt{}.{}.{}-sm{}{}-{uuid}-in{d1}x{d2}x{d3}-b{}-{}-{}-{}.plan",
            self.tensorrt.major,
            self.tensorrt.minor,
            self.tensorrt.patch,
            self.compute_capability.0,
            self.compute_capability.1,
            self.profile.min,
            self.profile.opt,
            self.profile.max,
            if self.fp16 { "fp16" } else { "fp32" },
        )
    }
}

/// Writes `bytes` to `dir/name` so that a reader sees the old file or the whole new one, never a
/// part: a temporary file in the same folder, flushed to disk, renamed over the name, then the
/// folder flushed too (so the rename itself survives a crash).
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let target = dir.join(name);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let temp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(target)
}

/// What becomes of the plan a backend was opened with once the backend around it has run its
/// self-check (the first real upload, enqueueV3 and download).
#[derive(Debug)]
pub enum PlanFate {
    /// Given by the caller, or no cache folder: nothing to keep or drop.
    Untracked,
    /// Read from this cache file: deleted when the backend fails its self-check, else every
    /// later create would load it, fail and fall back.
    Cached(PathBuf),
    /// Just built (and deserialized and validated): written to `dir/name` only once the backend
    /// passed its self-check, so a plan that does not run never lands in the cache.
    Built {
        dir: PathBuf,
        name: String,
        bytes: Vec<u8>,
    },
}

/// Settles `fate` by the self-check's outcome `checked` (`Ok` also where the check is off) and
/// returns that outcome; the error of a cached plan says the file was removed.
pub fn settle<T>(fate: PlanFate, checked: Result<T>, log: impl Fn(LogLevel, &str)) -> Result<T> {
    match (fate, checked) {
        (PlanFate::Built { dir, name, bytes }, Ok(passed)) => {
            match write_atomically(&dir, &name, &bytes) {
                Ok(path) => log(
                    LogLevel::Info,
                    &format!("TensorRT plan cached in {}", path.display()),
                ),
                Err(e) => log(
                    LogLevel::Warning,
                    &format!("cannot cache the TensorRT plan in {}: {e}", dir.display()),
                ),
            }
            Ok(passed)
        }
        (PlanFate::Cached(path), Err(e)) => {
            let removed = match std::fs::remove_file(&path) {
                Ok(()) => format!("removed the cached plan {}", path.display()),
                Err(why) => format!("could not remove the cached plan {}: {why}", path.display()),
            };
            Err(Error::new(e.kind(), format!("{}; {removed}", e.message())))
        }
        (_, checked) => checked,
    }
}

/// One I/O tensor of an engine, as the shim reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct IoTensor {
    pub name: String,
    pub is_input: bool,
    pub dtype: i32,
    /// -1 for a dynamic dimension.
    pub dims: Vec<i64>,
    /// Profile 0 of an input: min, opt, max shapes.
    pub min: Vec<i64>,
    pub opt: Vec<i64>,
    pub max: Vec<i64>,
}

/// An output the engine writes: its name and floats per batch item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSlot {
    pub name: String,
    pub floats_per_item: usize,
}

/// An engine's I/O checked against the model descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineLayout {
    pub input: String,
    /// Index into `outputs` of the landmarks and of the score (`None`: the model has none).
    pub landmarks: usize,
    pub score: Option<usize>,
    /// Every output: TensorRT needs an address for each, used or not.
    pub outputs: Vec<OutputSlot>,
}

fn item_floats(t: &IoTensor) -> Result<usize> {
    let rest = t.dims.get(1..).unwrap_or(&[]);
    if t.dims.is_empty() || rest.iter().any(|&d| d < 1) {
        return Err(model_error(format!(
            "engine tensor {} has shape {:?}: only the batch dimension may be dynamic",
            t.name, t.dims
        )));
    }
    Ok(rest.iter().product::<i64>() as usize)
}

/// The input tensor's dimensions for a batch of `n`, as the descriptor gives them (its size,
/// layout, channels and transposition).
pub fn input_dims(spec: &ModelSpec, n: usize) -> [i64; 4] {
    spec.input_shape(n).map(|d| d as i64)
}

/// The input's dimensions after the batch: the profile's and the cache key's share of the
/// descriptor.
pub fn item_dims(spec: &ModelSpec) -> [i64; 3] {
    let [_, a, b, c] = input_dims(spec, 1);
    [a, b, c]
}

/// Checks that an engine is the model the pipeline expects, with a batch profile covering
/// 1..=`max_batch`. A plan that does not fit is refused with what is wrong, never run.
pub fn validate(io: &[IoTensor], spec: &ModelSpec, max_batch: usize) -> Result<EngineLayout> {
    let inputs: Vec<&IoTensor> = io.iter().filter(|t| t.is_input).collect();
    let [input] = inputs.as_slice() else {
        return Err(model_error(format!(
            "the engine has {} inputs, expected 1 ({})",
            inputs.len(),
            spec.input_name
        )));
    };
    if input.name != spec.input_name {
        return Err(model_error(format!(
            "the engine's input is {}, expected {}",
            input.name, spec.input_name
        )));
    }
    let item = &input_dims(spec, 1)[1..];
    let (dtype, dtype_name) = engine_dtype(spec.input.dtype);
    if input.dtype != dtype || input.dims.get(1..) != Some(item) {
        return Err(model_error(format!(
            "the engine's input {} is dtype {} shape {:?}, expected {dtype_name} (dtype {dtype}) \
             [N, {}, {}, {}] (input.dtype, input.size, input.layout, input.channels, \
             input.transpose)",
            input.name, input.dtype, input.dims, item[0], item[1], item[2]
        )));
    }
    let batch = input.dims[0];
    let (lo, hi) = if batch == -1 {
        (input.min.first().copied(), input.max.first().copied())
    } else {
        (Some(batch), Some(batch))
    };
    if lo.is_none_or(|lo| lo > 1) || hi.is_none_or(|hi| hi < max_batch as i64) {
        return Err(model_error(format!(
            "the engine's batch profile is {}..{}, but max_batch {max_batch} needs 1..{max_batch}",
            lo.unwrap_or(0),
            hi.unwrap_or(0)
        )));
    }
    let mut outputs = Vec::new();
    for t in io.iter().filter(|t| !t.is_input) {
        // Every output must carry the batch on dimension 0, as the input does (-1 when dynamic).
        if t.dims.first() != Some(&batch) {
            return Err(model_error(format!(
                "the engine's output {} has shape {:?}: outputs must follow the input's batch \
                 dimension ({batch})",
                t.name, t.dims
            )));
        }
        if t.dtype != DTYPE_FLOAT {
            return Err(model_error(format!(
                "the engine's output {} is dtype {}, expected float32",
                t.name, t.dtype
            )));
        }
        outputs.push(OutputSlot {
            name: t.name.clone(),
            floats_per_item: item_floats(t)?,
        });
    }
    let find = |name: &str| -> Result<usize> {
        outputs
            .iter()
            .position(|o| o.name == name)
            .ok_or_else(|| model_error(format!("the engine has no output {name}")))
    };
    let landmarks = find(&spec.landmarks_name)?;
    let want = spec.raw_point_values();
    if outputs[landmarks].floats_per_item != want {
        return Err(model_error(format!(
            "the engine's output {} has {} values per face, expected {want} (points.count x \
             points.dims)",
            spec.landmarks_name, outputs[landmarks].floats_per_item
        )));
    }
    let score = match spec.score {
        None => None,
        Some(conv) => {
            let index = find(&spec.score_name)?;
            if outputs[index].floats_per_item <= conv.index as usize {
                return Err(model_error(format!(
                    "the engine's output {} has {} values per face: score.index {} is not one \
                     of its columns",
                    spec.score_name, outputs[index].floats_per_item, conv.index
                )));
            }
            Some(index)
        }
    };
    Ok(EngineLayout {
        input: input.name.clone(),
        landmarks,
        score,
        outputs,
    })
}

/// Checks the output shapes TensorRT reports (`getTensorShape`) after the input shape was set to
/// a batch of `batch`: each must be `[batch, ...]` with the values per face `layout` expects, or
/// the results would be read from the wrong places. `shapes` follows `layout.outputs`.
pub fn check_output_shapes(layout: &EngineLayout, batch: usize, shapes: &[Vec<i64>]) -> Result<()> {
    if shapes.len() != layout.outputs.len() {
        return Err(model_error(format!(
            "TensorRT reported {} output shapes for {} outputs",
            shapes.len(),
            layout.outputs.len()
        )));
    }
    for (output, shape) in layout.outputs.iter().zip(shapes) {
        let rest = shape.get(1..).unwrap_or(&[]);
        let per_item = rest.iter().try_fold(1usize, |acc, &d| {
            usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
        });
        if shape.first() != Some(&(batch as i64)) || per_item != Some(output.floats_per_item) {
            return Err(model_error(format!(
                "for a batch of {batch} the engine's output {} has shape {shape:?}, expected \
                 [{batch}, ...] with {} values per face: the outputs do not follow the batch",
                output.name, output.floats_per_item
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(name: &str, is_input: bool, dims: &[i64]) -> IoTensor {
        IoTensor {
            name: name.into(),
            is_input,
            dtype: DTYPE_FLOAT,
            dims: dims.to_vec(),
            min: if is_input {
                vec![1, 3, 192, 192]
            } else {
                vec![]
            },
            opt: if is_input {
                vec![32, 3, 192, 192]
            } else {
                vec![]
            },
            max: if is_input {
                vec![32, 3, 192, 192]
            } else {
                vec![]
            },
        }
    }

    fn good() -> Vec<IoTensor> {
        vec![
            io("input", true, &[-1, 3, 192, 192]),
            io("face_score", false, &[-1, 1]),
            io("landmarks", false, &[-1, 468, 3]),
        ]
    }

    fn error_of(io: &[IoTensor], max_batch: usize) -> String {
        let e = validate(io, &ModelSpec::face_landmark_468(), max_batch).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ModelError);
        e.message().to_string()
    }

    #[test]
    fn a_matching_engine_gives_its_layout() {
        let layout = validate(&good(), &ModelSpec::face_landmark_468(), 32).unwrap();
        assert_eq!(layout.input, "input");
        assert_eq!(layout.outputs[layout.landmarks].floats_per_item, 1404);
        assert_eq!(layout.outputs[layout.score.unwrap()].name, "face_score");
    }

    #[test]
    fn engines_that_do_not_fit_are_refused_with_the_reason() {
        let mut narrow = good();
        narrow[0].max = vec![8, 3, 192, 192];
        assert!(error_of(&narrow, 32).contains("1..8"));
        assert!(validate(&narrow, &ModelSpec::face_landmark_468(), 8).is_ok());

        let mut renamed = good();
        renamed[0].name = "images".into();
        assert!(error_of(&renamed, 32).contains("expected input"));

        let mut wrong_size = good();
        wrong_size[0].dims = vec![-1, 3, 256, 256];
        assert!(error_of(&wrong_size, 32).contains("[N, 3, 192, 192]"));

        let mut half = good();
        half[2].dtype = 1;
        assert!(error_of(&half, 32).contains("dtype 1"));

        let mut half_input = good();
        half_input[0].dtype = DTYPE_HALF;
        assert!(error_of(&half_input, 32).contains("expected float32"));

        let mut missing = good();
        missing.remove(1);
        assert!(error_of(&missing, 32).contains("no output face_score"));

        let mut points = good();
        points[2].dims = vec![-1, 478, 3];
        assert!(error_of(&points, 32).contains("1434 values"));

        let mut fixed_one = good();
        fixed_one[0].dims = vec![1, 3, 192, 192];
        assert!(error_of(&fixed_one, 32).contains("1..1"));

        // Outputs that do not carry the batch on dimension 0.
        let mut fixed_output = good();
        fixed_output[2].dims = vec![1, 468, 3];
        assert!(error_of(&fixed_output, 32).contains("follow the input's batch"));
        let mut flat_output = good();
        flat_output[1].dims = vec![1];
        assert!(error_of(&flat_output, 32).contains("output face_score"));
    }

    /// The spec of a descriptor file under models/, as lm_create reads it.
    fn described(file: &str) -> ModelSpec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let d = crate::descriptor::Descriptor::parse(&text, file).unwrap();
        ModelSpec::from_descriptor(&d).unwrap()
    }

    #[test]
    fn the_profile_and_the_engine_check_follow_the_descriptor() {
        // The 478 model: NHWC float32 256 x 256, points [N, 1, 1, 1434], a logit [N, 1, 1, 1].
        let spec = described("face_landmarks_478.lmbatch.toml");
        assert_eq!(input_dims(&spec, 8), [8, 256, 256, 3]);
        assert_eq!(item_dims(&spec), [256, 256, 3]);
        let nhwc = |dims: &[i64]| IoTensor {
            name: "input_12".into(),
            is_input: true,
            dtype: DTYPE_FLOAT,
            dims: dims.to_vec(),
            min: vec![1, 256, 256, 3],
            opt: vec![32, 256, 256, 3],
            max: vec![32, 256, 256, 3],
        };
        let engine = vec![
            nhwc(&[-1, 256, 256, 3]),
            io("Identity", false, &[-1, 1, 1, 1434]),
            io("Identity_1", false, &[-1, 1, 1, 1]),
        ];
        let layout = validate(&engine, &spec, 32).unwrap();
        assert_eq!(layout.outputs[layout.landmarks].name, "Identity");
        assert_eq!(
            layout.score.map(|i| layout.outputs[i].name.as_str()),
            Some("Identity_1")
        );
        // The bundled model's NCHW input is not the 478's.
        let mut nchw = engine.clone();
        nchw[0] = nhwc(&[-1, 3, 256, 256]);
        let e = validate(&nchw, &spec, 32).unwrap_err();
        assert!(e.message().contains("[N, 256, 256, 3]"), "{}", e.message());
        // An f16 or u8 descriptor wants TensorRT's HALF or UINT8 input; a 2-D model without a
        // score needs no score output.
        let mut text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/face_landmarks_478.lmbatch.toml"),
        )
        .unwrap();
        text = text.replace("dtype = \"f32\"", "dtype = \"f16\"");
        let half =
            ModelSpec::from_descriptor(&crate::descriptor::Descriptor::parse(&text, "t").unwrap())
                .unwrap();
        let e = validate(&engine, &half, 32).unwrap_err();
        assert!(
            e.message().contains("expected float16 (dtype 1)"),
            "{}",
            e.message()
        );
        let mut half_engine = engine.clone();
        half_engine[0].dtype = DTYPE_HALF;
        assert!(validate(&half_engine, &half, 32).is_ok());
        assert_eq!(engine_dtype(DType::U8), (DTYPE_UINT8, "uint8"));
        // A non-square, transposed input: rows are x, so [N, C, width, height].
        let text = crate::descriptor::BUNDLED_DESCRIPTOR
            .replacen("size = [192, 192]", "size = [256, 192]", 1)
            .replacen("transpose = false", "transpose = true", 1);
        let wide =
            ModelSpec::from_descriptor(&crate::descriptor::Descriptor::parse(&text, "t").unwrap())
                .unwrap();
        assert_eq!(item_dims(&wide), [3, 256, 192]);
    }

    #[test]
    fn output_shapes_must_follow_the_batch_at_run_time() {
        let layout = validate(&good(), &ModelSpec::face_landmark_468(), 32).unwrap();
        let shapes = |n: i64| -> Vec<Vec<i64>> {
            layout
                .outputs
                .iter()
                .map(|o| {
                    if o.floats_per_item == 1 {
                        vec![n, 1]
                    } else {
                        vec![n, 468, 3]
                    }
                })
                .collect()
        };
        for n in [1, 7, 32] {
            check_output_shapes(&layout, n as usize, &shapes(n)).unwrap();
        }
        // An engine whose outputs stay at one item whatever the batch (or change layout).
        let e = check_output_shapes(&layout, 32, &shapes(1)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ModelError);
        assert!(
            e.message().contains("do not follow the batch"),
            "{}",
            e.message()
        );
        let mut reshaped = shapes(32);
        reshaped[layout.landmarks] = vec![32, 1, 1404 * 2];
        assert!(check_output_shapes(&layout, 32, &reshaped).is_err());
        let mut dynamic = shapes(32);
        dynamic[layout.score.unwrap()] = vec![32, -1];
        assert!(check_output_shapes(&layout, 32, &dynamic).is_err());
        assert!(check_output_shapes(&layout, 32, &shapes(32)[..1]).is_err());
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lmbatch-settle-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn failed_check() -> Result<f32> {
        Err(Error::new(
            ErrorKind::BackendUnavailable,
            "TensorRT self-check failed: TensorRT enqueueV3 failed",
        ))
    }

    #[test]
    fn a_built_plan_is_cached_only_after_its_self_check_passed() {
        let dir = temp_dir("built");
        let built = || PlanFate::Built {
            dir: dir.clone(),
            name: "x.plan".into(),
            bytes: b"plan".to_vec(),
        };
        let e = settle(built(), failed_check(), |_, _| {}).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
        assert!(
            !dir.join("x.plan").exists(),
            "a plan that failed its self-check was cached"
        );
        let lines = std::cell::RefCell::new(Vec::new());
        let worst = settle(built(), Ok(0.01f32), |_, m| {
            lines.borrow_mut().push(m.to_string())
        });
        assert_eq!(worst.unwrap(), 0.01);
        assert_eq!(std::fs::read(dir.join("x.plan")).unwrap(), b"plan");
        assert!(lines.borrow()[0].contains("TensorRT plan cached in"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_cached_plan_that_fails_its_self_check_is_deleted() {
        let dir = temp_dir("cached");
        let path = dir.join("x.plan");
        std::fs::write(&path, b"plan").unwrap();
        settle(PlanFate::Cached(path.clone()), Ok(()), |_, _| {}).unwrap();
        assert!(path.exists(), "a cached plan that passed was removed");
        let e = settle(PlanFate::Cached(path.clone()), failed_check(), |_, _| {}).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable);
        assert!(e.message().contains("enqueueV3 failed"), "{}", e.message());
        assert!(
            e.message().contains("removed the cached plan"),
            "{}",
            e.message()
        );
        assert!(
            !path.exists(),
            "the failing cached plan stays for the next create"
        );
        // A given plan is never touched.
        let given = dir.join("given.plan");
        std::fs::write(&given, b"plan").unwrap();
        assert!(settle(PlanFate::Untracked, failed_check(), |_, _| {}).is_err());
        assert!(given.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_cache_name_changes_with_every_part_of_the_key() {
        let key = PlanKey {
            tensorrt: TrtVersion::from_encoded(100_803),
            compute_capability: (9, 0),
            gpu_uuid: "GPU-1234-abcd".into(),
            model_sha256: [7; 32],
            input_dims: [3, 192, 192],
            profile: Profile::for_batch(32, None),
            fp16: true,
        };
        let name = key.file_name();
        assert_eq!(
            name,
            "lmbatch-v2-0707070707070707-trt10.8.3-sm90-GPU1234abcd-in3x192x192-b1-32-32-fp16.plan"
        );
        let variants = [
            PlanKey {
                tensorrt: TrtVersion::from_encoded(100_804),
                ..key.clone()
            },
            PlanKey {
                compute_capability: (8, 9),
                ..key.clone()
            },
            PlanKey {
                gpu_uuid: "GPU-1234-abce".into(),
                ..key.clone()
            },
            PlanKey {
                model_sha256: [8; 32],
                ..key.clone()
            },
            PlanKey {
                input_dims: [3, 192, 256],
                ..key.clone()
            },
            PlanKey {
                profile: Profile::for_batch(32, Some(8)),
                ..key.clone()
            },
            PlanKey {
                fp16: false,
                ..key.clone()
            },
        ];
        for v in variants {
            assert_ne!(v.file_name(), name, "{v:?}");
        }
        assert_eq!(Profile::for_batch(8, Some(99)).opt, 8);
        assert_eq!(Profile::for_batch(8, Some(0)).opt, 1);
    }

    #[test]
    fn atomic_write_replaces_whole_files_and_leaves_no_temporaries() {
        let dir = std::env::temp_dir().join(format!("lmbatch-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = write_atomically(&dir, "a.plan", b"first").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        write_atomically(&dir, "a.plan", b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.plan")]);
        // A folder that cannot be made is an error, not a panic.
        assert!(write_atomically(&path.join("sub"), "b.plan", b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn models_are_classified_by_extension() {
        let ModelInput::Onnx { bytes, sha256 } = read_model(&ModelSource::Bundled).unwrap() else {
            panic!("the bundled model is ONNX");
        };
        assert_eq!(bytes.len(), DEFAULT_MODEL_ONNX.len());
        assert_ne!(sha256, [0; 32]);
        let e = read_model(&ModelSource::Path("/tmp/model.bin".into())).unwrap_err();
        assert!(e.message().contains(".engine"), "{}", e.message());
        let e = read_model(&ModelSource::Path("/nonexistent/m.plan".into())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ModelError);
    }
}

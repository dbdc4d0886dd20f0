//! The REMOTE backend: each batch goes, as ONE unary gRPC `ModelInfer`, to a server speaking the
//! Open Inference Protocol (KServe v2): NVIDIA Triton, KServe, Seldon MLServer. The server's own
//! batcher and replicas spread the load; this module is only its client.
//!
//! What is here is pure and always compiled (the settings, the tensor encodings, the checks of a
//! server's model metadata and replies, the retry rule); the tonic client lives in `client.rs`
//! behind the cargo feature `remote`, so the [`Backend`](super::Backend) trait never sees gRPC.

#[cfg(feature = "remote")]
mod client;
/// cbindgen:ignore
#[cfg(feature = "remote")]
pub mod oip;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Backend, BatchOutput, OpenRequest};
use crate::descriptor::DType;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{decode_outputs, to_planar, write_input_bytes, ModelSpec};

/// The model name asked for when the caller gives none.
pub const DEFAULT_MODEL: &str = "face_landmark_u8";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2000);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

/// What `lm_config`'s `remote_*` fields say, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSettings {
    /// `http://host:port` or `https://host:port`, in the caller's order.
    pub endpoints: Vec<String>,
    pub model: String,
    /// Empty: the server's choice.
    pub model_version: String,
    /// Per batch request (each try).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Sent with every call (authorization), names in lower case.
    pub headers: Vec<(String, String)>,
    /// PEM bundle of the roots for https://; `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
}

impl RemoteSettings {
    /// Parses the caller's strings. `endpoints` is a comma-separated list; `headers` holds
    /// `name: value` lines separated by '\n' (a trailing '\r' is dropped).
    pub fn parse(
        endpoints: Option<&str>,
        model: Option<&str>,
        model_version: Option<&str>,
        timeout_ms: u32,
        connect_timeout_ms: u32,
        headers: Option<&str>,
        ca_file: Option<PathBuf>,
    ) -> Result<Self> {
        let endpoints = parse_endpoints(endpoints.unwrap_or(""))?;
        let model = model.filter(|m| !m.is_empty()).unwrap_or(DEFAULT_MODEL);
        let ms = |v: u32, default: Duration| {
            if v == 0 {
                default
            } else {
                Duration::from_millis(u64::from(v))
            }
        };
        Ok(RemoteSettings {
            endpoints,
            model: model.to_string(),
            model_version: model_version.unwrap_or("").to_string(),
            timeout: ms(timeout_ms, DEFAULT_TIMEOUT),
            connect_timeout: ms(connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT),
            headers: parse_headers(headers.unwrap_or(""))?,
            ca_file,
        })
    }
}

/// Splits and checks `"http://a:1,https://b:2"`.
pub fn parse_endpoints(list: &str) -> Result<Vec<String>> {
    let endpoints: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect();
    if endpoints.is_empty() {
        return Err(Error::invalid(
            "remote_endpoints is required for LM_BACKEND_REMOTE (e.g. \"http://10.0.0.5:8001\")",
        ));
    }
    for e in &endpoints {
        let rest = e
            .strip_prefix("http://")
            .or_else(|| e.strip_prefix("https://"));
        match rest {
            Some(hostport) if !hostport.is_empty() && !hostport.contains(char::is_whitespace) => {}
            _ => {
                return Err(Error::invalid(format!(
                    "remote endpoint {e:?} is not http://host:port or https://host:port"
                )))
            }
        }
    }
    Ok(endpoints)
}

/// `"name: value"` lines into pairs; names are lower-cased (gRPC metadata keys are).
pub fn parse_headers(text: &str) -> Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Error::invalid(format!(
                "remote_headers line {line:?} is not \"name: value\""
            )));
        };
        let name = name.trim().to_ascii_lowercase();
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        let value = value.trim();
        if !valid_name || name.ends_with("-bin") || value.bytes().any(|b| !(32..127).contains(&b)) {
            return Err(Error::invalid(format!(
                "remote_headers line {line:?}: the name must be ASCII letters, digits, '-', '_' or '.' (not '-bin') and the value printable ASCII"
            )));
        }
        headers.push((name, value.to_string()));
    }
    Ok(headers)
}

/// Retries and failovers, shared by the backend (on its runtime) and `lm_get_stats`.
#[derive(Debug, Default)]
pub struct RemoteCounters {
    retries: AtomicU64,
    failovers: AtomicU64,
}

impl RemoteCounters {
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    pub fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_failover(&self) {
        self.failovers.fetch_add(1, Ordering::Relaxed);
    }
}

/// How the served model takes its input (chosen from its metadata at create).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// The bundled model served as its uint8 wrapper: `UINT8 [-1, 192, 192, 3]`, the staged
    /// crops as they are (110,592 bytes a face).
    U8Nhwc,
    /// The bundled model as it is: `FP32 [-1, 3, 192, 192]`, value = byte / 255: four times the
    /// bytes.
    F32Nchw,
    /// A described model: its own input tensor (the descriptor's dtype, layout, channels, size,
    /// normalisation and transposition), as a local engine takes it.
    Described,
}

/// The Open Inference Protocol's name of a descriptor dtype.
pub fn oip_datatype(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "FP32",
        DType::F16 => "FP16",
        DType::U8 => "UINT8",
    }
}

impl Encoding {
    pub fn datatype(self, spec: &ModelSpec) -> &'static str {
        match self {
            Encoding::U8Nhwc => "UINT8",
            Encoding::F32Nchw => "FP32",
            Encoding::Described => oip_datatype(spec.input.dtype),
        }
    }

    /// The request's input shape for `n` items.
    pub fn shape(self, n: usize, spec: &ModelSpec) -> [i64; 4] {
        let (w, h) = (i64::from(spec.input_width), i64::from(spec.input_height));
        match self {
            Encoding::U8Nhwc => [n as i64, h, w, 3],
            Encoding::F32Nchw => [n as i64, 3, h, w],
            Encoding::Described => spec.input_shape(n).map(|d| d as i64),
        }
    }

    /// Request bytes of one face.
    pub fn bytes_per_item(self, spec: &ModelSpec) -> usize {
        match self {
            Encoding::U8Nhwc => spec.crop_bytes(),
            Encoding::F32Nchw => 4 * spec.crop_bytes(),
            Encoding::Described => spec.input_bytes(),
        }
    }
}

/// One tensor as a server describes it in `ModelMetadata`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<i64>,
}

/// The served model's input name and encoding, or why it is not a model this library can feed
/// (the error names the mismatch). The bundled model may be served as it is or as its uint8
/// wrapper; a described model must be served exactly as its descriptor says
/// ([`check_described`]).
pub fn choose_encoding(
    spec: &ModelSpec,
    inputs: &[TensorInfo],
    outputs: &[TensorInfo],
) -> Result<(String, Encoding)> {
    if *spec != ModelSpec::face_landmark_468() {
        return check_described(spec, inputs, outputs).map(|name| (name, Encoding::Described));
    }
    let (width, height) = (i64::from(spec.input_width), i64::from(spec.input_height));
    let mismatch = |why: String| Error::new(ErrorKind::ModelError, why);
    let [input] = inputs else {
        return Err(mismatch(format!(
            "the served model has {} inputs ({}); expected one: UINT8 [-1,{height},{width},3] or FP32 [-1,3,{height},{width}]",
            inputs.len(),
            describe(inputs)
        )));
    };
    let encoding = match (input.datatype.as_str(), input.shape.as_slice()) {
        ("UINT8", [-1, h, w, 3]) if *h == height && *w == width => Encoding::U8Nhwc,
        ("FP32", [-1, 3, h, w]) if *h == height && *w == width => Encoding::F32Nchw,
        _ => {
            return Err(mismatch(format!(
                "the served model's input is {}; expected UINT8 [-1,{height},{width},3] or FP32 [-1,3,{height},{width}] (a dynamic batch dimension first)",
                describe(inputs)
            )))
        }
    };
    for (name, per_item) in [
        (&spec.landmarks_name, spec.point_floats() as u64),
        (&spec.score_name, 1),
    ] {
        let Some(out) = outputs.iter().find(|o| &o.name == name) else {
            return Err(mismatch(format!(
                "the served model has no output {name:?} (it has {})",
                describe(outputs)
            )));
        };
        let (first, rest) = out.shape.split_first().unwrap_or((&0, &[]));
        if out.datatype != "FP32" || *first != -1 || element_count(rest) != Some(per_item) {
            return Err(mismatch(format!(
                "the served model's output {name:?} is {} {:?}; expected FP32 with a dynamic batch dimension (the only one) and {per_item} values per item",
                out.datatype, out.shape
            )));
        }
    }
    Ok((input.name.clone(), encoding))
}

/// Checks a server's `ModelMetadata` against a model's descriptor: one input with the
/// descriptor's name, datatype and shape (a dynamic batch first), the points output with
/// `points.count × points.dims` FP32 values per item and, when the descriptor has a score, the
/// score output with the column it reads. Returns the input's name; a mismatch is MODEL_ERROR
/// naming the descriptor key and what the server has.
pub fn check_described(
    spec: &ModelSpec,
    inputs: &[TensorInfo],
    outputs: &[TensorInfo],
) -> Result<String> {
    let mismatch = |why: String| Error::new(ErrorKind::ModelError, why);
    let [input] = inputs else {
        return Err(mismatch(format!(
            "the served model has {} inputs ({}); its descriptor describes one, input.name = {:?}",
            inputs.len(),
            describe(inputs),
            spec.input_name
        )));
    };
    if input.name != spec.input_name {
        return Err(mismatch(format!(
            "input.name = {:?}, but the served model's input is {}",
            spec.input_name,
            describe(inputs)
        )));
    }
    let datatype = oip_datatype(spec.input.dtype);
    if input.datatype != datatype {
        return Err(mismatch(format!(
            "input.dtype gives {datatype}, but the served input is {}",
            describe(inputs)
        )));
    }
    let mut shape = vec![-1i64];
    shape.extend(spec.input_shape(1)[1..].iter().map(|&d| d as i64));
    if input.shape != shape {
        return Err(mismatch(format!(
            "input.size, input.layout, input.channels and input.transpose give {shape:?}, but \
             the served input is {}",
            describe(inputs)
        )));
    }
    let per_item = |name: &str, key: &str| -> Result<u64> {
        let Some(out) = outputs.iter().find(|o| o.name == name) else {
            return Err(mismatch(format!(
                "{key} = {name:?}, but the served model has no such output (it has {})",
                describe(outputs)
            )));
        };
        let (first, rest) = out.shape.split_first().unwrap_or((&0, &[]));
        match element_count(rest) {
            Some(count) if out.datatype == "FP32" && *first == -1 => Ok(count),
            _ => Err(mismatch(format!(
                "{key} = {name:?} is served as {} {:?}; expected FP32 with a dynamic batch \
                 dimension (the only one)",
                out.datatype, out.shape
            ))),
        }
    };
    let points = per_item(&spec.landmarks_name, "points.output")?;
    let want = spec.raw_point_values() as u64;
    if points != want {
        return Err(mismatch(format!(
            "points.count x points.dims = {want} values per face, but the served output {:?} \
             has {points}",
            spec.landmarks_name
        )));
    }
    if let Some(conv) = spec.score {
        let columns = per_item(&spec.score_name, "score.output")?;
        if columns <= u64::from(conv.index) {
            return Err(mismatch(format!(
                "score.index = {}, but the served output {:?} has {columns} values per face",
                conv.index, spec.score_name
            )));
        }
    }
    Ok(input.name.clone())
}

/// The number of values a shape holds, or `None` when a dimension is negative (dynamic, or a
/// server's garbage) or the product overflows: a server's numbers are never trusted to multiply.
pub fn element_count(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| {
        u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

fn describe(tensors: &[TensorInfo]) -> String {
    if tensors.is_empty() {
        return "none".into();
    }
    tensors
        .iter()
        .map(|t| format!("{:?} {} {:?}", t.name, t.datatype, t.shape))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The request's raw input bytes for `crops` (each `spec.crop_bytes()` interleaved RGB bytes).
pub fn encode_input(spec: &ModelSpec, encoding: Encoding, crops: &[&[u8]], out: &mut Vec<u8>) {
    out.clear();
    match encoding {
        Encoding::U8Nhwc => {
            out.reserve(crops.len() * spec.crop_bytes());
            for crop in crops {
                out.extend_from_slice(crop);
            }
        }
        Encoding::F32Nchw => {
            let mut planar = Vec::new();
            to_planar(
                crops,
                spec.sample_size().pixels(),
                spec.input_scale,
                &mut planar,
            );
            out.reserve(planar.len() * 4);
            for v in planar {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Encoding::Described => {
            out.resize(crops.len() * spec.input_bytes(), 0);
            write_input_bytes(crops, spec, out);
        }
    }
}

/// One output tensor of a reply: its declared type and shape and its values, from the raw
/// bytes (Triton) or from the typed `fp32_contents` (MLServer may send either).
#[derive(Clone, Debug, PartialEq)]
pub struct ReplyTensor<'a> {
    pub name: &'a str,
    pub datatype: &'a str,
    pub shape: &'a [i64],
    pub raw: Option<&'a [u8]>,
    pub fp32: &'a [f32],
}

/// Fills `out` from a reply for `n` items, decoded as the descriptor says (`model::decode_outputs`);
/// a wrong type, shape, byte count or a missing output fails the batch with what was wrong.
pub fn decode_reply(
    spec: &ModelSpec,
    n: usize,
    outputs: &[ReplyTensor<'_>],
    out: &mut BatchOutput,
) -> Result<()> {
    let fail = |why: String| Error::new(ErrorKind::InferenceFailed, why);
    // The score output's values per item: as many as the reply has (at least the column read).
    let score_columns = match spec.score {
        None => None,
        Some(conv) => {
            let t = outputs.iter().find(|t| t.name == spec.score_name.as_str());
            let count = t.and_then(|t| element_count(t.shape)).unwrap_or(0) as usize;
            Some((count / n.max(1)).max(conv.index as usize + 1))
        }
    };
    let (mut raw_points, mut rows) = (Vec::new(), Vec::new());
    let wanted = [
        Some((
            &spec.landmarks_name,
            spec.raw_point_values(),
            &mut raw_points,
        )),
        score_columns.map(|columns| (&spec.score_name, columns, &mut rows)),
    ];
    for (name, per_item, dst) in wanted.into_iter().flatten() {
        let Some(t) = outputs.iter().find(|t| t.name == name.as_str()) else {
            let names: Vec<&str> = outputs.iter().map(|t| t.name).collect();
            return Err(fail(format!(
                "the reply has no output {name:?} (it has {names:?})"
            )));
        };
        let want = n * per_item;
        if t.datatype != "FP32"
            || t.shape.first() != Some(&(n as i64))
            || element_count(t.shape) != Some(want as u64)
        {
            return Err(fail(format!(
                "output {name:?} is {} {:?}; expected FP32 [{n}, ...] with {want} values",
                t.datatype, t.shape
            )));
        }
        dst.clear();
        match t.raw {
            Some(raw) => {
                if raw.len() != want * 4 {
                    return Err(fail(format!(
                        "output {name:?} has {} bytes; expected {} ({want} FP32 values)",
                        raw.len(),
                        want * 4
                    )));
                }
                dst.extend(
                    raw.chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
            }
            None => {
                if t.fp32.len() != want {
                    return Err(fail(format!(
                        "output {name:?} has {} values; expected {want}",
                        t.fp32.len()
                    )));
                }
                dst.extend_from_slice(t.fp32);
            }
        }
    }
    out.points.clear();
    out.scores.clear();
    let rows = score_columns.map(|_| rows.as_slice());
    decode_outputs(&raw_points, rows, n, spec, &mut out.points, &mut out.scores);
    Ok(())
}

/// How a failed call is treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// UNAVAILABLE, a connection error, a timeout: the endpoint is marked failed and the batch
    /// is tried once more on the next healthy endpoint.
    Retry,
    /// The server answered and refused (INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, INTERNAL,
    /// ...), or the reply is malformed: the batch fails at once; the endpoint stays healthy.
    Fail,
}

/// Backoff before a failed endpoint is probed again: 250 ms doubling per failure, at most 5 s.
pub fn probe_backoff(consecutive_failures: u32) -> Duration {
    let ms = 250u64.saturating_mul(1 << consecutive_failures.saturating_sub(1).min(5));
    Duration::from_millis(ms.min(5000))
}

/// Health of one endpoint, as [`route`] sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointHealth {
    /// Failures in a row; 0: healthy.
    pub failures: u32,
    /// Not probed again before this instant (its backoff, or a probe already under way).
    pub next_probe: Option<Instant>,
    /// The one early probe of this outage was made (see [`route`]).
    pub early_probe_spent: bool,
    /// Why it last failed: what the batches that are not sent report.
    pub last_error: String,
}

impl EndpointHealth {
    /// A try on this endpoint failed for want of a server at `now`; returns its backoff.
    pub fn mark_failed(&mut self, why: &str, now: Instant) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let backoff = probe_backoff(self.failures);
        self.next_probe = Some(now + backoff);
        self.last_error = why.to_string();
        backoff
    }
}

/// Where a try of a batch goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A healthy endpoint: send.
    Send(usize),
    /// A failed endpoint: probe it (ModelReady), then send. The probe is claimed: no other
    /// batch probes it before this try could have ended and a backoff passed.
    Probe(usize),
    /// Every endpoint is down and none may be probed yet: fail the batch at once with this
    /// endpoint's last error (the one probed soonest) rather than block the worker on it.
    FailFast(usize),
}

/// Chooses where a try goes, from `from` on in ring order, never to `except`: the first
/// healthy endpoint; else the first failed one whose backoff is over; else, when `early_probe`
/// (a batch's first try), the failed endpoint probed soonest, if this outage's one early probe
/// of it is not spent: an endpoint alone (one address behind a load balancer) heals at the next
/// batch instead of after its backoff. Otherwise [`Route::FailFast`]. So each endpoint costs
/// at most one blocking probe per backoff period, however many batches come. `try_timeout`:
/// the longest a try (probe and send) takes. `None`: every endpoint is `except`.
pub fn route(
    health: &mut [EndpointHealth],
    from: usize,
    except: Option<usize>,
    early_probe: bool,
    try_timeout: Duration,
    now: Instant,
) -> Option<Route> {
    let n = health.len();
    let candidates = || {
        (0..n)
            .map(|k| (from + k) % n)
            .filter(|&i| Some(i) != except)
    };
    if let Some(i) = candidates().find(|&i| health[i].failures == 0) {
        return Some(Route::Send(i));
    }
    let soonest = candidates().min_by_key(|&i| health[i].next_probe)?;
    let due = candidates().find(|&i| health[i].next_probe.is_none_or(|t| t <= now));
    let early = || {
        candidates()
            .filter(|&i| !health[i].early_probe_spent)
            .min_by_key(|&i| health[i].next_probe)
    };
    let Some(i) = due.or_else(|| early_probe.then(early).flatten()) else {
        return Some(Route::FailFast(soonest));
    };
    let h = &mut health[i];
    h.early_probe_spent = true;
    // Its end (mark_failed, or healthy) sets the next probe; this bound holds only when a try
    // ends otherwise (refused with a Fail-class error after a good probe).
    h.next_probe = Some(now + try_timeout + probe_backoff(h.failures));
    Some(Route::Probe(i))
}

/// Opens the REMOTE backend.
pub fn open(request: &OpenRequest) -> Result<Box<dyn Backend>> {
    let settings = request.remote.as_ref().ok_or_else(|| {
        Error::invalid("LM_BACKEND_REMOTE needs remote_endpoints (no remote settings were given)")
    })?;
    open_client(request, settings)
}

#[cfg(feature = "remote")]
fn open_client(request: &OpenRequest, settings: &RemoteSettings) -> Result<Box<dyn Backend>> {
    Ok(Box::new(client::RemoteBackend::open(request, settings)?))
}

#[cfg(not(feature = "remote"))]
fn open_client(_request: &OpenRequest, _settings: &RemoteSettings) -> Result<Box<dyn Backend>> {
    Err(Error::new(
        ErrorKind::BackendUnavailable,
        "this build of lmbatch has no remote backend (feature remote is off)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A try's timeout in the routing tests.
    const T: Duration = Duration::from_secs(2);

    fn t(name: &str, datatype: &str, shape: &[i64]) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            datatype: datatype.into(),
            shape: shape.to_vec(),
        }
    }

    fn good_outputs() -> Vec<TensorInfo> {
        vec![
            t("landmarks", "FP32", &[-1, 468, 3]),
            t("face_score", "FP32", &[-1, 1]),
        ]
    }

    #[test]
    fn endpoints_and_headers_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_endpoints(" http://a:1 ,https://b:2,").unwrap(),
            vec!["http://a:1", "https://b:2"]
        );
        assert!(parse_endpoints("").is_err());
        let e = parse_endpoints("http://a:1,grpc://b:2").unwrap_err();
        assert!(e.message().contains("grpc://b:2"), "{e}");
        assert_eq!(
            parse_headers("Authorization: Bearer x\r\n\nx-api-key:k ").unwrap(),
            vec![
                ("authorization".into(), "Bearer x".into()),
                ("x-api-key".into(), "k".into())
            ]
        );
        assert!(parse_headers("no colon").is_err());
        assert!(parse_headers("bad name: v").is_err());
        assert!(parse_headers("x-bin: v").is_err());
    }

    #[test]
    fn settings_take_defaults() {
        let s = RemoteSettings::parse(Some("http://h:1"), None, None, 0, 0, None, None).unwrap();
        assert_eq!(s.model, DEFAULT_MODEL);
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert!(s.headers.is_empty());
    }

    #[test]
    fn metadata_picks_the_encoding_or_names_the_mismatch() {
        let spec = ModelSpec::face_landmark_468();
        let u8_in = [t("input", "UINT8", &[-1, 192, 192, 3])];
        assert_eq!(
            choose_encoding(&spec, &u8_in, &good_outputs()).unwrap(),
            ("input".into(), Encoding::U8Nhwc)
        );
        let f32_in = [t("x", "FP32", &[-1, 3, 192, 192])];
        assert_eq!(
            choose_encoding(&spec, &f32_in, &good_outputs()).unwrap().1,
            Encoding::F32Nchw
        );
        let wrong = [t("input", "UINT8", &[-1, 224, 224, 3])];
        let e = choose_encoding(&spec, &wrong, &good_outputs()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ModelError);
        assert!(e.message().contains("[-1, 224, 224, 3]"), "{e}");
        let nhwc_f32 = [t("input", "FP32", &[-1, 192, 192, 3])];
        assert!(choose_encoding(&spec, &nhwc_f32, &good_outputs()).is_err());
        let fixed = [t("input", "UINT8", &[8, 192, 192, 3])];
        assert!(choose_encoding(&spec, &fixed, &good_outputs()).is_err());
        let no_score = vec![t("landmarks", "FP32", &[-1, 1404])];
        let e = choose_encoding(&spec, &u8_in, &no_score).unwrap_err();
        assert!(e.message().contains("face_score"), "{e}");
        let short = vec![
            t("landmarks", "FP32", &[-1, 68, 3]),
            t("face_score", "FP32", &[-1, 1]),
        ];
        let e = choose_encoding(&spec, &u8_in, &short).unwrap_err();
        assert!(e.message().contains("landmarks"), "{e}");
    }

    /// The 478 model's spec, from its descriptor in models/.
    fn spec_478() -> ModelSpec {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/models/face_landmarks_478.lmbatch.toml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let d = crate::descriptor::Descriptor::parse(&text, path).unwrap();
        ModelSpec::from_descriptor(&d).unwrap()
    }

    fn outputs_478() -> Vec<TensorInfo> {
        vec![
            t("Identity", "FP32", &[-1, 1, 1, 1434]),
            t("Identity_1", "FP32", &[-1, 1, 1, 1]),
        ]
    }

    #[test]
    fn a_described_model_must_be_served_as_its_descriptor_says() {
        let spec = spec_478();
        let input = [t("input_12", "FP32", &[-1, 256, 256, 3])];
        assert_eq!(
            choose_encoding(&spec, &input, &outputs_478()).unwrap(),
            ("input_12".into(), Encoding::Described)
        );
        assert_eq!(Encoding::Described.shape(4, &spec), [4, 256, 256, 3]);
        assert_eq!(Encoding::Described.datatype(&spec), "FP32");
        // Each mismatch names the descriptor key and what the server has.
        let error = |inputs: &[TensorInfo], outputs: &[TensorInfo]| {
            let e = choose_encoding(&spec, inputs, outputs).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ModelError);
            e.message().to_string()
        };
        let m = error(&[t("image", "FP32", &[-1, 256, 256, 3])], &outputs_478());
        assert!(m.contains("input.name") && m.contains("\"image\""), "{m}");
        let m = error(
            &[t("input_12", "UINT8", &[-1, 256, 256, 3])],
            &outputs_478(),
        );
        assert!(
            m.contains("input.dtype gives FP32") && m.contains("UINT8"),
            "{m}"
        );
        let m = error(&[t("input_12", "FP32", &[-1, 3, 256, 256])], &outputs_478());
        assert!(
            m.contains("[-1, 256, 256, 3]") && m.contains("[-1, 3, 256, 256]"),
            "{m}"
        );
        let m = error(&[t("input_12", "FP32", &[1, 256, 256, 3])], &outputs_478());
        assert!(m.contains("input.size"), "{m}");
        let m = error(&input, &[t("Identity", "FP32", &[-1, 1, 1, 1434])]);
        assert!(m.contains("score.output = \"Identity_1\""), "{m}");
        let m = error(
            &input,
            &[
                t("Identity", "FP32", &[-1, 468, 3]),
                t("Identity_1", "FP32", &[-1, 1]),
            ],
        );
        assert!(
            m.contains("points.count x points.dims = 1434") && m.contains("1404"),
            "{m}"
        );
        let m = error(
            &input,
            &[
                t("Identity", "FP16", &[-1, 1434]),
                t("Identity_1", "FP32", &[-1, 1]),
            ],
        );
        assert!(m.contains("points.output") && m.contains("FP16"), "{m}");
        // A score column the output does not have.
        let mut softmax = spec.clone();
        softmax.score = Some(crate::model::ScoreConvention {
            kind: crate::descriptor::ScoreKind::Softmax,
            index: 1,
        });
        let e = check_described(&softmax, &input, &outputs_478()).unwrap_err();
        assert!(e.message().contains("score.index = 1"), "{e}");
        // No score in the descriptor: no score output needed.
        let mut no_score = spec.clone();
        no_score.score = None;
        let only_points = [t("Identity", "FP32", &[-1, 1434])];
        assert!(check_described(&no_score, &input, &only_points).is_ok());
    }

    #[test]
    fn a_described_reply_decodes_as_its_descriptor_says() {
        let spec = spec_478();
        // Two faces: point values k, a logit of 0 and of ln 3.
        let points: Vec<f32> = (0..2 * 1434).map(|k| k as f32).collect();
        let logits = [0.0f32, 3f32.ln()];
        let outputs = [
            ReplyTensor {
                name: "Identity",
                datatype: "FP32",
                shape: &[2, 1, 1, 1434],
                raw: None,
                fp32: &points,
            },
            ReplyTensor {
                name: "Identity_1",
                datatype: "FP32",
                shape: &[2, 1, 1, 1],
                raw: None,
                fp32: &logits,
            },
        ];
        let mut out = BatchOutput::default();
        decode_reply(&spec, 2, &outputs, &mut out).unwrap();
        assert_eq!(out.points.len(), 2 * 478 * 3);
        assert_eq!(out.points[1434 + 5], 1439.0);
        assert!((out.scores[0] - 0.5).abs() < 1e-6 && (out.scores[1] - 0.75).abs() < 1e-6);
        // The request carries the model's own tensor: NHWC float32 value / 255.
        let crop: Vec<u8> = (0..spec.crop_bytes()).map(|i| (i % 251) as u8).collect();
        let mut bytes = Vec::new();
        encode_input(&spec, Encoding::Described, &[&crop], &mut bytes);
        assert_eq!(bytes.len(), 256 * 256 * 3 * 4);
        let value = |i: usize| f32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(value(4), 4.0 / 255.0);
    }

    #[test]
    fn inputs_encode_as_the_model_takes_them() {
        let spec = ModelSpec::face_landmark_468();
        let crop: Vec<u8> = (0..spec.crop_bytes()).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        encode_input(&spec, Encoding::U8Nhwc, &[&crop, &crop], &mut out);
        assert_eq!(out.len(), 2 * 110_592);
        assert_eq!(&out[..crop.len()], crop.as_slice());
        encode_input(&spec, Encoding::F32Nchw, &[&crop], &mut out);
        assert_eq!(out.len(), 4 * 110_592);
        let value = |i: usize| f32::from_le_bytes(out[4 * i..4 * i + 4].try_into().unwrap());
        // Pixel 1's green is byte 4; the green plane starts at 192 * 192.
        assert_eq!(value(192 * 192 + 1), 4.0 / 255.0);
        assert_eq!(value(0), 0.0);
    }

    #[test]
    fn replies_decode_or_fail_naming_what_is_wrong() {
        let spec = ModelSpec::face_landmark_468();
        let points: Vec<u8> = (0..2 * 1404)
            .flat_map(|i| (i as f32).to_le_bytes())
            .collect();
        let scores = [0.25f32, 0.75];
        let good = |raw_points: &[u8]| -> Vec<u8> { raw_points.to_vec() };
        let p = good(&points);
        let outputs = vec![
            ReplyTensor {
                name: "face_score",
                datatype: "FP32",
                shape: &[2, 1],
                raw: None,
                fp32: &scores,
            },
            ReplyTensor {
                name: "landmarks",
                datatype: "FP32",
                shape: &[2, 468, 3],
                raw: Some(&p),
                fp32: &[],
            },
        ];
        let mut out = BatchOutput::default();
        decode_reply(&spec, 2, &outputs, &mut out).unwrap();
        assert_eq!(out.points.len(), 2 * 1404);
        assert_eq!(out.points[1403], 1403.0);
        assert_eq!(out.scores, vec![0.25, 0.75]);

        let mut wrong_type = outputs.clone();
        wrong_type[1].datatype = "FP16";
        let e = decode_reply(&spec, 2, &wrong_type, &mut out).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InferenceFailed);
        assert!(e.message().contains("FP16"), "{e}");
        let mut short = outputs.clone();
        short[1].raw = Some(&p[..p.len() - 4]);
        let e = decode_reply(&spec, 2, &short, &mut out).unwrap_err();
        assert!(e.message().contains("bytes"), "{e}");
        let e = decode_reply(&spec, 3, &outputs, &mut out).unwrap_err();
        assert!(e.message().contains("[3, ...]"), "{e}");
        let e = decode_reply(&spec, 2, &outputs[..1], &mut out).unwrap_err();
        assert!(e.message().contains("landmarks"), "{e}");
    }

    #[test]
    fn shapes_with_negative_or_overflowing_dimensions_are_refused() {
        // Signs cancel in [-1, -1, -1404]; (2^32 + 1)(2^32 - 1) = 2^64 - 1 squares to 1 when
        // the product wraps: both multiply to exactly the count expected.
        let (p, m) = ((1i64 << 32) + 1, (1i64 << 32) - 1);
        assert_eq!(element_count(&[468, 3]), Some(1404));
        assert_eq!(element_count(&[]), Some(1));
        assert_eq!(element_count(&[-1, -1404]), None);
        assert_eq!(element_count(&[p, m, p, m, 1404]), None);
        let spec = ModelSpec::face_landmark_468();
        let u8_in = [t("input", "UINT8", &[-1, 192, 192, 3])];
        for (landmarks, score) in [
            (&[-1, -1, -1404][..], &[-1, 1][..]),
            (&[-1, 468, 3], &[-1, -1, -1]),
            (&[-1, p, m, p, m, 1404], &[-1, 1]),
        ] {
            let outputs = [
                t("landmarks", "FP32", landmarks),
                t("face_score", "FP32", score),
            ];
            let e = choose_encoding(&spec, &u8_in, &outputs).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ModelError, "{landmarks:?} {score:?}");
        }
        let points = vec![0u8; 2 * 1404 * 4];
        let scores = [0.5f32; 2];
        for shape in [&[2, 1404, p, m, p, m][..], &[2, -1, -1404]] {
            let outputs = [
                ReplyTensor {
                    name: "landmarks",
                    datatype: "FP32",
                    shape,
                    raw: Some(&points),
                    fp32: &[],
                },
                ReplyTensor {
                    name: "face_score",
                    datatype: "FP32",
                    shape: &[2, 1],
                    raw: None,
                    fp32: &scores,
                },
            ];
            let e = decode_reply(&spec, 2, &outputs, &mut BatchOutput::default()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InferenceFailed, "{shape:?}");
        }
    }

    #[test]
    fn probes_back_off_up_to_five_seconds() {
        assert_eq!(probe_backoff(1), Duration::from_millis(250));
        assert_eq!(probe_backoff(2), Duration::from_millis(500));
        assert_eq!(probe_backoff(30), Duration::from_millis(5000));
    }

    #[test]
    fn a_lone_endpoint_is_probed_early_once_then_once_per_backoff() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut h = vec![EndpointHealth::default()];
        assert_eq!(route(&mut h, 0, None, true, T, at(0)), Some(Route::Send(0)));
        assert_eq!(route(&mut h, 0, Some(0), false, T, at(0)), None);
        h[0].mark_failed("a: ModelInfer: no answer within 2000 ms", at(2000));
        // The next batch probes at once (the early probe), not after the 250 ms backoff...
        assert_eq!(
            route(&mut h, 0, None, true, T, at(2001)),
            Some(Route::Probe(0))
        );
        // ...and while that probe blocks, or after it failed, batches fail fast.
        assert_eq!(
            route(&mut h, 0, None, true, T, at(2002)),
            Some(Route::FailFast(0))
        );
        h[0].mark_failed("a: ModelReady: no answer within 2000 ms", at(4001));
        assert_eq!(h[0].last_error, "a: ModelReady: no answer within 2000 ms");
        assert_eq!(
            route(&mut h, 0, None, true, T, at(4002)),
            Some(Route::FailFast(0))
        );
        assert_eq!(
            route(&mut h, 0, None, true, T, at(4501)),
            Some(Route::Probe(0))
        );
        assert_eq!(
            route(&mut h, 0, None, true, T, at(4502)),
            Some(Route::FailFast(0))
        );
        // It answers: healthy again, and the next outage has its early probe again.
        h[0] = EndpointHealth::default();
        assert_eq!(
            route(&mut h, 0, None, true, T, at(5000)),
            Some(Route::Send(0))
        );
    }

    /// A blackhole outage of a minute: a batch every 10 ms, each probe blocking for the 2 s
    /// timeout. Probes go out at the early one and then once per backoff; every other batch
    /// fails at once.
    #[test]
    fn a_blackhole_outage_costs_one_probe_per_backoff_not_one_per_batch() {
        let t0 = Instant::now();
        let mut h = vec![EndpointHealth::default(); 2];
        for e in &mut h {
            e.mark_failed("down", t0);
        }
        let mut probes = Vec::new();
        let mut failing = Vec::new();
        let mut fail_fast = 0;
        for tick in 0..6000u64 {
            let now = t0 + Duration::from_millis(10 * tick);
            failing.retain(|&(i, at): &(usize, Instant)| {
                if at <= now {
                    h[i].mark_failed("down", at);
                }
                at > now
            });
            match route(&mut h, 0, None, true, T, now) {
                Some(Route::Probe(i)) => {
                    probes.push((i, (now - t0).as_millis()));
                    failing.push((i, now + T));
                }
                Some(Route::FailFast(_)) => fail_fast += 1,
                other => panic!("{other:?}"),
            }
        }
        // Each endpoint: its early probe (one a batch: 0 and 10 ms), then one when the backoff
        // after each failed probe ends: 2000 + 500, 4500 + 1000, 7500 + 2000, 11500 + 4000,
        // 17500 + 5000 (the cap), ...
        let of =
            |i: usize| -> Vec<u128> { probes.iter().filter(|p| p.0 == i).map(|p| p.1).collect() };
        assert_eq!(of(0)[..6], [0, 2500, 5500, 9500, 15500, 22500]);
        assert_eq!(of(1)[..6], [10, 2510, 5510, 9510, 15510, 22510]);
        assert!(probes.len() <= 2 * 12, "{probes:?}");
        assert_eq!(fail_fast + probes.len(), 6000);
    }

    #[test]
    fn a_healthy_endpoint_is_used_before_any_probe_and_a_retry_never_probes_early() {
        let t0 = Instant::now();
        let mut h = vec![EndpointHealth::default(); 3];
        h[0].mark_failed("a down", t0);
        assert_eq!(route(&mut h, 0, None, true, T, t0), Some(Route::Send(1)));
        h[1].mark_failed("b down", t0);
        h[2].mark_failed("c down", t0);
        // The retry of a batch that failed on 1: nothing is due, no early probe.
        let soon = t0 + Duration::from_millis(1);
        assert_eq!(
            route(&mut h, 2, Some(1), false, T, soon),
            Some(Route::FailFast(2))
        );
        // Due after the backoff, in ring order from `from`, never `except`.
        let later = t0 + Duration::from_millis(250);
        assert_eq!(
            route(&mut h, 2, Some(2), false, T, later),
            Some(Route::Probe(0))
        );
        assert_eq!(
            route(&mut h, 2, Some(2), false, T, later),
            Some(Route::Probe(1))
        );
        assert_eq!(
            route(&mut h, 2, Some(2), false, T, later),
            Some(Route::FailFast(0))
        );
    }
}

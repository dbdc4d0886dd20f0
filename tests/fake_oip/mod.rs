//! A fake Open Inference Protocol server for the REMOTE tests: a real tonic gRPC server on
//! 127.0.0.1, with the faults real servers will not produce on demand (UNAVAILABLE every Nth
//! call, slow or hanging replies, a dropped connection, malformed replies, a wrong model).
//! Its "model" is either tract (the library's own CPU backend, so REMOTE can be compared with a
//! local run) or a cheap function of each crop.
#![allow(dead_code)]

#[allow(clippy::all)]
mod oip {
    include!("oip_server.rs");
}

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use oip::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use oip::model_infer_response::InferOutputTensor;
use oip::model_metadata_response::TensorMetadata;
use oip::*;
use parking_lot::Mutex;
use tonic::{Request, Response, Status};

/// What the fake server does wrong, changeable while it runs.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Every Nth ModelInfer answers UNAVAILABLE.
    pub unavailable_every: Option<u64>,
    /// Every ModelInfer waits this long first.
    pub delay: Duration,
    /// ModelInfer never answers.
    pub hang: bool,
    /// No call is answered, ModelReady included: a blackholed server.
    pub blackhole: bool,
    /// ModelReady answers ready = false.
    pub not_ready: bool,
    /// The reply's landmarks are FP16 (type mismatch).
    pub wrong_dtype: bool,
    /// The reply's landmarks lack their last 4 bytes.
    pub short_bytes: bool,
    /// Every Nth ModelInfer's reply lacks 4 bytes.
    pub garbage_every: Option<u64>,
    /// The reply has no face_score output.
    pub missing_output: bool,
    /// ModelInfer answers INVALID_ARGUMENT.
    pub invalid_argument: bool,
}

/// How the fake computes outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeModel {
    /// The library's tract backend on the received crops.
    Tract,
    /// Every value of item i = its first crop byte; score 0.9 (cheap, for load).
    FirstByte,
    /// The shipped 478-point model (models/face_landmarks_478.onnx) on tract, served as its
    /// descriptor says: FP32 NHWC 256 x 256 `input_12` (byte / 255) in, `Identity`
    /// [N, 1, 1, 1434] and the raw presence logit `Identity_1` [N, 1, 1, 1] out.
    Tract478,
}

#[derive(Clone, Debug)]
pub struct Served {
    pub input_name: &'static str,
    pub input_datatype: &'static str,
    pub input_shape: Vec<i64>,
    pub landmarks_name: &'static str,
    pub landmarks_shape: Vec<i64>,
    pub score_name: &'static str,
    pub score_shape: Vec<i64>,
}

impl Default for Served {
    fn default() -> Self {
        Served {
            input_name: "input",
            input_datatype: "UINT8",
            input_shape: vec![-1, 192, 192, 3],
            landmarks_name: "landmarks",
            landmarks_shape: vec![-1, 468, 3],
            score_name: "face_score",
            score_shape: vec![-1, 1],
        }
    }
}

impl Served {
    /// What Triton's ModelMetadata says of the 478 model ([`FakeModel::Tract478`]).
    pub fn model_478() -> Self {
        Served {
            input_name: "input_12",
            input_datatype: "FP32",
            input_shape: vec![-1, 256, 256, 3],
            landmarks_name: "Identity",
            landmarks_shape: vec![-1, 1, 1, 1434],
            score_name: "Identity_1",
            score_shape: vec![-1, 1, 1, 1],
        }
    }
}

/// The shipped 478 model's path and the spec its descriptor gives.
pub fn model_478() -> (std::path::PathBuf, lmbatch::model::ModelSpec) {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let text = std::fs::read_to_string(models.join("face_landmarks_478.lmbatch.toml")).unwrap();
    let d = lmbatch::descriptor::Descriptor::parse(&text, "478").unwrap();
    (
        models.join("face_landmarks_478.onnx"),
        lmbatch::model::ModelSpec::from_descriptor(&d).unwrap(),
    )
}

struct Service {
    model: FakeModel,
    served: Served,
    faults: Arc<Mutex<Faults>>,
    stats: Arc<ServerStats>,
    tract: Option<Mutex<Box<dyn lmbatch::Backend>>>,
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct ServerStats {
    pub infer_calls: AtomicU64,
    pub unavailable_sent: AtomicU64,
    pub items: AtomicU64,
    pub ready_calls: AtomicU64,
    /// The last `authorization` header seen.
    pub authorization: Mutex<Option<String>>,
}

impl ServerStats {
    pub fn infer_calls(&self) -> u64 {
        self.infer_calls.load(Ordering::SeqCst)
    }
    pub fn items(&self) -> u64 {
        self.items.load(Ordering::SeqCst)
    }
    pub fn unavailable_sent(&self) -> u64 {
        self.unavailable_sent.load(Ordering::SeqCst)
    }
}

fn tensor(name: &str, datatype: &str, shape: Vec<i64>) -> TensorMetadata {
    TensorMetadata {
        name: name.into(),
        datatype: datatype.into(),
        shape,
        ..Default::default()
    }
}

impl Service {
    async fn blackhole(&self) {
        if self.faults.lock().blackhole {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    }
}

#[tonic::async_trait]
impl GrpcInferenceService for Service {
    async fn server_live(
        &self,
        _r: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn model_ready(
        &self,
        r: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        self.stats.ready_calls.fetch_add(1, Ordering::SeqCst);
        self.blackhole().await;
        let ready = r.get_ref().name == "face_landmark_u8" && !self.faults.lock().not_ready;
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn model_metadata(
        &self,
        _r: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        self.blackhole().await;
        Ok(Response::new(ModelMetadataResponse {
            name: "face_landmark_u8".into(),
            versions: vec!["1".into()],
            platform: "fake".into(),
            inputs: vec![tensor(
                self.served.input_name,
                self.served.input_datatype,
                self.served.input_shape.clone(),
            )],
            outputs: vec![
                tensor(
                    self.served.landmarks_name,
                    "FP32",
                    self.served.landmarks_shape.clone(),
                ),
                tensor(
                    self.served.score_name,
                    "FP32",
                    self.served.score_shape.clone(),
                ),
            ],
            ..Default::default()
        }))
    }

    async fn model_infer(
        &self,
        r: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let call = self.stats.infer_calls.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(auth) = r.metadata().get("authorization") {
            *self.stats.authorization.lock() = auth.to_str().ok().map(str::to_string);
        }
        self.blackhole().await;
        let faults = self.faults.lock().clone();
        if faults.hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if !faults.delay.is_zero() {
            tokio::time::sleep(faults.delay).await;
        }
        if faults
            .unavailable_every
            .is_some_and(|n| call.is_multiple_of(n))
        {
            self.stats.unavailable_sent.fetch_add(1, Ordering::SeqCst);
            return Err(Status::unavailable("fake: overloaded"));
        }
        if faults.invalid_argument {
            return Err(Status::invalid_argument("fake: bad input"));
        }
        let req = r.into_inner();
        let input = req
            .inputs
            .first()
            .ok_or_else(|| Status::invalid_argument("no input"))?;
        let raw = req
            .raw_input_contents
            .first()
            .ok_or_else(|| Status::invalid_argument("no raw input"))?;
        let n = input.shape[0] as usize;
        let model_478 = self.model == FakeModel::Tract478;
        // The 478 model takes FP32 NHWC byte / 255: four bytes a value of its RGB crop.
        let (datatype, crop, value_bytes) = match model_478 {
            true => ("FP32", 256 * 256 * 3, 4),
            false => ("UINT8", 192 * 192 * 3, 1),
        };
        if input.datatype != datatype || raw.len() != n * crop * value_bytes {
            return Err(Status::invalid_argument(format!(
                "fake: {} {:?} with {} bytes",
                input.datatype,
                input.shape,
                raw.len()
            )));
        }
        self.stats.items.fetch_add(n as u64, Ordering::SeqCst);
        // The crops again, from the values (byte / 255 rounds back to the byte).
        let bytes: Vec<u8> = match model_478 {
            true => raw
                .chunks_exact(4)
                .map(|b| (f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * 255.0).round() as u8)
                .collect(),
            false => raw.to_vec(),
        };
        let crops: Vec<&[u8]> = bytes.chunks_exact(crop).collect();
        let mut out = lmbatch::BatchOutput::default();
        match (self.model, &self.tract) {
            (FakeModel::Tract | FakeModel::Tract478, Some(tract)) => tract
                .lock()
                .infer(&crops, &mut out)
                .map_err(|e| Status::internal(e.to_string()))?,
            _ => {
                for c in &crops {
                    out.points
                        .extend(std::iter::repeat_n(f32::from(c[0]), 468 * 3));
                    out.scores.push(0.9);
                }
            }
        }
        let mut points: Vec<u8> = out.points.iter().flat_map(|v| v.to_le_bytes()).collect();
        let scores: Vec<u8> = out.scores.iter().flat_map(|v| v.to_le_bytes()).collect();
        if faults.short_bytes || faults.garbage_every.is_some_and(|n| call.is_multiple_of(n)) {
            points.truncate(points.len() - 4);
        }
        let n = n as i64;
        // The served shapes with the batch's own size first.
        let sized = |shape: &[i64]| [&[n][..], &shape[1..]].concat();
        let mut outputs = vec![InferOutputTensor {
            name: self.served.landmarks_name.into(),
            datatype: if faults.wrong_dtype { "FP16" } else { "FP32" }.into(),
            shape: sized(&self.served.landmarks_shape),
            ..Default::default()
        }];
        let mut raw_out = vec![points];
        if !faults.missing_output {
            outputs.push(InferOutputTensor {
                name: self.served.score_name.into(),
                datatype: "FP32".into(),
                shape: sized(&self.served.score_shape),
                ..Default::default()
            });
            raw_out.push(scores);
        }
        Ok(Response::new(ModelInferResponse {
            model_name: req.model_name,
            outputs,
            raw_output_contents: raw_out,
            ..Default::default()
        }))
    }
}

/// A running fake server; dropping or [`kill`](Self::kill)ing it closes every connection at once.
pub struct FakeServer {
    pub addr: SocketAddr,
    pub faults: Arc<Mutex<Faults>>,
    pub stats: Arc<ServerStats>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeServer {
    pub fn start(model: FakeModel) -> FakeServer {
        Self::start_with(model, Served::default(), Faults::default(), None)
    }

    /// Starts on `port` (0: any free one).
    pub fn start_with(
        model: FakeModel,
        served: Served,
        faults: Faults,
        port: Option<u16>,
    ) -> FakeServer {
        Self::start_full(model, served, faults, port, None)
    }

    /// Serves https with this PEM certificate and key.
    pub fn start_tls(cert_pem: &[u8], key_pem: &[u8]) -> FakeServer {
        Self::start_full(
            FakeModel::FirstByte,
            Served::default(),
            Faults::default(),
            None,
            Some(tonic::transport::Identity::from_pem(cert_pem, key_pem)),
        )
    }

    fn start_full(
        model: FakeModel,
        served: Served,
        faults: Faults,
        port: Option<u16>,
        tls: Option<tonic::transport::Identity>,
    ) -> FakeServer {
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", port.unwrap_or(0))).expect("bind 127.0.0.1");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-oip")
            .enable_all()
            .build()
            .unwrap();
        let tract = matches!(model, FakeModel::Tract | FakeModel::Tract478).then(|| {
            let (source, spec) = match model {
                FakeModel::Tract478 => {
                    let (path, mut spec) = model_478();
                    // Read the score as given: the served output is the network's raw logit.
                    spec.score = Some(lmbatch::model::ScoreConvention {
                        kind: lmbatch::descriptor::ScoreKind::Probability,
                        index: 0,
                    });
                    (lmbatch::ModelSource::Path(path), spec)
                }
                _ => (
                    lmbatch::ModelSource::Bundled,
                    lmbatch::model::ModelSpec::face_landmark_468(),
                ),
            };
            let request = lmbatch::backend::OpenRequest {
                model: source,
                max_batch: 32,
                device_id: 0,
                engine_cache_dir: None,
                opt_batch: None,
                self_check: false,
                cpu_threads: None,
                spec,
                precision: Default::default(),
                logger: Default::default(),
                remote: None,
                remote_counters: Default::default(),
            };
            let (backend, _) =
                lmbatch::backend::open(lmbatch::BackendChoice::Cpu, &request).expect("tract");
            Mutex::new(backend)
        });
        let faults = Arc::new(Mutex::new(faults));
        let stats = Arc::new(ServerStats::default());
        let service = Service {
            model,
            served,
            faults: faults.clone(),
            stats: stats.clone(),
            tract,
        };
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            let mut builder = tonic::transport::Server::builder();
            if let Some(identity) = tls {
                builder = builder
                    .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                    .expect("tls");
            }
            let _ = builder
                .add_service(
                    GrpcInferenceServiceServer::new(service).max_decoding_message_size(64 << 20),
                )
                .serve_with_incoming(incoming)
                .await;
        });
        FakeServer {
            addr,
            faults,
            stats,
            runtime: Some(runtime),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every task and connection at once, as a crashed server does.
    pub fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }

    pub fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.faults.lock());
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on (bound then released).
pub fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

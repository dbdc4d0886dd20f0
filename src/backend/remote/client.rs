//! The tonic side of the REMOTE backend: the handle's own tokio runtime, one lazily connected
//! channel per endpoint, their health, and the retry/failover rule around `ModelInfer`.
//!
//! Threads: the runtime's two workers and its blocking pool (named `lmbatch-remote`) belong to
//! the backend, which the pipeline's worker thread owns. Dropping the backend, or a failed
//! `open`, shuts the runtime down and joins them, waiting at most `remote_connect_timeout_ms`
//! (see [`OwnedRuntime`]): nothing outlives `lm_destroy` unless a thread is stuck in a call that
//! cannot be interrupted, and then the library stays loaded rather than let it crash.

use std::collections::VecDeque;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Status};

use super::oip::grpc_inference_service_client::GrpcInferenceServiceClient;
use super::oip::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use super::oip::{
    ModelInferRequest, ModelInferResponse, ModelMetadataRequest, ModelMetadataResponse,
    ModelReadyRequest,
};
use super::{
    choose_encoding, decode_reply, encode_input, route, Encoding, EndpointHealth, FailureClass,
    RemoteCounters, RemoteSettings, ReplyTensor, Route, TensorInfo,
};
use crate::backend::{Backend, BatchOutput, OpenRequest, Overlapped, MAX_IN_FLIGHT};
use crate::error::{Error, ErrorKind, Result};
use crate::log::{LogLevel, Logger};
use crate::model::ModelSpec;

/// Pause before a batch is sent again to the next endpoint.
const RETRY_DELAY: Duration = Duration::from_millis(20);

/// A failed call: what happened, and whether it is worth another endpoint.
struct CallError {
    class: FailureClass,
    message: String,
}

impl CallError {
    fn from_status(endpoint: &str, what: &str, status: &Status) -> Self {
        // A status the client made itself from a broken connection carries its cause as a
        // source; one the server sent does not. Only the server's INTERNAL fails at once.
        let local = std::error::Error::source(status).is_some();
        // CANCELLED is what tonic itself answers when the request's own timeout fires first
        // ("Timeout expired", no source): the call never completed, so it is a timeout, and
        // retried like one. Which of the two equal timeouts fires first is a race; classing
        // them alike made a slow-server test fail by chance.
        let class = match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => FailureClass::Retry,
            Code::Unknown | Code::Internal if local => FailureClass::Retry,
            _ => FailureClass::Fail,
        };
        CallError {
            class,
            message: format!(
                "{endpoint}: {what}: {:?} {}",
                status.code(),
                status.message()
            ),
        }
    }

    fn timeout(endpoint: &str, what: &str, after: Duration) -> Self {
        CallError {
            class: FailureClass::Retry,
            message: format!(
                "{endpoint}: {what}: no answer within {} ms",
                after.as_millis()
            ),
        }
    }
}

struct Remote {
    endpoints: Vec<String>,
    clients: Vec<GrpcInferenceServiceClient<Channel>>,
    health: Mutex<HealthTable>,
    settings: RemoteSettings,
    metadata: MetadataMap,
    counters: Arc<RemoteCounters>,
    logger: Logger,
}

struct HealthTable {
    /// The endpoint batches go to while it stays healthy.
    current: usize,
    health: Vec<EndpointHealth>,
}

/// Where a try of a batch goes.
enum Target {
    /// A healthy endpoint.
    Ready(usize),
    /// A failed endpoint whose backoff is over: probe it first.
    Probe(usize),
}

impl Remote {
    fn request<T>(&self, message: T, timeout: Duration) -> Request<T> {
        let mut request = Request::new(message);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(timeout);
        request
    }

    /// Where a try goes (see [`route`]); `Err` is the message a batch that is not sent fails
    /// with. `retry_of`: the endpoint the batch's first try failed on.
    fn pick(&self, retry_of: Option<usize>) -> std::result::Result<Target, String> {
        let now = Instant::now();
        let mut table = self.health.lock();
        let from = retry_of.map_or(table.current, |i| i + 1);
        let early = retry_of.is_none();
        match route(
            &mut table.health,
            from,
            retry_of,
            early,
            self.settings.timeout,
            now,
        ) {
            Some(Route::Send(i)) => Ok(Target::Ready(i)),
            Some(Route::Probe(i)) => Ok(Target::Probe(i)),
            Some(Route::FailFast(i)) => {
                let h = &table.health[i];
                let wait = h
                    .next_probe
                    .map_or(0, |t| t.saturating_duration_since(now).as_millis());
                Err(format!(
                    "{} (not sent: every endpoint is down; {} is probed again in {wait} ms)",
                    h.last_error, self.endpoints[i]
                ))
            }
            None => Err("no other endpoint".into()),
        }
    }

    fn mark_failed(&self, i: usize, why: &str) {
        let backoff = self.health.lock().health[i].mark_failed(why, Instant::now());
        self.logger.log(
            LogLevel::Warning,
            &format!(
                "remote endpoint marked failed (probed again in {} ms): {why}",
                backoff.as_millis()
            ),
        );
    }

    /// Marks `i` healthy and makes it the current endpoint; counts a failover when it was not.
    fn mark_healthy(&self, i: usize) {
        let mut table = self.health.lock();
        table.health[i] = EndpointHealth::default();
        if table.current != i {
            let from = table.current;
            table.current = i;
            drop(table);
            self.counters.count_failover();
            self.logger.log(
                LogLevel::Warning,
                &format!(
                    "remote: batches now go to {} instead of {}",
                    self.endpoints[i], self.endpoints[from]
                ),
            );
        }
    }

    async fn model_ready(
        &self,
        i: usize,
        timeout: Duration,
    ) -> std::result::Result<bool, CallError> {
        let endpoint = &self.endpoints[i];
        let request = self.request(
            ModelReadyRequest {
                name: self.settings.model.clone(),
                version: self.settings.model_version.clone(),
            },
            timeout,
        );
        let mut client = self.clients[i].clone();
        match tokio::time::timeout(timeout, client.model_ready(request)).await {
            Err(_) => Err(CallError::timeout(endpoint, "ModelReady", timeout)),
            Ok(Err(status)) => Err(CallError::from_status(endpoint, "ModelReady", &status)),
            Ok(Ok(reply)) => Ok(reply.into_inner().ready),
        }
    }

    async fn model_metadata(
        &self,
        i: usize,
        timeout: Duration,
    ) -> std::result::Result<ModelMetadataResponse, CallError> {
        let endpoint = &self.endpoints[i];
        let request = self.request(
            ModelMetadataRequest {
                name: self.settings.model.clone(),
                version: self.settings.model_version.clone(),
            },
            timeout,
        );
        let mut client = self.clients[i].clone();
        match tokio::time::timeout(timeout, client.model_metadata(request)).await {
            Err(_) => Err(CallError::timeout(endpoint, "ModelMetadata", timeout)),
            Ok(Err(status)) => Err(CallError::from_status(endpoint, "ModelMetadata", &status)),
            Ok(Ok(reply)) => Ok(reply.into_inner()),
        }
    }

    /// One try on `target`: a probe first when it had failed, then `ModelInfer`.
    async fn try_infer(
        &self,
        target: Target,
        message: ModelInferRequest,
    ) -> (usize, std::result::Result<ModelInferResponse, CallError>) {
        let timeout = self.settings.timeout;
        let started = Instant::now();
        let i = match target {
            Target::Ready(i) => i,
            Target::Probe(i) => {
                match self.model_ready(i, timeout).await {
                    Ok(true) => {}
                    Ok(false) => {
                        let message = format!(
                            "{}: ModelReady: model {:?} is not ready",
                            self.endpoints[i], self.settings.model
                        );
                        return (
                            i,
                            Err(CallError {
                                class: FailureClass::Retry,
                                message,
                            }),
                        );
                    }
                    Err(e) => return (i, Err(e)),
                }
                i
            }
        };
        let left = timeout.saturating_sub(started.elapsed());
        let request = self.request(message, left);
        let mut client = self.clients[i].clone();
        let endpoint = &self.endpoints[i];
        let result = match tokio::time::timeout(left, client.model_infer(request)).await {
            Err(_) => Err(CallError::timeout(endpoint, "ModelInfer", timeout)),
            Ok(Err(status)) => Err(CallError::from_status(endpoint, "ModelInfer", &status)),
            Ok(Ok(reply)) => Ok(reply.into_inner()),
        };
        (i, result)
    }

    /// Sends one batch: on the current endpoint, and once more on the next healthy one when the
    /// first try fails for want of a server. Never sent twice to a server that answered.
    async fn infer(&self, message: ModelInferRequest) -> Result<ModelInferResponse> {
        let failed = |why: String| Error::new(ErrorKind::InferenceFailed, why);
        let target = self.pick(None).map_err(failed)?;
        let (first, result) = self.try_infer(target, message.clone()).await;
        let why = match result {
            Ok(reply) => {
                self.mark_healthy(first);
                return Ok(reply);
            }
            Err(e) if e.class == FailureClass::Fail => return Err(failed(e.message)),
            Err(e) => e.message,
        };
        self.mark_failed(first, &why);
        let Ok(target) = self.pick(Some(first)) else {
            return Err(failed(format!(
                "{why}; no other healthy endpoint to retry on"
            )));
        };
        tokio::time::sleep(RETRY_DELAY).await;
        self.counters.count_retry();
        let (second, result) = self.try_infer(target, message).await;
        match result {
            Ok(reply) => {
                self.mark_healthy(second);
                Ok(reply)
            }
            Err(e) => {
                if e.class == FailureClass::Retry {
                    self.mark_failed(second, &e.message);
                }
                Err(failed(format!("{why}; retried: {}", e.message)))
            }
        }
    }
}

pub struct RemoteBackend {
    name: String,
    spec: ModelSpec,
    max_batch: usize,
    encoding: Encoding,
    input_name: String,
    remote: Arc<Remote>,
    runtime: OwnedRuntime,
    running: VecDeque<(usize, JoinHandle<Result<ModelInferResponse>>)>,
    /// The next request's raw input; its buffer goes with the request.
    staging: Vec<u8>,
}

/// The handle's tokio runtime. Whichever way it goes (the backend dropped, or an error in `open`
/// after it started) it is shut down within `bound`: a plain drop of a tokio runtime waits for
/// its blocking threads without limit.
struct OwnedRuntime {
    runtime: Option<Runtime>,
    /// How long shutdown waits for the threads: the caller's connect timeout, since what may
    /// still run by then is a connect's DNS lookup (`getaddrinfo`, on the blocking pool, for an
    /// endpoint named by host name; an IP address is not looked up).
    bound: Duration,
    /// Threads of this runtime (workers and blocking pool) started and not yet stopping.
    live: Arc<AtomicUsize>,
    logger: Logger,
}

impl OwnedRuntime {
    fn start(bound: Duration, logger: Logger) -> Result<Self> {
        let live = Arc::new(AtomicUsize::new(0));
        let (up, down) = (live.clone(), live.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lmbatch-remote")
            .on_thread_start(move || {
                up.fetch_add(1, Ordering::SeqCst);
            })
            .on_thread_stop(move || {
                down.fetch_sub(1, Ordering::SeqCst);
            })
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("cannot start the remote runtime: {e}"),
                )
            })?;
        Ok(OwnedRuntime {
            runtime: Some(runtime),
            bound,
            live,
            logger,
        })
    }

    fn get(&self) -> Result<&Runtime> {
        self.runtime
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Internal, "the remote runtime is gone"))
    }

    /// Drops every task and joins the threads, waiting at most `bound`. Returns how many
    /// threads were still running then (0: all joined). Those are stuck in a call nothing can
    /// interrupt (a `getaddrinfo` waiting on a DNS server: glibc's own timeouts, 5 s a try by
    /// default, bound it, not us): they are left to finish, and the library is kept loaded so
    /// that a later `dlclose` does not unmap the code they return into.
    fn shutdown(&mut self) -> usize {
        let Some(runtime) = self.runtime.take() else {
            return 0;
        };
        let started = Instant::now();
        runtime.shutdown_timeout(self.bound);
        let left = self.live.load(Ordering::SeqCst);
        // A thread past its stop hook but not joined when the wait ran out still has a few
        // instructions of this library to run: a wait that ran out counts as one left.
        let timed_out = started.elapsed() >= self.bound;
        if left == 0 && !timed_out {
            return 0;
        }
        let kept = match keep_loaded() {
            Ok(()) => "the library stays loaded (dlclose leaves it) so that they can finish".into(),
            Err(e) => format!(
                "the library could not be kept loaded ({e}): do not dlclose it before they finish"
            ),
        };
        self.logger.log(
            LogLevel::Warning,
            &format!(
                "remote: {left} thread(s) still running {} ms after shutdown began (a DNS lookup cannot be interrupted); {kept}",
                self.bound.as_millis()
            ),
        );
        left.max(1)
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Marks this library `RTLD_NODELETE`: `dlopen(itself, RTLD_NOLOAD | RTLD_NODELETE)` promotes
/// an object already loaded (glibc, musl), so no `dlclose` unmaps it.
#[cfg(target_os = "linux")]
fn keep_loaded() -> std::result::Result<(), String> {
    // Linux values (glibc and musl).
    const RTLD_NOLOAD: std::os::raw::c_int = 0x4;
    const RTLD_NODELETE: std::os::raw::c_int = 0x1000;
    let here = keep_loaded as fn() -> std::result::Result<(), String> as usize;
    let maps =
        std::fs::read_to_string("/proc/self/maps").map_err(|e| format!("/proc/self/maps: {e}"))?;
    let path = maps
        .lines()
        .find_map(|line| mapped_file(line, here))
        .ok_or("this library's file is not in /proc/self/maps")?;
    // SAFETY: with RTLD_NOLOAD nothing new is loaded, so no initialiser runs; the handle is
    // only closed again (the NODELETE mark stays on the object).
    let library = unsafe {
        libloading::os::unix::Library::open(
            Some(path),
            libloading::os::unix::RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE,
        )
    }
    .map_err(|e| format!("{path}: {e}"))?;
    drop(library);
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn keep_loaded() -> std::result::Result<(), String> {
    Err("not implemented on this system".into())
}

/// The file of a `/proc/self/maps` line whose address range holds `addr`:
/// `start-end perms offset dev inode   path` (the path may hold spaces).
fn mapped_file(line: &str, addr: usize) -> Option<&str> {
    let (range, mut rest) = line.split_once(' ')?;
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    if !(start..end).contains(&addr) {
        return None;
    }
    for _ in 0..4 {
        rest = rest.trim_start().split_once(' ')?.1;
    }
    Some(rest.trim()).filter(|p| p.starts_with('/'))
}

fn unavailable(message: String) -> Error {
    Error::new(ErrorKind::BackendUnavailable, message)
}

fn channel(url: &str, settings: &RemoteSettings, tls: Option<&ClientTlsConfig>) -> Result<Channel> {
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| Error::invalid(format!("remote endpoint {url:?}: {e}")))?
        .connect_timeout(settings.connect_timeout)
        .tcp_nodelay(true)
        .http2_adaptive_window(true);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls.clone())
            .map_err(|e| unavailable(format!("remote endpoint {url}: TLS: {e}")))?;
    }
    Ok(endpoint.connect_lazy())
}

fn tls_config(settings: &RemoteSettings) -> Result<Option<ClientTlsConfig>> {
    if !settings.endpoints.iter().any(|e| e.starts_with("https://")) {
        return Ok(None);
    }
    let config = ClientTlsConfig::new();
    Ok(Some(match &settings.ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| Error::invalid(format!("remote_ca_file {}: {e}", path.display())))?;
            config.ca_certificate(Certificate::from_pem(pem))
        }
        None => config.with_native_roots(),
    }))
}

fn metadata(settings: &RemoteSettings) -> Result<MetadataMap> {
    let mut map = MetadataMap::new();
    for (name, value) in &settings.headers {
        let key = AsciiMetadataKey::from_str(name)
            .map_err(|e| Error::invalid(format!("remote_headers name {name:?}: {e}")))?;
        let value = AsciiMetadataValue::from_str(value)
            .map_err(|e| Error::invalid(format!("remote_headers value for {name:?}: {e}")))?;
        map.append(key, value);
    }
    Ok(map)
}

impl RemoteBackend {
    pub fn open(request: &OpenRequest, settings: &RemoteSettings) -> Result<Self> {
        // Checked before the runtime exists: nothing to shut down when they fail.
        let tls = tls_config(settings)?;
        let metadata = metadata(settings)?;
        let runtime = OwnedRuntime::start(settings.connect_timeout, request.logger.clone())?;
        Self::open_on(runtime, request, settings, tls.as_ref(), metadata)
    }

    /// The rest of `open`, on a started runtime: an error drops `runtime`, which shuts it down
    /// within the connect timeout.
    fn open_on(
        runtime: OwnedRuntime,
        request: &OpenRequest,
        settings: &RemoteSettings,
        tls: Option<&ClientTlsConfig>,
        metadata: MetadataMap,
    ) -> Result<Self> {
        let rt = runtime.get()?;
        let clients = {
            let _entered = rt.enter();
            settings
                .endpoints
                .iter()
                .map(|url| {
                    channel(url, settings, tls).map(|c| {
                        GrpcInferenceServiceClient::new(c)
                            .max_decoding_message_size(64 << 20)
                            .max_encoding_message_size(usize::MAX)
                    })
                })
                .collect::<Result<Vec<_>>>()?
        };
        let remote = Arc::new(Remote {
            endpoints: settings.endpoints.clone(),
            clients,
            health: Mutex::new(HealthTable {
                current: 0,
                health: vec![EndpointHealth::default(); settings.endpoints.len()],
            }),
            settings: settings.clone(),
            metadata,
            counters: request.remote_counters.clone(),
            logger: request.logger.clone(),
        });
        let spec = request.spec.clone();
        let (endpoint, input_name, encoding) = rt.block_on(check_model(&remote, &spec))?;
        remote.health.lock().current = endpoint;
        if encoding == Encoding::F32Nchw {
            request.logger.log(
                LogLevel::Warning,
                &format!(
                    "remote model {:?} takes FP32: {} bytes a face instead of {} (UINT8); a batch of {} is {} MiB, over MLServer's default 4 MiB and KServe's 8 MiB receive limits",
                    settings.model,
                    4 * spec.crop_bytes(),
                    spec.crop_bytes(),
                    request.max_batch,
                    (4 * spec.crop_bytes() * request.max_batch) >> 20
                ),
            );
        }
        Ok(RemoteBackend {
            name: format!("remote:{}", settings.endpoints[endpoint]),
            spec,
            max_batch: request.max_batch,
            encoding,
            input_name,
            remote,
            runtime,
            running: VecDeque::with_capacity(MAX_IN_FLIGHT),
            staging: Vec::new(),
        })
    }

    fn runtime(&self) -> Result<&Runtime> {
        self.runtime.get()
    }

    fn message(&mut self, crops: &[&[u8]]) -> ModelInferRequest {
        let n = crops.len();
        encode_input(&self.spec, self.encoding, crops, &mut self.staging);
        let settings = &self.remote.settings;
        ModelInferRequest {
            model_name: settings.model.clone(),
            model_version: settings.model_version.clone(),
            inputs: vec![InferInputTensor {
                name: self.input_name.clone(),
                datatype: self.encoding.datatype(&self.spec).into(),
                shape: self.encoding.shape(n, &self.spec).to_vec(),
                ..Default::default()
            }],
            outputs: [&self.spec.landmarks_name, &self.spec.score_name]
                .into_iter()
                .map(|name| InferRequestedOutputTensor {
                    name: name.clone(),
                    ..Default::default()
                })
                .collect(),
            // Handed over, not copied: the request (and its retry) keeps the buffer.
            raw_input_contents: vec![std::mem::take(&mut self.staging).into()],
            ..Default::default()
        }
    }

    fn decode(&self, n: usize, reply: &ModelInferResponse, out: &mut BatchOutput) -> Result<()> {
        let tensors: Vec<ReplyTensor<'_>> = reply
            .outputs
            .iter()
            .enumerate()
            .map(|(k, o)| ReplyTensor {
                name: &o.name,
                datatype: &o.datatype,
                shape: &o.shape,
                raw: reply.raw_output_contents.get(k).map(Vec::as_slice),
                fp32: o
                    .contents
                    .as_ref()
                    .map_or(&[], |c| c.fp32_contents.as_slice()),
            })
            .collect();
        decode_reply(&self.spec, n, &tensors, out)
    }
}

/// At create: ModelReady then ModelMetadata on the first endpoint that answers. Returns that
/// endpoint, the input's name and the encoding.
async fn check_model(remote: &Remote, spec: &ModelSpec) -> Result<(usize, String, Encoding)> {
    let timeout = remote.settings.connect_timeout + remote.settings.timeout;
    let mut unreachable = Vec::new();
    for i in 0..remote.endpoints.len() {
        match remote.model_ready(i, timeout).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(Error::new(
                    ErrorKind::ModelError,
                    format!(
                    "{}: the server has no ready model {:?}{} (ModelReady answered ready = false)",
                    remote.endpoints[i],
                    remote.settings.model,
                    version_note(&remote.settings.model_version)
                ),
                ))
            }
            Err(e) if e.class == FailureClass::Retry => {
                remote.mark_failed(i, &e.message);
                unreachable.push(e.message);
                continue;
            }
            Err(e) => {
                // Servers answer an unknown model with different codes (NOT_FOUND,
                // UNAVAILABLE, INVALID_ARGUMENT): any answer that is not `ready` means no model.
                return Err(Error::new(
                    ErrorKind::ModelError,
                    format!(
                        "the server has no ready model {:?}{}: {}",
                        remote.settings.model,
                        version_note(&remote.settings.model_version),
                        e.message
                    ),
                ));
            }
        }
        let meta = remote.model_metadata(i, timeout).await.map_err(|e| {
            Error::new(
                ErrorKind::ModelError,
                format!("cannot read the model's metadata: {}", e.message),
            )
        })?;
        let info =
            |tensors: &[super::oip::model_metadata_response::TensorMetadata]| -> Vec<TensorInfo> {
                tensors
                    .iter()
                    .map(|t| TensorInfo {
                        name: t.name.clone(),
                        datatype: t.datatype.clone(),
                        shape: t.shape.clone(),
                    })
                    .collect()
            };
        let (input, encoding) = choose_encoding(spec, &info(&meta.inputs), &info(&meta.outputs))
            .map_err(|e| {
                Error::new(
                    e.kind(),
                    format!(
                        "{}: model {:?}: {}",
                        remote.endpoints[i],
                        remote.settings.model,
                        e.message()
                    ),
                )
            })?;
        return Ok((i, input, encoding));
    }
    Err(unavailable(format!(
        "no remote endpoint answered: {}",
        unreachable.join("; ")
    )))
}

fn version_note(version: &str) -> String {
    if version.is_empty() {
        String::new()
    } else {
        format!(" version {version:?}")
    }
}

impl Backend for RemoteBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn max_batch(&self) -> usize {
        self.max_batch
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn infer(&mut self, crops: &[&[u8]], out: &mut BatchOutput) -> Result<()> {
        Overlapped::start(self, crops)?;
        Overlapped::finish(self, out)
    }

    fn overlapped(&mut self) -> Option<&mut dyn Overlapped> {
        Some(self)
    }
}

impl Overlapped for RemoteBackend {
    fn start(&mut self, crops: &[&[u8]]) -> Result<()> {
        if self.running.len() >= MAX_IN_FLIGHT {
            return Err(Error::new(
                ErrorKind::Internal,
                "more remote batches started than may be in flight",
            ));
        }
        let message = self.message(crops);
        let remote = self.remote.clone();
        let task = self
            .runtime()?
            .spawn(async move { remote.infer(message).await });
        self.running.push_back((crops.len(), task));
        Ok(())
    }

    fn finish(&mut self, out: &mut BatchOutput) -> Result<()> {
        let Some((n, task)) = self.running.pop_front() else {
            return Err(Error::new(ErrorKind::Internal, "no remote batch to finish"));
        };
        let reply = self.runtime()?.block_on(task).map_err(|e| {
            Error::new(
                ErrorKind::InferenceFailed,
                format!("remote call ended: {e}"),
            )
        })??;
        self.decode(n, &reply, out)
    }
}

impl Drop for RemoteBackend {
    fn drop(&mut self) {
        for (_, task) in self.running.drain(..) {
            task.abort();
        }
        // Calls still open are dropped; the threads are joined, within the connect timeout.
        self.runtime.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    }

    fn request() -> OpenRequest {
        OpenRequest {
            model: crate::ModelSource::Bundled,
            max_batch: 8,
            device_id: 0,
            engine_cache_dir: None,
            opt_batch: None,
            self_check: false,
            cpu_threads: None,
            spec: crate::model::ModelSpec::face_landmark_468(),
            precision: Default::default(),
            logger: Logger::default(),
            remote: None,
            remote_counters: Default::default(),
        }
    }

    /// A blocking-pool thread that hangs as a `getaddrinfo` can: until released (or 20 s).
    fn stuck_thread(runtime: &OwnedRuntime) -> crossbeam_channel::Sender<()> {
        let (release, wait) = crossbeam_channel::bounded::<()>(1);
        runtime.get().unwrap().spawn_blocking(move || {
            let _ = wait.recv_timeout(Duration::from_secs(20));
        });
        release
    }

    #[test]
    fn a_failed_open_shuts_its_runtime_down_within_the_connect_timeout() {
        let url = dead_url();
        let settings =
            RemoteSettings::parse(Some(&url), None, None, 1000, 300, None, None).unwrap();
        let runtime = OwnedRuntime::start(settings.connect_timeout, Logger::default()).unwrap();
        let release = stuck_thread(&runtime);
        let t0 = Instant::now();
        let result =
            RemoteBackend::open_on(runtime, &request(), &settings, None, MetadataMap::new());
        let took = t0.elapsed();
        let _ = release.send(());
        let Err(e) = result else {
            panic!("open succeeded against {url}")
        };
        println!("open failed after {took:?}: {e}");
        assert_eq!(e.kind(), ErrorKind::BackendUnavailable, "{e}");
        // Expected: a refused connection (~1 ms) plus the 300 ms bound; a plain drop waits for
        // the stuck thread (20 s).
        assert!(took < 5 * settings.connect_timeout, "took {took:?}");
    }

    #[test]
    fn shutdown_counts_the_threads_it_had_to_leave() {
        let bound = Duration::from_millis(200);
        let mut runtime = OwnedRuntime::start(bound, Logger::default()).unwrap();
        runtime.get().unwrap().block_on(async {});
        assert_eq!(runtime.shutdown(), 0);
        assert_eq!(runtime.shutdown(), 0, "a second shutdown is a no-op");
        let mut runtime = OwnedRuntime::start(bound, Logger::default()).unwrap();
        let release = stuck_thread(&runtime);
        let t0 = Instant::now();
        let left = runtime.shutdown();
        let took = t0.elapsed();
        let _ = release.send(());
        println!("shutdown left {left} thread(s) after {took:?}");
        assert_eq!(left, 1);
        assert!(took < 5 * bound, "took {took:?}");
    }

    #[test]
    fn the_mapped_file_holding_an_address_is_found() {
        let line =
            "7f0000001000-7f0000002000 r-xp 00001000 08:01 1234    /opt/my libs/liblmbatch.so";
        assert_eq!(
            mapped_file(line, 0x7f00_0000_1800),
            Some("/opt/my libs/liblmbatch.so")
        );
        assert_eq!(mapped_file(line, 0x7f00_0000_2000), None);
        let anon = "7f0000003000-7f0000004000 rw-p 00000000 00:00 0 ";
        assert_eq!(mapped_file(anon, 0x7f00_0000_3000), None);
        assert_eq!(mapped_file("7f0-7f8 [vdso]", 0x7f4), None);
    }
}

//! The TensorRT backend on a GPU machine with TensorRT: building the plan from ONNX, the plan
//! cache (hit, corrupt file rebuilt), a serialized plan given as the model (used, or refused when
//! it does not fit), an ONNX that does not parse, and the self-check. Ignored by default: run by
//! scripts/gpu-check.sh with `--ignored` on a machine with a GPU and TensorRT; the conformance
//! suite (accuracy, invariance) runs on TensorRT through `common::cpu_backends()` under
//! LMBATCH_TEST_TENSORRT=1.
#![cfg(all(feature = "tensorrt", lmbatch_trt_shim))]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use lmbatch::{BackendChoice, Config, ErrorKind, Logger, ModelSource, Pipeline};

fn logged_config(max_batch: usize, cache: Option<&Path>) -> (Config, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let config = Config {
        backend: BackendChoice::TensorRt,
        max_batch,
        engine_cache_dir: cache.map(Path::to_path_buf),
        logger: Logger::new(move |_, m| sink.lock().push(m.to_string())),
        ..Config::default()
    };
    (config, lines)
}

fn plans_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "plan"))
                .collect()
        })
        .unwrap_or_default()
}

fn said(lines: &Mutex<Vec<String>>, needle: &str) -> bool {
    lines.lock().iter().any(|l| l.contains(needle))
}

#[test]
#[ignore = "needs an NVIDIA GPU: scripts/gpu-check.sh"]
fn plan_build_cache_and_given_plans() {
    let dir = std::env::temp_dir().join(format!("lmbatch-trt-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // 1. First create builds the plan from the bundled ONNX and caches it.
    let (config, lines) = logged_config(8, Some(&dir));
    let started = Instant::now();
    let p = Pipeline::new(config).expect("TensorRT opens on this machine");
    println!("build + create: {:?}", started.elapsed());
    assert_eq!(p.model_info().backend, "tensorrt");
    assert!(said(&lines, "building a TensorRT"), "{:?}", lines.lock());
    assert!(said(&lines, "self-check passed"), "{:?}", lines.lock());
    // The input is converted on the GPU by an NVRTC the driver takes (chosen by its version).
    assert!(
        said(&lines, "input conversion kernel loaded as"),
        "{:?}",
        lines.lock()
    );
    drop(p);
    // Cached once the self-check passed.
    let plans = plans_in(&dir);
    assert_eq!(plans.len(), 1, "{plans:?}");
    assert!(
        said(&lines, "TensorRT plan cached in"),
        "{:?}",
        lines.lock()
    );

    // 2. The second create takes it from the cache.
    let (config, lines) = logged_config(8, Some(&dir));
    let started = Instant::now();
    drop(Pipeline::new(config).unwrap());
    println!("create from cache: {:?}", started.elapsed());
    assert!(said(&lines, "plan from cache"), "{:?}", lines.lock());
    // A cached plan runs the self-check too, and stays when it passes.
    assert!(said(&lines, "self-check passed"), "{:?}", lines.lock());
    assert_eq!(plans_in(&dir), plans);

    // 3. A damaged cache file is rebuilt, never run.
    let bytes = std::fs::read(&plans[0]).unwrap();
    std::fs::write(&plans[0], &bytes[..bytes.len() / 2]).unwrap();
    let (config, lines) = logged_config(8, Some(&dir));
    drop(Pipeline::new(config).unwrap());
    assert!(said(&lines, "unusable, rebuilding"), "{:?}", lines.lock());
    assert!(std::fs::read(&plans[0]).unwrap().len() > bytes.len() / 2);

    // 4. The plan given as the model: used when it covers max_batch, refused when it does not.
    let given = dir.join("given.plan");
    std::fs::copy(&plans[0], &given).unwrap();
    let (mut config, _) = logged_config(8, None);
    config.model = ModelSource::Path(given.clone());
    drop(Pipeline::new(config).unwrap());
    let (mut config, _) = logged_config(16, None);
    config.model = ModelSource::Path(given.clone());
    let e = Pipeline::new(config).map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ModelError, "{e}");
    assert!(e.message().contains("1..8"), "{e}");

    // 5. A file that is not a plan is refused with a clear message.
    let junk = dir.join("junk.engine");
    std::fs::write(&junk, b"definitely not a TensorRT plan").unwrap();
    let (mut config, _) = logged_config(8, None);
    config.model = ModelSource::Path(junk);
    let e = Pipeline::new(config).map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ModelError, "{e}");
    assert!(e.message().contains("refusing the plan"), "{e}");

    // 6. An ONNX that does not parse is the model's fault: MODEL_ERROR, not a fallback.
    let broken = dir.join("broken.onnx");
    std::fs::write(&broken, b"not protobuf at all").unwrap();
    let (mut config, _) = logged_config(8, None);
    config.model = ModelSource::Path(broken);
    let e = Pipeline::new(config).map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ModelError, "{e}");
    assert!(e.message().contains("ONNX parser rejected"), "{e}");

    std::fs::remove_dir_all(&dir).unwrap();
}

#!/usr/bin/env python3
"""OpenVINO called directly, the peer of lmbatch's OpenVINO backend (issue 16).

The same model and faces as bench/peers.py, on the same cores. The faces are preprocessed ONCE,
untimed, into batches of B: what is timed is OpenVINO's inference alone, so this is OpenVINO's
ceiling on this machine, with nothing of the crop or of Python in the loop (lmbatch's figures
include its crop and decode). Each batch size and precision runs in two modes, and the best is
the headline:

  latency-sync       PERFORMANCE_HINT=LATENCY, one infer request, infer() in a loop
  throughput-async   PERFORMANCE_HINT=THROUGHPUT (OpenVINO picks the streams), an AsyncInferQueue
                     of OPTIMAL_NUMBER_OF_INFER_REQUESTS requests kept full

The model is compiled for a STATIC batch of B (what a user would write for a fixed batch size),
INFERENCE_NUM_THREADS = cores, INFERENCE_PRECISION_HINT f32 or bf16 set explicitly.

  bench/.venv/bin/python bench/openvino_peer.py --seconds 10 [--cores N] [--batch-sizes 8,32]
                                                [--precisions f32,bf16]

Output: one JSON object per precision ({"name", "faces_per_s", "p50_ms", "p99_ms", "details"}),
then a table of every run.
"""
import argparse
import json
import os
import time

import numpy as np
import openvino as ov

from peers import DEFAULT_FACES, DEFAULT_MODEL, SIZE, Preprocessor, load_faces, pct


def batches(faces, batch):
    """Two batches of B preprocessed faces (cycled), so consecutive runs do not reuse one array."""
    pre = Preprocessor()
    out = []
    k = 0
    for _ in range(2):
        x = np.empty((batch, 3, SIZE, SIZE), np.float32)
        for i in range(batch):
            pre(faces[k % len(faces)], x[i])
            k += 1
        out.append(x)
    return out


def compile_for(core, model_path, batch, hint, precision, cores):
    model = core.read_model(model_path)
    model.reshape({model.inputs[0].any_name: [batch, 3, SIZE, SIZE]})
    return core.compile_model(model, "CPU", {
        "PERFORMANCE_HINT": hint,
        "INFERENCE_PRECISION_HINT": precision,
        "INFERENCE_NUM_THREADS": str(cores),
    })


def run_sync(compiled, xs, seconds):
    request = compiled.create_infer_request()
    request.infer({0: xs[0]}, share_inputs=True)                 # untimed warm-up
    lat, runs = [], 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        ts = time.perf_counter()
        request.infer({0: xs[runs % 2]}, share_inputs=True)
        lat.append(time.perf_counter() - ts)
        runs += 1
    wall = time.perf_counter() - t0
    return runs, wall, lat, 1


def run_async(compiled, xs, seconds):
    jobs = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    queue = ov.AsyncInferQueue(compiled, jobs)
    started = {}
    lat = []

    def done(_request, token):
        t = started.pop(token, None)                              # None: a warm-up run
        if t is not None:
            lat.append(time.perf_counter() - t)

    queue.set_callback(done)
    for j in range(jobs):                                         # untimed warm-up
        queue.start_async({0: xs[j % 2]}, -1 - j, share_inputs=True)
    queue.wait_all()
    started.clear()
    lat.clear()
    runs = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        started[runs] = time.perf_counter()
        queue.start_async({0: xs[runs % 2]}, runs, share_inputs=True)   # blocks while all are busy
        runs += 1
    queue.wait_all()
    wall = time.perf_counter() - t0
    return runs, wall, lat, jobs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="per mode, batch size and precision")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--batch-sizes", default="8,32")
    ap.add_argument("--precisions", default="f32,bf16")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--faces", default=DEFAULT_FACES)
    a = ap.parse_args()

    avail = sorted(os.sched_getaffinity(0))
    cores = max(1, min(a.cores, len(avail)))
    if cores < len(avail):
        os.sched_setaffinity(0, avail[:cores])
    faces = load_faces(a.faces)
    core = ov.Core()
    capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    rows = []
    for precision in a.precisions.split(","):
        if precision == "bf16" and "BF16" not in capabilities:
            print(f"# openvino-direct: this CPU has no BF16 ({capabilities}); bf16 skipped")
            continue
        per = []
        for batch in [int(b) for b in a.batch_sizes.split(",")]:
            xs = batches(faces, batch)
            for mode, hint, runner in (("latency-sync", "LATENCY", run_sync),
                                       ("throughput-async", "THROUGHPUT", run_async)):
                compiled = compile_for(core, a.model, batch, hint, precision, cores)
                streams = compiled.get_property("NUM_STREAMS")
                runs, wall, lat, jobs = runner(compiled, xs, a.seconds)
                per.append({"mode": mode, "batch": batch, "streams": int(streams), "requests": jobs,
                            "faces_per_s": round(runs * batch / wall, 2),
                            "batch_p50_ms": pct(lat, 50), "batch_p99_ms": pct(lat, 99)})
                del compiled
        best = max(per, key=lambda r: r["faces_per_s"])
        name = "openvino-direct " + ("BF16" if precision == "bf16" else "FP32")
        row = {"name": name, "faces_per_s": best["faces_per_s"], "p50_ms": best["batch_p50_ms"],
               "p99_ms": best["batch_p99_ms"],
               "details": {"best": f'{best["mode"]} batch {best["batch"]}', "runs": per,
                           "timed": "inference only (inputs preprocessed once, untimed)",
                           "env": {"cores": cores, "openvino": ov.get_version(),
                                   "capabilities": capabilities}}}
        print(json.dumps(row), flush=True)
        rows.append(row)
    print()
    print(f"cores={cores}  openvino {ov.get_version()}  (inference only)")
    print(f"{'run':<60}{'faces/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for r in rows:
        for p in r["details"]["runs"]:
            label = f'{r["name"]} {p["mode"]} b{p["batch"]} ({p["streams"]} streams, {p["requests"]} req)'
            print(f"{label:<60}{p['faces_per_s']:>10.1f}{p['batch_p50_ms']:>10.2f}{p['batch_p99_ms']:>10.2f}")


if __name__ == "__main__":
    main()

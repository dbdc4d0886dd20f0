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

With --crop, each mode also runs end to end as the ONNX Runtime peer does (bench/peers.py): per
batch, the faces are cropped and normalised from their frames by the same numpy Preprocessor, run,
and their points mapped back to frame pixels, all timed:

  latency-sync+crop       crop B faces, infer(), map back, in a loop
  throughput-async+crop   two requests (THROUGHPUT): crop the next batch while the other runs

These rows ("openvino-direct FP32 crop+decode") are the peer with what lmbatch's figures include.

  bench/.venv/bin/python bench/openvino_peer.py --seconds 10 [--cores N] [--batch-sizes 8,32]
                                                [--precisions f32,bf16] [--crop]

Output: one JSON object per precision ({"name", "faces_per_s", "p50_ms", "p99_ms", "details"}),
then a table of every run.
"""
import argparse
import json
import os
import time

import numpy as np
import openvino as ov

from peers import DEFAULT_FACES, DEFAULT_MODEL, SIZE, Preprocessor, load_faces, pct, to_frame


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


def run_sync_crop(compiled, faces, batch, seconds):
    """Crop + infer + map back, one batch after another (peers.run_direct_batch with OpenVINO)."""
    request = compiled.create_infer_request()
    buf = np.empty((batch, 3, SIZE, SIZE), np.float32)
    preprocess = Preprocessor()
    request.infer({0: buf}, share_inputs=True)                    # untimed warm-up
    k, runs, lat = 0, 0, []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        ts = time.perf_counter()
        geoms = []
        for i in range(batch):
            geoms.append(preprocess(faces[k % len(faces)], buf[i]))
            k += 1
        request.infer({0: buf}, share_inputs=True)
        points = request.get_output_tensor(0).data
        for i in range(batch):
            to_frame(points[i], geoms[i])
        lat.append(time.perf_counter() - ts)
        runs += 1
    return runs, time.perf_counter() - t0, lat, 1


def run_async_crop(compiled, faces, batch, seconds):
    """Two requests, each with its own input: while one runs, the next batch is cropped into the
    other's buffer; a request's points are mapped back when it is waited for."""
    slots = [(compiled.create_infer_request(), np.empty((batch, 3, SIZE, SIZE), np.float32))
             for _ in range(2)]
    preprocess = Preprocessor()
    for request, buf in slots:                                    # untimed warm-up
        request.infer({0: buf}, share_inputs=True)
    pending = [None, None]                                        # (geoms, started) per slot
    k, runs, lat = 0, 0, []
    t0 = time.perf_counter()
    j = 0
    while time.perf_counter() - t0 < seconds:
        request, buf = slots[j]
        if pending[j] is not None:
            request.wait()
            geoms, started = pending[j]
            points = request.get_output_tensor(0).data
            for i in range(batch):
                to_frame(points[i], geoms[i])
            lat.append(time.perf_counter() - started)
            runs += 1
        started = time.perf_counter()
        geoms = []
        for i in range(batch):
            geoms.append(preprocess(faces[k % len(faces)], buf[i]))
            k += 1
        request.start_async({0: buf}, share_inputs=True)
        pending[j] = (geoms, started)
        j = 1 - j
    for (request, _), p in zip(slots, pending):                   # the last two count too
        if p is not None:
            request.wait()
            lat.append(time.perf_counter() - p[1])
            runs += 1
    return runs, time.perf_counter() - t0, lat, 2


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="per mode, batch size and precision")
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--batch-sizes", default="8,32")
    ap.add_argument("--precisions", default="f32,bf16")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--faces", default=DEFAULT_FACES)
    ap.add_argument("--crop", action="store_true",
                    help="also run end to end: the ONNX Runtime peer's crop, inference, map back")
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
        per, per_crop = [], []
        for batch in [int(b) for b in a.batch_sizes.split(",")]:
            xs = batches(faces, batch)
            modes = [("latency-sync", "LATENCY", run_sync, per, xs),
                     ("throughput-async", "THROUGHPUT", run_async, per, xs)]
            if a.crop:
                modes += [("latency-sync+crop", "LATENCY", run_sync_crop, per_crop, faces),
                          ("throughput-async+crop", "THROUGHPUT", run_async_crop, per_crop, faces)]
            for mode, hint, runner, into, data in modes:
                compiled = compile_for(core, a.model, batch, hint, precision, cores)
                streams = compiled.get_property("NUM_STREAMS")
                runs, wall, lat, jobs = runner(compiled, data, batch, a.seconds) \
                    if runner in (run_sync_crop, run_async_crop) else runner(compiled, data, a.seconds)
                into.append({"mode": mode, "batch": batch, "streams": int(streams), "requests": jobs,
                             "faces_per_s": round(runs * batch / wall, 2),
                             "batch_p50_ms": pct(lat, 50), "batch_p99_ms": pct(lat, 99)})
                del compiled
        label = "BF16" if precision == "bf16" else "FP32"
        for name, runs_, timed in (("openvino-direct " + label, per,
                                    "inference only (inputs preprocessed once, untimed)"),
                                   ("openvino-direct " + label + " crop+decode", per_crop,
                                    "crop (peers.Preprocessor) + inference + map back, all timed")):
            if not runs_:
                continue
            best = max(runs_, key=lambda r: r["faces_per_s"])
            row = {"name": name, "faces_per_s": best["faces_per_s"], "p50_ms": best["batch_p50_ms"],
                   "p99_ms": best["batch_p99_ms"],
                   "details": {"best": f'{best["mode"]} batch {best["batch"]}', "runs": runs_,
                               "timed": timed,
                               "env": {"cores": cores, "openvino": ov.get_version(),
                                       "capabilities": capabilities}}}
            print(json.dumps(row), flush=True)
            rows.append(row)
    print()
    print(f"cores={cores}  openvino {ov.get_version()}  (+crop: crop and map back timed too)")
    print(f"{'run':<76}{'faces/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for r in rows:
        for p in r["details"]["runs"]:
            label = f'{r["name"]} {p["mode"]} b{p["batch"]} ({p["streams"]} streams, {p["requests"]} req)'
            print(f"{label:<76}{p['faces_per_s']:>10.1f}{p['batch_p50_ms']:>10.2f}{p['batch_p99_ms']:>10.2f}")


if __name__ == "__main__":
    main()

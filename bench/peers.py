#!/usr/bin/env python3
"""Python peers for the lmbatch benchmark.

Two ways of getting 468-point face landmarks out of the same ONNX model, on the same faces and
the same number of cores as lmbatch, so that lmbatch's numbers have something to be compared to:

  onnxruntime-direct   what a user would write instead of lmbatch: one Python thread preprocesses
                       B crops, stacks them and makes ONE session.run per batch of B.  Batch sizes
                       1, 4, 8, 16, 32 each get an equal share of the time budget; the best one is
                       the headline number, all of them are in "details".

  original-design      a faithful reproduction of the seed Python component that lmbatch replaces:
                       a producer thread pushes preprocessed crops into a queue.Queue(maxsize=96)
                       (put_nowait; a full queue silently drops the crop), ONE worker thread
                       collects up to 32 items (100 ms timeout for the first, 10 ms for EACH further
                       one) and then runs the model ONCE PER CROP (batch 1); results go into a dict
                       keyed by id that nobody ever prunes.

What is timed (both peers): per face, the crop from the raw frame (integer crop geometry, edge
replication, pixel-format -> RGB), the bilinear resize to 192x192, the /255 normalisation and the
HWC -> CHW layout; then the model call; then mapping the landmarks back to frame pixels.  Only
loading the model, reading the raw files and one warm-up run per input shape are untimed.

Output: one JSON object per peer and line ({"name", "faces_per_s", "p50_ms", "p99_ms",
"details"}), then a human-readable table.

  bench/.venv/bin/python bench/peers.py --seconds 20 [--cores N] [--rate FACES_PER_S]
"""
import argparse
import json
import math
import os
import platform
import queue
import threading
import time

import numpy as np
import onnxruntime as ort

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(REPO, "models", "face_landmark_468.onnx")
DEFAULT_FACES = os.path.join(REPO, "tests", "data", "faces")

SIZE = 192                      # model input side
BPP = {"BGR8": 3, "RGB8": 3, "BGRA8": 4, "RGBA8": 4, "GRAY8": 1}
# Channel indices that turn a pixel of each format into R, G, B (alpha ignored, gray replicated).
TO_RGB = {"RGB8": [0, 1, 2], "RGBA8": [0, 1, 2], "BGR8": [2, 1, 0], "BGRA8": [2, 1, 0], "GRAY8": [0, 0, 0]}


# ----------------------------------------------------------------------------------------------
# Faces (untimed loading) and preprocessing (timed in both peers)
# ----------------------------------------------------------------------------------------------

class Face:
    """One detector box on one raw frame. `pixels` is a zero-copy [H, W, bpp] view of the raw
    bytes (row padding cut off); the pixel-format conversion happens per crop, inside the timed
    work, as it does in lmbatch."""

    def __init__(self, name, pixels, fmt, box, ref=None):
        self.name, self.pixels, self.fmt, self.box, self.ref = name, pixels, fmt, box, ref
        self.rgb_idx = np.array(TO_RGB[fmt])


def load_faces(faces_dir):
    man = json.load(open(os.path.join(faces_dir, "manifest.json")))
    faces = []
    for c in man["cases"]:
        w, h, stride, fmt = c["width"], c["height"], c["stride_bytes"], c["pixel_format"]
        buf = np.fromfile(os.path.join(faces_dir, c["raw_file"]), np.uint8)
        assert buf.size == stride * h, c["name"]
        px = buf.reshape(h, stride)[:, :w * BPP[fmt]].reshape(h, w, BPP[fmt])
        for b in c["boxes"]:
            faces.append(Face(c["name"], px, fmt, b["box"], b))
    return faces


def crop_geometry(box):
    """DESIGN crop rule: square side = floor(1.5*max(w,h)+0.5), top-left = floor(centre - side/2 + 0.5)."""
    x1, y1, x2, y2 = box
    side = 1.5 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return math.floor(cx - side / 2 + 0.5), math.floor(cy - side / 2 + 0.5), math.floor(side + 0.5)


def _taps(origin, side, limit):
    """For one axis: the two source pixel indices (in frame coordinates, clamped to the frame =
    edge replication) and the weight of the second one, for a half-pixel-centre bilinear resize of
    `side` crop pixels starting at `origin` to SIZE output pixels (same as cv2.INTER_LINEAR)."""
    src = (np.arange(SIZE, dtype=np.float32) + 0.5) * (side / SIZE) - 0.5
    src = np.clip(src, 0, side - 1)              # crop border: replicate
    i0 = np.floor(src).astype(np.intp)
    frac = (src - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, side - 1)
    # crop index -> frame index, clamped to the frame (pixels outside replicate the nearest edge)
    return np.clip(origin + i0, 0, limit - 1), np.clip(origin + i1, 0, limit - 1), frac


def preprocess(face, out):
    """Crop + bilinear resize + RGB + /255 + CHW for one face, written into `out` ([3,192,192]
    float32). Only the 4 x 192x192 source taps are gathered, not the whole (possibly huge) crop:
    same result as crop-then-resize, and what an efficient numpy user would write.
    Returns (x0, y0, side) for mapping the landmarks back."""
    x0, y0, side = crop_geometry(face.box)
    H, W = face.pixels.shape[:2]
    r0, r1, fy = _taps(y0, side, H)
    c0, c1, fx = _taps(x0, side, W)
    px, ch = face.pixels, face.rgb_idx
    # gather the four neighbours, [192,192,3] each, channels already in RGB order
    tl = px[r0[:, None], c0[None, :]][..., ch].astype(np.float32)
    tr = px[r0[:, None], c1[None, :]][..., ch].astype(np.float32)
    bl = px[r1[:, None], c0[None, :]][..., ch].astype(np.float32)
    br = px[r1[:, None], c1[None, :]][..., ch].astype(np.float32)
    fx3, fy3 = fx[None, :, None], fy[:, None, None]
    top = tl + (tr - tl) * fx3
    bot = bl + (br - bl) * fx3
    img = top + (bot - top) * fy3                # [192,192,3] float32 in 0..255
    np.multiply(img.transpose(2, 0, 1), np.float32(1.0 / 255.0), out=out)  # HWC -> CHW, /255
    return x0, y0, side


def to_frame(landmarks, geom):
    """Model output in 192-px input space -> frame pixels (as lmbatch returns them)."""
    x0, y0, side = geom
    lm = landmarks * np.float32(side / SIZE)
    lm[:, 0] += x0
    lm[:, 1] += y0
    return lm


# ----------------------------------------------------------------------------------------------
# Model session
# ----------------------------------------------------------------------------------------------

def make_session(model, cores):
    so = ort.SessionOptions()
    so.intra_op_num_threads = cores
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, sess_options=so, providers=["CPUExecutionProvider"])


def accuracy_check(sess, faces):
    """Untimed sanity check of the preprocessing: NME of every face against the manifest's
    reference landmarks (a plain bilinear resize is expected within per-face 1% / mean 0.25%)."""
    nmes = []
    buf = np.empty((1, 3, SIZE, SIZE), np.float32)
    for f in faces:
        geom = preprocess(f, buf[0])
        lm, _ = sess.run(["landmarks", "face_score"], {"input": buf})
        lm = to_frame(lm[0], geom)
        ref = np.asarray(f.ref["landmarks"], np.float64)
        d = np.hypot(lm[:, 0] - ref[:, 0], lm[:, 1] - ref[:, 1]).mean() / f.ref["inter_ocular"]
        nmes.append(float(d))
    return {"mean_nme_pct": round(100 * float(np.mean(nmes)), 4),
            "max_nme_pct": round(100 * float(np.max(nmes)), 4)}


def pct(lat_s, q):
    return round(float(np.percentile(lat_s, q)) * 1e3, 3) if len(lat_s) else None


# ----------------------------------------------------------------------------------------------
# Peer a: onnxruntime-direct
# ----------------------------------------------------------------------------------------------

def run_direct_batch(sess, faces, batch, seconds):
    """One Python thread: [preprocess `batch` faces into one array -> one session.run -> map back],
    repeated for `seconds`. Timed: everything inside the loop. Latency of a face = wall time of
    the iteration that carried it (from the start of its batch's preprocessing to the end of the
    model call and back-mapping); throughput = faces / wall seconds of the loop."""
    buf = np.empty((batch, 3, SIZE, SIZE), np.float32)
    n = len(faces)
    sess.run(["landmarks", "face_score"], {"input": buf})       # untimed warm-up for this shape
    k, done, lat, pre_s = 0, 0, [], 0.0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        ts = time.perf_counter()
        if ts >= deadline:
            break
        geoms = []
        for i in range(batch):                                   # timed: preprocessing
            geoms.append(preprocess(faces[k % n], buf[i]))
            k += 1
        tp = time.perf_counter()
        lm, score = sess.run(["landmarks", "face_score"], {"input": buf})   # timed: model
        for i in range(batch):                                   # timed: back to frame pixels
            to_frame(lm[i], geoms[i])
        te = time.perf_counter()
        pre_s += tp - ts
        lat.append(te - ts)
        done += batch
    wall = time.perf_counter() - t0
    return {"batch": batch, "faces": done, "wall_s": round(wall, 3),
            "faces_per_s": round(done / wall, 2),
            "batch_p50_ms": pct(lat, 50), "batch_p99_ms": pct(lat, 99),
            "preprocess_share": round(pre_s / wall, 3)}


def peer_direct(sess, faces, seconds, batch_sizes):
    share = seconds / len(batch_sizes)
    per = [run_direct_batch(sess, faces, b, share) for b in batch_sizes]
    best = max(per, key=lambda r: r["faces_per_s"])
    return {"name": "onnxruntime-direct", "faces_per_s": best["faces_per_s"],
            "p50_ms": best["batch_p50_ms"], "p99_ms": best["batch_p99_ms"],
            "details": {"best_batch": best["batch"], "seconds_per_batch_size": round(share, 3),
                        "latency": "per face = wall time of its batch iteration (preprocess+run+map back)",
                        "by_batch": per}}


# ----------------------------------------------------------------------------------------------
# Peer b: original-design (queue + one worker, model called once per crop)
# ----------------------------------------------------------------------------------------------

QUEUE_MAX = 3 * 32
MAX_BATCH = 32
FIRST_TIMEOUT = 0.100   # worker waits up to 100 ms for the first item of a batch
NEXT_TIMEOUT = 0.010    # ... then up to 10 ms for EACH further item (per item, not per batch)


def peer_original(sess, faces, seconds, rate):
    q = queue.Queue(maxsize=QUEUE_MAX)
    results = {}                 # id -> (landmarks in frame px, face_score); never pruned
    latencies = []               # enqueue -> result stored, seconds (worker appends)
    stop = threading.Event()
    stats = {"produced": 0, "enqueued": 0, "dropped": 0, "batches": 0, "model_calls": 0,
             "empty_waits": 0}
    sess.run(["landmarks", "face_score"], {"input": np.zeros((1, 3, SIZE, SIZE), np.float32)})  # untimed warm-up

    def producer():
        # Preprocesses crops (timed: it is the producer's share of the work) as fast as it can,
        # or at `rate` faces/s; put_nowait, and a full queue silently drops the crop.
        n, k = len(faces), 0
        t_next = time.perf_counter()
        while not stop.is_set():
            if rate:
                now = time.perf_counter()
                if now < t_next:
                    time.sleep(t_next - now)
                    continue
                t_next += 1.0 / rate
            crop = np.empty((1, 3, SIZE, SIZE), np.float32)
            t_enq0 = time.perf_counter()          # latency clock starts before the crop is made
            geom = preprocess(faces[k % n], crop[0])
            stats["produced"] += 1
            try:
                q.put_nowait((k, t_enq0, geom, crop))
                stats["enqueued"] += 1
            except queue.Full:
                stats["dropped"] += 1             # the original dropped silently
            k += 1

    def worker():
        while not stop.is_set():
            try:
                items = [q.get(timeout=FIRST_TIMEOUT)]
            except queue.Empty:
                stats["empty_waits"] += 1
                continue
            while len(items) < MAX_BATCH:
                try:
                    items.append(q.get(timeout=NEXT_TIMEOUT))
                except queue.Empty:
                    break
            stats["batches"] += 1
            for fid, t_enq0, geom, crop in items:  # the original: one model call per crop
                lm, score = sess.run(["landmarks", "face_score"], {"input": crop})
                stats["model_calls"] += 1
                results[fid] = (to_frame(lm[0], geom), float(score[0, 0]))
                latencies.append(time.perf_counter() - t_enq0)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=producer, daemon=True), threading.Thread(target=worker, daemon=True)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()                   # producer stops; worker finishes the batch it holds and exits
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    done = len(latencies)
    return {"name": "original-design", "faces_per_s": round(done / wall, 2),
            "p50_ms": pct(latencies, 50), "p99_ms": pct(latencies, 99),
            "details": {"completed": done, "wall_s": round(wall, 3),
                        "produced": stats["produced"], "enqueued": stats["enqueued"],
                        "dropped": stats["dropped"],
                        "drop_rate": round(stats["dropped"] / max(1, stats["produced"]), 4),
                        "left_in_queue": q.qsize(), "batches": stats["batches"],
                        "mean_batch": round(done / max(1, stats["batches"]), 2),
                        "model_calls": stats["model_calls"], "empty_first_waits": stats["empty_waits"],
                        "results_dict_entries": len(results),
                        "producer_rate": rate or "as fast as possible",
                        "latency": "per face = preprocessing start (producer) -> result stored (worker)"}}


# ----------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="time budget per peer (default 20)")
    ap.add_argument("--cores", type=int, default=os.cpu_count(), help="cores (default os.cpu_count())")
    ap.add_argument("--rate", type=float, default=0.0, help="original-design producer rate, faces/s (default: as fast as possible)")
    ap.add_argument("--batch-sizes", default="1,4,8,16,32", help="onnxruntime-direct batch sizes")
    ap.add_argument("--peers", default="direct,original", help="comma list of: direct, original")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--faces", default=DEFAULT_FACES)
    a = ap.parse_args()

    # Same cores for everything in this process: pin to the first N CPUs we may use.
    avail = sorted(os.sched_getaffinity(0))
    cores = max(1, min(a.cores, len(avail)))
    if cores < len(avail):
        os.sched_setaffinity(0, avail[:cores])

    faces = load_faces(a.faces)
    sess = make_session(a.model, cores)
    acc = accuracy_check(sess, faces)
    env = {"cores": cores, "faces": len(faces), "onnxruntime": ort.__version__, "numpy": np.__version__,
           "python": platform.python_version(), "preprocess_accuracy": acc}

    rows = []
    peers = [p.strip() for p in a.peers.split(",") if p.strip()]
    for p in peers:
        if p == "direct":
            r = peer_direct(sess, faces, a.seconds, [int(b) for b in a.batch_sizes.split(",")])
        elif p == "original":
            r = peer_original(sess, faces, a.seconds, a.rate)
        else:
            raise SystemExit("unknown peer " + p)
        r["details"]["env"] = env
        print(json.dumps(r), flush=True)
        rows.append(r)

    print()
    print(f"cores={cores}  faces={len(faces)} (cycled)  onnxruntime {ort.__version__}  "
          f"preprocess NME vs reference: mean {acc['mean_nme_pct']}% max {acc['max_nme_pct']}%")
    print(f"{'peer':<28}{'faces/s':>10}{'p50 ms':>10}{'p99 ms':>10}  notes")
    for r in rows:
        d = r["details"]
        if r["name"] == "onnxruntime-direct":
            note = f"best batch {d['best_batch']}"
        else:
            note = f"dropped {d['dropped']}/{d['produced']}, mean batch {d['mean_batch']}"
        print(f"{r['name']:<28}{r['faces_per_s']:>10.1f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}  {note}")
        if r["name"] == "onnxruntime-direct":
            for b in d["by_batch"]:
                print(f"{'  batch ' + str(b['batch']):<28}{b['faces_per_s']:>10.1f}"
                      f"{b['batch_p50_ms']:>10.2f}{b['batch_p99_ms']:>10.2f}  "
                      f"preprocess {100 * b['preprocess_share']:.0f}% of wall")


if __name__ == "__main__":
    main()

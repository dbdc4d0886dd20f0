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
HWC -> CHW layout (pure numpy, see Preprocessor); then the model call; then mapping the landmarks
back to frame pixels.  Only loading the model, reading the raw files, an accuracy check of the
preprocessing against the eval set's references, and one warm-up run per input shape are untimed.

Session: CPUExecutionProvider, intra_op_num_threads = cores, inter_op_num_threads = 1, sequential,
ORT_ENABLE_ALL; everything else at onnxruntime's defaults (e.g. intra-op threads spin-wait between
runs), as a user would leave it.  With --cores N below the CPUs available, the whole process is
pinned to the first N CPUs.

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
    """One detector box on one raw frame. `raw` is the frame's bytes exactly as read from disk
    (rows of `stride` bytes, padding included); the pixel-format conversion happens per crop,
    inside the timed work, as it does in lmbatch."""

    def __init__(self, name, raw, width, height, stride, fmt, box, ref=None):
        self.name, self.raw, self.fmt, self.box, self.ref = name, raw, fmt, box, ref
        self.width, self.height, self.stride, self.bpp = width, height, stride, BPP[fmt]
        self.rgb_idx = np.array(TO_RGB[fmt], np.intp)


def load_faces(faces_dir):
    man = json.load(open(os.path.join(faces_dir, "manifest.json")))
    faces = []
    for c in man["cases"]:
        w, h, stride, fmt = c["width"], c["height"], c["stride_bytes"], c["pixel_format"]
        raw = np.fromfile(os.path.join(faces_dir, c["raw_file"]), np.uint8)
        assert raw.size == stride * h, c["name"]
        for b in c["boxes"]:
            faces.append(Face(c["name"], raw, w, h, stride, fmt, b["box"], b))
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
    `side` crop pixels starting at `origin` to SIZE output pixels (same sampling as
    cv2.INTER_LINEAR; no antialiasing when downscaling)."""
    src = (np.arange(SIZE, dtype=np.float32) + 0.5) * (side / SIZE) - 0.5
    src = np.clip(src, 0, side - 1)              # crop border: replicate
    i0 = np.floor(src).astype(np.intp)
    frac = (src - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, side - 1)
    # crop index -> frame index, clamped to the frame (pixels outside replicate the nearest edge)
    return np.clip(origin + i0, 0, limit - 1), np.clip(origin + i1, 0, limit - 1), frac


class Preprocessor:
    """Crop + bilinear resize + pixel format -> RGB + /255 + HWC -> CHW for one face, written
    straight into a [3,192,192] float32 slot of the model input.

    Only the 4 bilinear taps of each output pixel are read from the raw frame bytes (one flat
    gather per tap, with the channel order folded into the byte offsets), never the whole (possibly
    huge) crop: the same numbers as crop-then-resize. The large scratch arrays are allocated once
    per thread: allocating ~1 MB temporaries per call made glibc mmap/munmap them every time and
    tripled the cost (2.3 ms instead of ~0.8 ms per face on the dev box)."""

    def __init__(self):
        self.idx = np.empty((3, SIZE, SIZE), np.intp)
        self.u8 = np.empty((3, SIZE, SIZE), np.uint8)
        self.tmp = np.empty((3, SIZE, SIZE), np.float32)
        self.w = np.empty((SIZE, SIZE), np.float32)

    def __call__(self, face, out):
        """Returns (x0, y0, side) for mapping the landmarks back."""
        x0, y0, side = crop_geometry(face.box)
        r0, r1, fy = _taps(y0, side, face.height)
        c0, c1, fx = _taps(x0, side, face.width)
        # byte offsets: row part (+ channel, so the result comes out CHW and RGB) and column part
        ch = face.rgb_idx[:, None, None]
        rows = ((r0 * face.stride)[None, :, None] + ch, (r1 * face.stride)[None, :, None] + ch)
        cols = ((c0 * face.bpp)[None, None, :], (c1 * face.bpp)[None, None, :])
        wy = ((1 - fy) * np.float32(1 / 255), fy * np.float32(1 / 255))   # /255 folded in
        wx = (1 - fx, fx)
        first = True
        for a in (0, 1):
            for b in (0, 1):
                np.add(rows[a], cols[b], out=self.idx)
                np.take(face.raw, self.idx, out=self.u8)          # gather one tap, uint8 CHW
                np.multiply(wy[a][:, None], wx[b][None, :], out=self.w)
                if first:
                    np.multiply(self.u8, self.w, out=out)
                    first = False
                else:
                    np.multiply(self.u8, self.w, out=self.tmp)
                    np.add(out, self.tmp, out=out)
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

def make_session(model, cores, spin=True):
    so = ort.SessionOptions()
    so.intra_op_num_threads = cores
    so.inter_op_num_threads = 1
    if not spin:   # --no-spin: intra-op pool threads block instead of spin-waiting between runs
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, sess_options=so, providers=["CPUExecutionProvider"])


def accuracy_check(sess, faces):
    """Untimed sanity check of the preprocessing: NME of every face against the manifest's
    reference landmarks (a plain bilinear resize is expected within per-face 1% / mean 0.25%)."""
    nmes = []
    buf = np.empty((1, 3, SIZE, SIZE), np.float32)
    preprocess = Preprocessor()
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
    preprocess = Preprocessor()
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
    latencies = []               # enqueue (put_nowait) -> result stored, seconds (worker appends)
    latencies_pre = []           # same, but from the start of the crop's preprocessing
    stop = threading.Event()
    stats = {"produced": 0, "enqueued": 0, "dropped": 0, "batches": 0, "model_calls": 0,
             "empty_waits": 0}
    sess.run(["landmarks", "face_score"], {"input": np.zeros((1, 3, SIZE, SIZE), np.float32)})  # untimed warm-up

    def producer():
        # Preprocesses crops (timed: it is the producer's share of the work) as fast as it can,
        # or at `rate` faces/s; put_nowait, and a full queue silently drops the crop.
        n, k = len(faces), 0
        preprocess = Preprocessor()
        t_next = time.perf_counter()
        while not stop.is_set():
            if rate:
                now = time.perf_counter()
                if now < t_next:
                    time.sleep(t_next - now)
                    continue
                t_next += 1.0 / rate
            crop = np.empty((1, 3, SIZE, SIZE), np.float32)
            t_pre = time.perf_counter()           # preprocessing starts
            geom = preprocess(faces[k % n], crop[0])
            stats["produced"] += 1
            try:
                q.put_nowait((k, t_pre, time.perf_counter(), geom, crop))   # enqueue time
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
            for fid, t_pre, t_enq, geom, crop in items:  # the original: one model call per crop
                lm, score = sess.run(["landmarks", "face_score"], {"input": crop})
                stats["model_calls"] += 1
                results[fid] = (to_frame(lm[0], geom), float(score[0, 0]))
                t_done = time.perf_counter()
                latencies.append(t_done - t_enq)
                latencies_pre.append(t_done - t_pre)

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
                        "latency": "per face = enqueue (producer put_nowait) -> result stored (worker)",
                        "from_preprocess_start_p50_ms": pct(latencies_pre, 50),
                        "from_preprocess_start_p99_ms": pct(latencies_pre, 99)}}


# ----------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="time budget per peer (default 20)")
    ap.add_argument("--cores", type=int, default=os.cpu_count(), help="cores (default os.cpu_count())")
    ap.add_argument("--rate", type=float, default=0.0, help="original-design producer rate, faces/s (default: as fast as possible)")
    ap.add_argument("--batch-sizes", default="1,4,8,16,32", help="onnxruntime-direct batch sizes")
    ap.add_argument("--peers", default="direct,original", help="comma list of: direct, original")
    ap.add_argument("--no-spin", action="store_true",
                    help="set session.intra_op.allow_spinning=0 (default: onnxruntime's default, spinning)")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--faces", default=DEFAULT_FACES)
    a = ap.parse_args()

    # Same cores for everything in this process: pin to the first N CPUs we may use.
    avail = sorted(os.sched_getaffinity(0))
    cores = max(1, min(a.cores, len(avail)))
    if cores < len(avail):
        os.sched_setaffinity(0, avail[:cores])

    faces = load_faces(a.faces)
    sess = make_session(a.model, cores, spin=not a.no_spin)
    acc = accuracy_check(sess, faces)
    env = {"cores": cores, "intra_op_spinning": not a.no_spin, "faces": len(faces), "onnxruntime": ort.__version__, "numpy": np.__version__,
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
    print(f"cores={cores}  spin={'off' if a.no_spin else 'on'}  faces={len(faces)} (cycled)  onnxruntime {ort.__version__}  "
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

"""The peer of LM_BACKEND_REMOTE: what a user would write instead with Python tritonclient[grpc]:
the same uint8 batches of 32 crops sent straight to the same Triton server, 2 requests in flight.
Prints faces/s and the client's CPU time per face (this process, user + system).

usage: python bench/remote_peer.py HOST:PORT [SECONDS] [BATCH]
"""
import sys
import threading
import time

import numpy as np
import tritonclient.grpc as grpcclient

url = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 32
client = grpcclient.InferenceServerClient(url)
crops = np.random.default_rng(1).integers(0, 256, size=(batch, 192, 192, 3), dtype=np.uint8)
outputs = [grpcclient.InferRequestedOutput("landmarks"), grpcclient.InferRequestedOutput("face_score")]

slots = threading.Semaphore(2)
lock = threading.Lock()
done = {"faces": 0, "errors": 0}


def finished(result, error):
    with lock:
        if error is None:
            done["faces"] += result.as_numpy("landmarks").shape[0]
        else:
            done["errors"] += 1
    slots.release()


def send():
    slots.acquire()
    inp = grpcclient.InferInput("input", list(crops.shape), "UINT8")
    inp.set_data_from_numpy(crops)
    client.async_infer("face_landmark_u8", [inp], finished, outputs=outputs)


for _ in range(4):  # warm-up
    send()
for _ in range(2):
    slots.acquire()
for _ in range(2):
    slots.release()
with lock:
    done["faces"] = 0
cpu0, t0 = time.process_time(), time.perf_counter()
while time.perf_counter() - t0 < seconds:
    send()
for _ in range(2):
    slots.acquire()
elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
faces = done["faces"]
print(f"tritonclient[grpc] -> {url}: batch {batch}, 2 in flight: {faces / elapsed:.1f} faces/s, "
      f"client CPU {cpu / max(faces, 1) * 1e6:.1f} us/face, errors {done['errors']}")

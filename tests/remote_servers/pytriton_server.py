"""NVIDIA Triton Inference Server (the real tritonserver binary from the nvidia-pytriton wheel)
serving lmbatch's uint8 model as `face_landmark_u8`, the model run by a Python callable over
onnxruntime. Listens on 127.0.0.1 only.

usage: python pytriton_server.py GRPC_PORT HTTP_PORT METRICS_PORT MODEL.onnx [CERT.pem KEY.pem]
With CERT and KEY, gRPC is served over TLS with that certificate (https:// for the client).
With LMBATCH_MODEL_478 naming models/face_landmarks_478.onnx, that described model is served too,
as `face_landmarks_478`, with the tensors its descriptor names (FP32 NHWC 256 in; Identity,
Identity_1 out).
"""
import os
import sys

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

grpc_port, http_port, metrics_port = (int(v) for v in sys.argv[1:4])
tls = sys.argv[5:7]
session = ort.InferenceSession(sys.argv[4], providers=["CPUExecutionProvider"])


@batch
def infer(input):
    landmarks, face_score = session.run(["landmarks", "face_score"], {"input": input})
    return {"landmarks": landmarks, "face_score": face_score}


config = TritonConfig(
    grpc_address="127.0.0.1", grpc_port=grpc_port,
    http_address="127.0.0.1", http_port=http_port,
    metrics_port=metrics_port, allow_metrics=False,
    **(dict(grpc_use_ssl=True, grpc_server_cert=tls[0], grpc_server_key=tls[1]) if tls else {}),
)
model_478 = os.environ.get("LMBATCH_MODEL_478")
session_478 = model_478 and ort.InferenceSession(model_478, providers=["CPUExecutionProvider"])


@batch
def infer_478(input_12):
    points, score = session_478.run(["Identity", "Identity_1"], {"input_12": input_12})
    return {"Identity": points, "Identity_1": score}


with Triton(config=config) as triton:
    if session_478:
        triton.bind(
            model_name="face_landmarks_478",
            infer_func=infer_478,
            inputs=[Tensor(name="input_12", dtype=np.float32, shape=(256, 256, 3))],
            outputs=[
                Tensor(name="Identity", dtype=np.float32, shape=(1, 1, 1434)),
                Tensor(name="Identity_1", dtype=np.float32, shape=(1, 1, 1)),
            ],
            config=ModelConfig(max_batch_size=32),
            strict=False,
        )
    triton.bind(
        model_name="face_landmark_u8",
        infer_func=infer,
        inputs=[Tensor(name="input", dtype=np.uint8, shape=(192, 192, 3))],
        outputs=[
            Tensor(name="landmarks", dtype=np.float32, shape=(468, 3)),
            Tensor(name="face_score", dtype=np.float32, shape=(1,)),
        ],
        config=ModelConfig(
            max_batch_size=32,
            batcher=DynamicBatcher(max_queue_delay_microseconds=500),
        ),
        strict=False,
    )
    print("pytriton serving face_landmark_u8 on 127.0.0.1:%d%s" % (grpc_port, " (TLS)" if tls else ""), flush=True)
    triton.serve()

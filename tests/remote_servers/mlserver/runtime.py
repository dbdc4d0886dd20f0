"""An MLServer custom runtime serving lmbatch's uint8 landmark model over onnxruntime."""
import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxLandmarks(MLModel):
    async def load(self) -> bool:
        self._session = ort.InferenceSession(
            self.settings.parameters.uri, providers=["CPUExecutionProvider"])
        return True

    async def predict(self, request: InferenceRequest) -> InferenceResponse:
        (tensor,) = request.inputs
        crops = NumpyCodec.decode_input(tensor).astype(np.uint8, copy=False)
        crops = crops.reshape(tensor.shape)
        landmarks, face_score = self._session.run(
            ["landmarks", "face_score"], {"input": crops})
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                NumpyCodec.encode_output("landmarks", landmarks.astype(np.float32)),
                NumpyCodec.encode_output("face_score", face_score.astype(np.float32)),
            ],
        )

"""backend="remote": the settings' checks always; the faces set through a real Triton and a real
MLServer when scripts/test-remote-servers.sh has started them (it sets LMBATCH_TRITON_URL and
LMBATCH_MLSERVER_URL and runs this file), against a local run of the same model."""

from __future__ import annotations

import os
import socket
import time

import numpy as np
import pytest

import lmbatch
from evalset import eval_faces


def test_remote_needs_its_endpoints() -> None:
    with pytest.raises(lmbatch.InvalidArgument, match="remote_endpoints is required"):
        lmbatch.Pipeline(backend="remote")
    with pytest.raises(lmbatch.InvalidArgument, match="not http://host:port"):
        lmbatch.Pipeline(backend="remote", remote_endpoints="10.0.0.5:8001")
    with pytest.raises(lmbatch.InvalidArgument, match="backend"):
        lmbatch.Pipeline(backend="grpc")  # type: ignore[arg-type]


def test_an_endpoint_nobody_serves_is_backend_unavailable_in_time() -> None:
    # A port that was free a moment ago: nothing listens there.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(lmbatch.BackendUnavailable) as refused:
        lmbatch.Pipeline(backend="remote", remote_endpoints=f"http://127.0.0.1:{port}",
                         remote_connect_timeout_ms=500,
                         remote_headers={"authorization": "Bearer test"})
    took = time.monotonic() - started
    assert f"127.0.0.1:{port}" in refused.value.message
    print(f"refused in {took:.2f} s: {refused.value.message}")
    assert took < 30.0


@pytest.mark.parametrize("server", ["LMBATCH_TRITON_URL", "LMBATCH_MLSERVER_URL"])
def test_a_real_server_gives_the_local_points(server: str) -> None:
    url = os.environ.get(server)
    if not url:
        pytest.skip(f"{server} is not set: scripts/test-remote-servers.sh starts the servers")
    faces = eval_faces()
    with lmbatch.Pipeline(backend="remote", remote_endpoints=url, remote_timeout_ms=10_000,
                          max_wait_ms=2.0) as remote, \
            lmbatch.Pipeline(backend="cpu", max_wait_ms=2.0) as local:
        assert remote.model_info().backend == f"remote:{url}"
        for i, f in enumerate(faces):
            remote.enqueue(i, f.frame, f.box, fmt=f.fmt)  # type: ignore[arg-type]
            local.enqueue(i, f.frame, f.box, fmt=f.fmt)  # type: ignore[arg-type]
        worst = 0.0
        for i in range(len(faces)):
            got = remote.pop_wait(i, timeout=60.0).points
            want = local.pop_wait(i, timeout=60.0).points
            worst = max(worst, float(np.abs(got - want).max()))
        stats = remote.stats()
        assert stats.popped == len(faces) and stats.failed == 0
        assert stats.remote_retries == 0 and stats.remote_failovers == 0
    print(f"{server}: {len(faces)} faces, worst point difference vs local {worst:.2e} px")
    assert worst <= 1e-3

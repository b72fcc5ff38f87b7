"""alapp embed --cluster ray://HOST:PORT against a real Ray head started here (issue 20): the
driver reaches the cluster through Ray Client, as from a workstation outside it, with the token
authentication Ray turns on by default; the vectors equal the application's own featurizer's.
No mocks: `ray start --head`, its client server, actors and MiniLM all run for real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("grpc")  # Ray Client (alapp[cluster] installs ray[client])

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A one-node Ray cluster with a client server, its own temp folder and token; stopped
    (its process group) at the end, never `ray stop` (that would stop every Ray here)."""
    folder = tmp_path_factory.mktemp("rayhead")
    token = folder / "auth_token"
    token.write_text("alapp-test-token-" + os.urandom(8).hex(), "ascii")
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
           "RAY_USAGE_STATS_ENABLED": "0"}
    client = _free_port()
    head = subprocess.Popen(
        [str(Path(sys.executable).with_name("ray")), "start", "--head", "--block",
         f"--port={_free_port()}", f"--ray-client-server-port={client}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={folder / 'tmp'}",
         "--node-ip-address=127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", client)) == 0:
                break
        if head.poll() is not None:
            pytest.fail("ray start --head exited")
        time.sleep(1)
    else:
        os.killpg(head.pid, signal.SIGKILL)
        pytest.fail("the Ray head's client server did not listen within 120 s")
    yield f"ray://127.0.0.1:{client}", env, folder
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)


def _client_server_log(folder: Path) -> str:
    """The head's Ray Client server log (why a driver's server died), for a failure message."""
    logs = sorted((folder / "tmp").glob("session_*/logs/ray_client_server.err"))
    return "\n" + "\n".join(logs[-1].read_text("utf-8", "replace").splitlines()[-30:]) \
        if logs else ""


def test_embedding_through_ray_client_gives_the_local_vectors(ray_head, tmp_path) -> None:
    from alapp.core.errors import AlappError
    from alapp.ml.embedders import HFEmbedder, default_minilm_folder
    from alapp.store import vector_shards

    try:
        model = default_minilm_folder()
    except AlappError as e:
        pytest.skip(str(e))
    address, env, folder = ray_head
    texts = [f"order number {i} arrived {'late' if i % 3 else 'broken'} again" for i in
             range(2_500)]
    pool = tmp_path / "pool.csv"
    pool.write_text("id,text\n" + "".join(f"r{i},{t}\n" for i, t in enumerate(texts)), "utf-8")
    out = tmp_path / "vectors"
    run = subprocess.run(
        [str(Path(sys.executable).with_name("alapp")), "embed", str(pool), "--model",
         str(model), "--out", str(out), "--cluster", address, "--shard-rows", "1000"],
        env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr + _client_server_log(folder)
    assert f"Ray cluster {address}: 3 computed" in run.stdout
    manifest = vector_shards.read_manifest(out)
    assert manifest is not None and manifest["complete"]
    parts = list(vector_shards.finished_shards(out, manifest))
    ids = [x for shard_ids, _ in parts for x in shard_ids]
    vectors = np.concatenate([v for _, v in parts])
    assert ids == [f"r{i}" for i in range(2_500)] and vectors.shape == (2_500, 384)
    sample = [0, 7, 999, 1000, 1001, 2499]
    expected = HFEmbedder(model).embed([texts[i] for i in sample])
    got = vectors[sample]
    np.testing.assert_allclose(got, expected, atol=1e-4)

    wrong = dict(env, RAY_AUTH_TOKEN="not-the-token")  # the cluster refuses a wrong token
    refused = subprocess.run(
        [str(Path(sys.executable).with_name("alapp")), "embed", str(pool), "--model",
         str(model), "--out", str(tmp_path / "other"), "--cluster", address],
        env=wrong, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert not (tmp_path / "other").exists()

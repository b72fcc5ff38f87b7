"""Embedding many texts: in this process, or on Ray (a cluster, or Ray's local mode).

Both engines run the application's own featurizer (``HFEmbedder``: the local-only,
safetensors-only loader, length-sorted batches, mean pooling, L2 normalisation), so a vector
does not depend on where it was computed. They take shards ``(index, texts)`` and yield
``(index, vectors)`` as each shard completes, in any order; what to do with them (files, the
manifest, resuming) is the caller's (app/embed_job.py).

On Ray: Ray Data ``map_batches`` over a pool of actors of a callable class; each actor loads the
model once and keeps it. A driver connected through Ray Client (``ray://head:10001``) feeds the
same actors block by block instead (Ray Data needs its driver on the cluster). Each actor gets
one GPU where the cluster has GPUs, else one CPU and one torch thread, and the pool has as
many actors as there are of those. The driver reads the input and puts the texts into the
cluster's object store (Ray spills it to disk when large), so the workers need no shared file
system, only alapp and the model folder at the same path. A worker that dies is restarted by
Ray and its blocks are retried; what a dead driver finished is on disk and a rerun skips it.

ray and torch are imported inside the functions: the application starts without them.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alapp.core.errors import AlappError
from alapp.ml.embedders import HFEmbedder, folder_fingerprint

Shard = tuple[int, list[str]]  # (index, texts)
Done = tuple[int, NDArray[np.float32]]  # (index, vectors)

BLOCK_ROWS = 1_000  # texts per Ray block: small enough to balance the workers at the end
WAVE_ROWS = 1_000_000  # texts the driver puts into the object store at a time
RESTARTS = 4  # a worker that dies is restarted (and its block retried) this many times


@dataclass(frozen=True)
class ModelSpec:
    folder: str
    fingerprint: str
    batch_size: int = 64
    max_length: int = 256
    device: str = "auto"


def embed_in_process(model: ModelSpec, shards: Iterable[Shard]) -> Iterator[Done]:
    """The plain loop: one model in this process, shard after shard."""
    embedder = HFEmbedder(Path(model.folder), device=model.device,
                          batch_size=model.batch_size, max_length=model.max_length)
    for index, texts in shards:
        yield index, embedder.embed(texts)


class ShardEmbedder:
    """One Ray actor: loads the model once, then embeds block after block."""

    def __init__(self, model: ModelSpec, threads: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from alapp.ml.threads import limit_threads

        limit_threads(threads)
        import torch

        torch.set_num_threads(threads)
        found = folder_fingerprint(Path(model.folder))
        if found != model.fingerprint:
            raise AlappError(f"{model.folder} on this worker ({found}) is not the model folder "
                             f"the job was started with ({model.fingerprint})")
        self.embedder = HFEmbedder(Path(model.folder), device=model.device,
                                   batch_size=model.batch_size, max_length=model.max_length)
        self.embedder._load()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        vectors = self.embedder.embed([str(t) for t in batch["text"]])
        return {"shard": batch["shard"], "row": batch["row"], "vector": vectors}

    def embed_block(self, index: int, start: int, texts: list[str]
                    ) -> tuple[int, int, NDArray[np.float32]]:
        """One block, for a driver connected through Ray Client (see ``_wave_on_actors``)."""
        return index, start, self.embedder.embed(texts)

    def pid(self) -> int:
        return os.getpid()


def ray_module() -> Any:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # never report usage anywhere
    try:
        import ray
        import ray.data
    except ImportError:
        return None
    return ray


def ray_available() -> bool:
    try:
        import importlib.util

        return (importlib.util.find_spec("ray") is not None
                and importlib.util.find_spec("pyarrow") is not None)
    except (ImportError, ValueError):
        return False


# Ray's client server forks a server per driver; that fork sometimes dies at once (a gRPC
# poller race in Ray's proxier, ray-project/ray#63202, open in Ray 2.60), and the driver gets
# "Initialization failure from server". A new connection gets a new fork, so try again.
CLIENT_SERVER_TRIES = 5


def _join_cluster(ray: Any, cluster: str) -> None:
    for attempt in range(1, CLIENT_SERVER_TRIES + 1):
        try:
            ray.init(address=cluster, log_to_driver=False, logging_level=logging.ERROR,
                     configure_logging=False)
            return
        except ConnectionError as e:
            if "Initialization failure from server" not in str(e) or \
                    attempt == CLIENT_SERVER_TRIES:
                raise
            if ray.is_initialized():
                ray.shutdown()
            time.sleep(attempt)


def start_ray(cluster: str | None, cpus: int | None = None) -> bool:
    """Connect to ``cluster`` (``ray://host:port``, ``auto``) or start Ray's local mode on
    ``cpus`` cores (all by default); offline, no dashboard, no usage statistics. True when this
    call started or joined Ray (and so should shut it down), False when Ray was already up."""
    ray = ray_module()
    if ray is None:
        raise AlappError("Ray is not installed: pip install 'alapp[cluster]', or use --no-ray")
    if ray.is_initialized():
        return False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        if cluster:
            _join_cluster(ray, cluster)
        else:
            ray.init(address="local", num_cpus=cpus or os.cpu_count() or 1,
                     include_dashboard=False, log_to_driver=False, configure_logging=False,
                     logging_level=logging.ERROR, _node_ip_address="127.0.0.1")
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        where = f"the Ray cluster at {cluster}" if cluster else "Ray's local mode"
        hint = ("; if the cluster asks for a token (Ray >= 2.59 does by default), set "
                "RAY_AUTH_MODE=token and put the cluster's token in RAY_AUTH_TOKEN or "
                "~/.ray/auth_token" if cluster and cluster.startswith("ray://") else "")
        if "Initialization failure from server" in str(e):
            hint += (f" (tried {CLIENT_SERVER_TRIES} times; the head's "
                     "logs/ray_client_server.err says why its server for this driver died)")
        raise AlappError(f"cannot start {where}: {str(e).strip().splitlines()[0]}{hint}"
                         ) from None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    if hasattr(context, "print_on_execution_start"):
        context.print_on_execution_start = False
    return True


def workers_of(ray: Any, device: str) -> tuple[int, float]:
    """(actors, GPUs per actor): one per GPU where the cluster has GPUs, else one per CPU."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus and device != "cpu":
        return gpus, 1.0
    if device == "cuda":
        raise AlappError("the Ray cluster has no GPU; use --device cpu or auto")
    return max(1, int(resources.get("CPU", 1))), 0.0


def stop_ray() -> None:
    ray = ray_module()
    if ray is not None:
        ray.shutdown()


def embed_on_ray(model: ModelSpec, shards: Iterable[Shard], cluster: str | None = None,
                 workers: int | None = None, cpus: int | None = None) -> Iterator[Done]:
    """Ray Data over an actor pool; Ray started here (and stopped at the end) unless it is up
    already. ``workers``: the size of the actor pool (default: every GPU, else every CPU)."""
    started = start_ray(cluster, cpus)
    ray = ray_module()
    try:
        count, gpus = workers_of(ray, model.device)
        count = workers or count
        device = "cuda" if gpus else "cpu"
        spec = ModelSpec(model.folder, model.fingerprint, model.batch_size, model.max_length,
                         device)
        wave: list[Shard] = []
        rows = 0
        for shard in shards:
            wave.append(shard)
            rows += len(shard[1])
            if rows >= WAVE_ROWS:
                yield from _wave(ray, spec, wave, count, gpus)
                wave, rows = [], 0
        if wave:
            yield from _wave(ray, spec, wave, count, gpus)
    finally:
        if started:
            ray.shutdown()


def _wave(ray: Any, model: ModelSpec, wave: list[Shard], workers: int, gpus: float
          ) -> Iterator[Done]:
    if _through_client(ray):
        yield from _wave_on_actors(ray, model, wave, workers, gpus)
        return
    import pyarrow as pa

    refs, sizes = [], {}
    for index, texts in wave:
        sizes[index] = len(texts)
        for start in range(0, len(texts), BLOCK_ROWS):
            part = texts[start:start + BLOCK_ROWS]
            refs.append(ray.put(pa.table({
                "shard": pa.array(np.full(len(part), index, dtype=np.int64)),
                "row": pa.array(np.arange(start, start + len(part), dtype=np.int64)),
                "text": pa.array(part, pa.string())})))
    workers = max(1, min(workers, len(refs)))
    with warnings.catch_warnings():  # restarts have no named parameter yet
        warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
        dataset = ray.data.from_arrow_refs(refs).map_batches(
            ShardEmbedder, fn_constructor_kwargs={"model": model, "threads": 1},
            batch_size=None, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=1, num_gpus=gpus, max_restarts=RESTARTS, max_task_retries=RESTARTS)
    pending: dict[int, NDArray[np.float32]] = {}
    filled: dict[int, int] = {}
    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            vectors = np.asarray(batch["vector"], dtype=np.float32)
            for index in np.unique(batch["shard"]):
                mine = batch["shard"] == index
                key = int(index)
                if key not in pending:
                    pending[key] = np.zeros((sizes[key], vectors.shape[1]), dtype=np.float32)
                    filled[key] = 0
                pending[key][batch["row"][mine]] = vectors[mine]
                filled[key] += int(mine.sum())
                if filled[key] == sizes[key]:
                    yield key, pending.pop(key)
    except ray.exceptions.RayError as e:
        raise AlappError(f"the Ray job failed: {_cause(e)}") from None


def _through_client(ray: Any) -> bool:
    """Whether this driver reached the cluster through Ray Client (``ray://``): Ray Data's
    streaming executor needs a driver on the cluster (Ray 2.60 fails on a client)."""
    try:
        return bool(ray.util.client.ray.is_connected())
    except AttributeError:
        return False


def _wave_on_actors(ray: Any, model: ModelSpec, wave: list[Shard], workers: int,
                    gpus: float) -> Iterator[Done]:
    """The same actors, fed block by block by the driver (a pool of them, each loading the
    model once); a block whose actor dies is retried on a restarted one."""
    from ray.util import ActorPool

    remote = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=RESTARTS,
                        max_task_retries=RESTARTS)(ShardEmbedder)
    blocks = [(index, start, texts[start:start + BLOCK_ROWS]) for index, texts in wave
              for start in range(0, len(texts), BLOCK_ROWS)]
    sizes = {index: len(texts) for index, texts in wave}
    actors = [remote.remote(model, 1) for _ in range(max(1, min(workers, len(blocks))))]
    pool = ActorPool(actors)
    pending: dict[int, NDArray[np.float32]] = {}
    filled: dict[int, int] = {}
    try:
        for index, start, vectors in pool.map_unordered(
                lambda actor, block: actor.embed_block.remote(*block), blocks):
            if index not in pending:
                pending[index] = np.zeros((sizes[index], vectors.shape[1]), dtype=np.float32)
                filled[index] = 0
            pending[index][start:start + len(vectors)] = vectors
            filled[index] += len(vectors)
            if filled[index] == sizes[index]:
                yield index, pending.pop(index)
    except ray.exceptions.RayError as e:
        raise AlappError(f"the Ray job failed: {_cause(e)}") from None
    finally:
        for actor in actors:
            ray.kill(actor)


def _cause(error: BaseException) -> str:
    inner = getattr(error, "cause", None) or error
    if isinstance(inner, AlappError):
        return str(inner)
    text = str(inner).strip()
    return text.splitlines()[-1] if text else type(inner).__name__

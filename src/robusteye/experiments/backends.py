"""Where cells run: in this process, in N local worker processes, or as Ray tasks.

Every backend maps a task function `fn(task, data)` over tasks and yields `(task, result)` as
each finishes, in completion order. The data set is shipped once per worker (process pool
initializer, or one `ray.put`), never once per task. Worker processes are started with
`spawn`: forking a process that already runs OpenMP threads can deadlock; there are never more
of them than CPU cores or tasks to run.

A Ray address is checked before Ray sees it: its spelling when the options are made, then a
TCP connection to it with a short timeout, because `ray.init` waits minutes for a cluster
that is not there (and answers a malformed address with a traceback).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from robusteye.data import EyeDataset
from robusteye.devices import resolve_device
from robusteye.errors import RobustEyeError, UsageError
from robusteye.experiments.progress import Progress

T = TypeVar("T")
R = TypeVar("R")
TaskFn = Callable[[T, EyeDataset], R]
BACKENDS = ("local", "ray")

_WORKER_DATA: EyeDataset | None = None
#: Seconds to wait for a Ray cluster's port to answer before giving up.
RAY_CONNECT_TIMEOUT = 5.0
_RAY_DEFAULT_PORTS = {"": 6379, "ray://": 10001}  # the GCS, and the Ray Client server
_RAY_ADDRESS = re.compile(
    r"(?P<scheme>ray://)?(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9][A-Za-z0-9.-]{0,252}))"
    r"(?::(?P<port>[0-9]{1,5}))?"
)


def ray_endpoint(address: str | None) -> tuple[str, int] | None:
    """The (host, port) a Ray `address` names: None for none, `auto` and `local` (Ray finds
    or starts the cluster itself). Anything but HOST[:PORT] or ray://HOST[:PORT] is a
    one-line UsageError."""
    if address is None or address in ("auto", "local"):
        return None
    match = _RAY_ADDRESS.fullmatch(address)
    port = int(match["port"]) if match and match["port"] else None
    if match is None or (port is not None and not 1 <= port <= 65535):
        raise UsageError(
            f"--ray-address expects auto, HOST:PORT or ray://HOST:PORT, got {address!r}"
        )
    host = match["ipv6"] or match["host"]
    return host, port if port is not None else _RAY_DEFAULT_PORTS[match["scheme"] or ""]


def probe_ray(address: str | None, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """Refuse, within `timeout` seconds, a Ray address whose port does not answer."""
    endpoint = ray_endpoint(address)
    if endpoint is None:
        return
    try:
        with socket.create_connection(endpoint, timeout=timeout):
            pass
    except OSError as err:  # refused, unreachable, unknown host, timed out
        reason = err.strerror or str(err) or type(err).__name__
        raise RobustEyeError(
            f"cannot reach the Ray cluster at {address} ({reason}, {timeout:g} s allowed); "
            "is `ray start --head` running there?"
        ) from None


@dataclass(frozen=True)
class RunOptions:
    """How a run's tasks run, the same for grids and searches: the backend (`local` with
    `workers` processes, or `ray` at `ray_address` with `cpus` and `gpus` per task), the
    torch device of each task, a progress bar, and whether to write the report at the end."""

    backend: str = "local"
    workers: int = 1
    ray_address: str | None = None
    cpus: float = 1.0
    gpus: float = 0.0
    device: str = "cpu"
    progress: bool = False
    report: bool = False

    def __post_init__(self) -> None:
        if self.backend == "local" and self.ray_address is not None:
            raise UsageError("--ray-address needs --backend ray")
        ray_endpoint(self.ray_address)

    def check_device(self) -> None:
        """Before any work: the device must exist here, unless Ray's workers (which may have
        it) run the tasks; then the Ray cluster named must answer (`probe_ray`)."""
        if self.backend != "ray":
            resolve_device(self.device)
        else:
            probe_ray(self.ray_address)

    @contextmanager
    def running(
        self, data: EyeDataset, total: int, done: int, log: Callable[[str], None]
    ) -> Iterator[tuple[Backend, Progress]]:
        """The backend, started with `data`, and a progress bar of `total` tasks."""
        workers = self.workers
        if self.backend == "local":
            cores, left = os.cpu_count() or 1, max(1, total - done)
            if workers > min(cores, left):
                log(
                    f"workers: {workers} asked, {min(cores, left)} used "
                    f"({cores} CPU cores, {left} tasks to run)"
                )
                workers = min(cores, left)
        with (
            make_backend(
                self.backend, data, workers=workers, address=self.ray_address,
                cpus=self.cpus, gpus=self.gpus,
            ) as runner,
            Progress(total, done, runner.slots, self.progress, log) as bar,
        ):  # fmt: skip
            yield runner, bar


class Backend:
    """Runs tasks; `slots` is how many run at once, `threads` the torch threads of each."""

    slots: int = 1
    threads: int | None = None

    def map(self, fn: TaskFn[T, R], tasks: Sequence[T]) -> Iterator[tuple[T, R]]:
        raise NotImplementedError

    def close(self) -> None:
        """Release workers (or the Ray connection)."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcess(Backend):
    def __init__(self, data: EyeDataset) -> None:
        self.data = data

    def map(self, fn: TaskFn[T, R], tasks: Sequence[T]) -> Iterator[tuple[T, R]]:
        for task in tasks:
            yield task, fn(task, self.data)


class ProcessPool(Backend):
    """N spawned worker processes, each with the data set and cpu_count // N torch threads."""

    def __init__(self, data: EyeDataset, workers: int) -> None:
        self.slots = workers
        self.threads = max(1, (os.cpu_count() or 1) // workers)
        self.pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(data, self.threads),
        )

    def map(self, fn: TaskFn[T, R], tasks: Sequence[T]) -> Iterator[tuple[T, R]]:
        pending: dict[Future[R], T] = {self.pool.submit(_call, fn, t): t for t in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield pending.pop(future), future.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _init_worker(data: EyeDataset, threads: int) -> None:
    global _WORKER_DATA
    import torch

    torch.set_num_threads(threads)
    _WORKER_DATA = data


def _call(fn: TaskFn[T, R], task: T) -> R:
    assert _WORKER_DATA is not None, "worker not initialised"
    return fn(task, _WORKER_DATA)


class RayBackend(Backend):
    """Each task a Ray task with `cpus` CPUs and `gpus` GPUs; joins `address` or starts Ray."""

    def __init__(
        self,
        data: EyeDataset,
        *,
        address: str | None = None,
        cpus: float = 1.0,
        gpus: float = 0.0,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError("the ray backend needs Ray: pip install 'robusteye[ray]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            probe_ray(address)
            try:
                ray.init(
                    address=address,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except (ConnectionError, ValueError) as err:
                raise RobustEyeError(f"cannot join the Ray cluster at {address}: {err}") from None
        total = ray.cluster_resources().get("CPU", 1.0)
        self.slots = max(1, int(total // max(cpus, 1e-9)))
        self.threads = max(1, int(cpus))
        self.remote: Any = ray.remote(_ray_call).options(num_cpus=cpus, num_gpus=gpus)
        self.data_ref = ray.put(data)

    def map(self, fn: TaskFn[T, R], tasks: Sequence[T]) -> Iterator[tuple[T, R]]:
        ray = self.ray
        pending: dict[Any, T] = {self.remote.remote(fn, t, self.data_ref): t for t in tasks}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as err:
                    if isinstance(err.cause, RobustEyeError):
                        raise err.cause from None
                    raise
                yield pending.pop(ref), result
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def _ray_call(fn: TaskFn[T, R], task: T, data: EyeDataset) -> R:
    return fn(task, data)  # tasks set their own torch threads (Backend.threads)


def make_backend(
    name: str,
    data: EyeDataset,
    *,
    workers: int = 1,
    address: str | None = None,
    cpus: float = 1.0,
    gpus: float = 0.0,
) -> Backend:
    """The backend called `name` ("local" or "ray")."""
    if name == "local":
        if address is not None:
            raise UsageError("--ray-address needs --backend ray")
        if workers < 1:
            raise UsageError(f"workers must be >= 1, got {workers}")
        return InProcess(data) if workers == 1 else ProcessPool(data, workers)
    if name == "ray":
        if cpus <= 0 or gpus < 0:
            raise UsageError(f"need cpus > 0 and gpus >= 0 per cell, got {cpus} and {gpus}")
        return RayBackend(data, address=address, cpus=cpus, gpus=gpus)
    raise UsageError(f"unknown backend {name!r} (known: {', '.join(BACKENDS)})")

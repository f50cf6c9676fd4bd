"""One executor for sweeps: independent cells mapped to results, in this process or on a Ray cluster.

A sweep is ``fn(shared, cell) -> result`` over a list of cells. ``fn`` is a module-level function, ``cell`` a small
picklable value and ``shared`` a dict of big read-only objects (root model, test data) that go into Ray's object
store once and are decoded once per worker process. Every cell draws from its own seeded generator, so serial,
local-Ray and cluster runs give identical results; results come back in the order of the cells. A cluster address
is tried (``check_reachable``) before Ray connects to it: where no Ray answers, the error says so within seconds.

    executor = Executor.from_env()                  # $INSITU_RAY_ADDRESS set: that cluster; else this process
    for index, result in iter_results(fn, cells, share(executor, root=root, data=data), executor, progress):
        ...
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.validation import check_int, check_range

RAY_ADDRESS_ENV = "INSITU_RAY_ADDRESS"
LOCAL = "local"  # Executor(ray=LOCAL): start Ray on this machine
AUTO = "auto"    # Ray's own word: the cluster of $RAY_ADDRESS or the one `ray start` last started here
ADDRESS_FORMS = f"{LOCAL!r}, {AUTO!r}, HOST:PORT (e.g. 10.0.0.5:6379) or ray://HOST:PORT (Ray Client, e.g. port 10001)"
# ray.init(address=...) retries for many minutes when nothing (or something that is not Ray) answers: every
# address is tried first, by a TCP connection and then by ray.init in a child process that is killed after this.
CONNECT_TIMEOUT_S = 3.0
PROBE_TIMEOUT_S = 15.0
START_RAY = "start Ray there with `ray start --head --port=6379` and give that machine's HOST:6379"
LOCAL_WORDS = {"--ray": "`--ray` alone", RAY_ADDRESS_ENV: f"{RAY_ADDRESS_ENV}=local", "ray": f"ray={LOCAL!r}"}
PROJECT = Path(__file__).resolve().parents[1]
CACHE_ENTRIES = 8  # decoded sub-models (and shared objects) a process keeps between cells

Progress = Callable[[int, int], None]  # (cells done, cells in all)


@dataclass(frozen=True)
class Executor:
    """Where sweep cells run: ``ray=None`` in this process; ``"local"`` a Ray started here with ``num_cpus``
    workers; any other string the address of a running Ray cluster (e.g. ``"10.0.0.5:6379"`` or ``"auto"``).

    Tasks that may use a GPU ask for ``gpus_per_task`` of one when the cluster has GPUs; a task whose worker
    dies (killed, out of memory) is run again up to ``max_retries`` times."""

    ray: str | None = None
    num_cpus: int | None = None
    gpus_per_task: float = 1.0
    max_retries: int = 3

    def __post_init__(self):
        if self.ray is not None:
            check_address("ray", self.ray)
        if self.num_cpus is not None:
            check_int("num_cpus", self.num_cpus, 1)
            if self.ray != LOCAL:
                raise ValueError(f"num_cpus={self.num_cpus!r} applies only to ray={LOCAL!r} (a cluster has its own)")
        check_range("gpus_per_task", self.gpus_per_task, 0.0, 1.0, lo_open=True)
        check_int("max_retries", self.max_retries, 0)

    @classmethod
    def from_env(cls, environ=None) -> "Executor":
        """The cluster named by $INSITU_RAY_ADDRESS (``local`` starts one here), else this process."""
        address = (os.environ if environ is None else environ).get(RAY_ADDRESS_ENV, "").strip()
        return cls(ray=check_address(RAY_ADDRESS_ENV, address) if address else None)

    @classmethod
    def from_flag(cls, flag: str | None) -> "Executor":
        """The command lines' ``--ray [ADDRESS]``: absent (None) runs here, bare ``--ray`` a local Ray."""
        return cls() if flag is None else cls(ray=check_address("--ray", flag) if flag else LOCAL)

    @property
    def backend(self) -> str:
        return "serial" if self.ray is None else "ray"

    def describe(self) -> str:
        """In words, for pages and logs."""
        if self.ray is None:
            return "in this process"
        if self.ray == LOCAL:
            return f"on a Ray started on this machine ({self.num_cpus or os.cpu_count()} workers)"
        return f"on the Ray cluster at {self.ray}"


SERIAL = Executor()


def _host_port(address: str) -> tuple[str, str]:
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), port          # [::1]:6379 is an IPv6 host


def check_address(name: str, value) -> str:
    """Return ``value`` if it has the form of a Ray address (see ADDRESS_FORMS), else raise ValueError naming
    ``name`` (``ray``, ``--ray`` or ``INSITU_RAY_ADDRESS``). Whether a Ray answers there: :func:`check_reachable`."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}={value!r} must be None (this process) or a Ray address: {ADDRESS_FORMS}")
    if value in (LOCAL, AUTO):
        return value
    host, port = _host_port(value)
    if not host or not port or any(c.isspace() for c in value) or "/" in host:
        raise ValueError(f"{name}={value!r} is not a Ray address (a host and a port are needed); allowed: "
                         f"{ADDRESS_FORMS}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{name}={value!r} has port {port!r}, not a number in [1, 65535]; allowed: {ADDRESS_FORMS}")
    return value


class RayUnreachable(ValueError):
    """No Ray answers at an executor's address: nothing listens there, something that is not Ray, or too slowly."""


_ANSWERED: set[str] = set()   # addresses where a Ray answered in this process (tried once each)


def _tcp_problem(host: str, port: int, timeout_s: float) -> str | None:
    """Why a TCP connection to host:port fails, in words, or None when it opens. A thread bounds the name lookup,
    which the socket timeout does not cover."""
    result: list = []

    def attempt():
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                result.append(None)
        except ConnectionRefusedError:
            result.append(f"connection refused: nothing listens on port {port} of {host}")
        except socket.gaierror:
            result.append(f"the host name {host!r} cannot be resolved")
        except TimeoutError:
            result.append(f"no answer from {host} port {port} within {timeout_s:g} s")
        except OSError as err:
            result.append(f"{host} port {port} cannot be reached: {err.strerror or err}")

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout_s + 1.0)
    return result[0] if result else f"no answer from {host} port {port} within {timeout_s:g} s"


_PROBE = "import sys, ray\nray.init(address=sys.argv[1], log_to_driver=False)\nray.shutdown()\n"


def _ray_problem(address: str, timeout_s: float) -> str | None:
    """Why ray.init(address) fails in a child process (killed after ``timeout_s``), or None when it connects."""
    env = dict(os.environ)
    # Ray retries a GCS that refuses (e.g. a missing auth token) once a second, 20 times: fewer, so that the cause
    # comes back before the child is killed.
    env.setdefault("RAY_gcs_server_port_wait_time_s", str(max(1, int(timeout_s / 2))))
    try:
        proc = subprocess.Popen([sys.executable, "-c", _PROBE, address], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)  # its own process group: killed with anything it starts
    except OSError as err:
        return f"the connection test could not start: {err}"
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (AttributeError, OSError):
            proc.kill()
        proc.communicate()
        return f"it did not answer as a Ray cluster within {timeout_s:g} s"
    if proc.returncode == 0:
        return None
    # The first exception names the cause (e.g. an authentication error), the last what ray.init gave up with.
    errors = [line.strip() for line in err.splitlines()
              if re.match(r"^[\w.]*(Error|Exception): ", line.strip()) and "Traceback" not in line]
    said = list(dict.fromkeys([errors[0], errors[-1]])) if errors else [f"exit status {proc.returncode}"]
    return "connecting failed: " + "; ".join(e if len(e) <= 300 else e[:297] + "..." for e in said)


def check_reachable(executor: Executor, name: str = "ray", timeout_s: float | None = None) -> None:
    """Raise RayUnreachable (a ValueError) naming ``name`` and the address, with how to start Ray, unless a Ray
    answers at the executor's cluster address within about ``timeout_s`` (default PROBE_TIMEOUT_S) plus
    CONNECT_TIMEOUT_S. Nothing to check for this process or a local Ray; an address that answered once in this
    process is not tried again."""
    timeout_s = check_range("timeout_s", PROBE_TIMEOUT_S if timeout_s is None else timeout_s, 0.0, lo_open=True)
    address = executor.ray
    if address in (None, LOCAL) or address in _ANSWERED:
        return
    _ray()  # not installed: say how to install it first
    problem = None
    if address != AUTO:   # "auto" names no host: only ray.init can find the cluster
        host, port = _host_port(address)
        problem = _tcp_problem(host, int(port), CONNECT_TIMEOUT_S)
    if problem is None:
        problem = _ray_problem(address, timeout_s)
    if problem is not None:
        local = f" ({LOCAL_WORDS[name]})" if name in LOCAL_WORDS else ""
        raise RayUnreachable(f"{name}={address!r}: no Ray can be reached at this address ({problem}). To use Ray, "
                             f"{START_RAY}, or leave out the address to start a local Ray on this machine{local}.")
    _ANSWERED.add(address)


# ---------------------------------------------------------------- per-process cache (a Ray worker keeps it)

_LOCAL = threading.local()  # one cache per thread: two dashboard sessions never share a working copy


def _cache() -> OrderedDict:
    if not hasattr(_LOCAL, "cache"):
        _LOCAL.cache = OrderedDict()
    return _LOCAL.cache


def worker_cache(key, make: Callable[[], Any]):
    """The value cached under ``key`` in this process (and thread), made by ``make()`` on a miss; the least
    recently used goes first. Keys must name everything the value depends on (e.g. a weight file's sha256).
    Cells may use a cached value only in ways that leave it as they found it (a working copy is restored)."""
    cache = _cache()
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = make()
    cache[key] = value
    while len(cache) > CACHE_ENTRIES:
        cache.popitem(last=False)
    return value


def clear_cache() -> None:
    _cache().clear()


# ---------------------------------------------------------------- Ray

def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError("ray is not installed: `python -m pip install -r requirements-ray.txt` "
                         "(or run without --ray / $INSITU_RAY_ADDRESS)") from None
    return ray


def ensure_ray(executor: Executor):
    """Connect to (or start) the executor's Ray once per process; returns the ray module."""
    ray = _ray()
    if ray.is_initialized():
        return ray
    if executor.ray == LOCAL:
        # Workers of a local Ray inherit this environment: let them import the project's packages.
        path = os.environ.get("PYTHONPATH", "")
        if str(PROJECT) not in path.split(os.pathsep):
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT), path) if p)
        for attempt in range(3):  # Ray waits only 30 s for its raylet: on a saturated machine, try again
            try:
                ray.init(num_cpus=executor.num_cpus, include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
                break
            except Exception as err:  # noqa: BLE001 (ray raises a bare Exception for a start-up timeout)
                ray.shutdown()
                if attempt == 2 or "timed out during startup" not in str(err):
                    raise
    else:
        check_reachable(executor)   # ray.init alone would retry for many minutes where no Ray answers
        # A cluster gets the engine's code with the job (the packages of requirements.txt must be installed there).
        ray.init(address=executor.ray, runtime_env={"py_modules": [str(PROJECT / "core")]},
                 log_to_driver=False, configure_logging=False)
    return ray


@dataclass(frozen=True)
class Shared:
    """Big read-only objects of a sweep: values here, or Ray object references (put once) on a cluster."""

    executor: Executor
    items: dict

    def with_items(self, **objects) -> "Shared":
        """These objects added (each put into Ray's object store once)."""
        return Shared(self.executor, {**self.items, **share(self.executor, **objects).items})


def share(executor: Executor, **objects) -> Shared:
    """Make ``objects`` available to every cell: on Ray each is put into the object store once."""
    if executor.backend == "serial":
        return Shared(executor, dict(objects))
    ray = ensure_ray(executor)
    # Wrapped in a list so that Ray does not resolve them per task: a worker fetches an item when a cell first
    # asks for it and keeps it (worker_cache).
    return Shared(executor, {name: [ray.put(value)] for name, value in objects.items()})


class _Fetched(Mapping):
    """The shared items as a cell sees them on a Ray worker: fetched from the object store on first use."""

    def __init__(self, refs: dict):
        self._refs = refs

    def __getitem__(self, name):
        import ray

        ref = self._refs[name][0]
        return worker_cache(("shared", ref.hex()), lambda: ray.get(ref))

    def __iter__(self):
        return iter(self._refs)

    def __len__(self):
        return len(self._refs)


def shared_id(shared, name: str) -> str:
    """An identity of one shared item, for worker_cache keys: its object reference on Ray, else the object's id
    (a serial sweep clears the cache when it ends, so ids are never reused within it)."""
    if isinstance(shared, _Fetched):
        return shared._refs[name][0].hex()
    return f"id:{id(shared[name])}"


def _run_remote(fn, refs: dict, cell, threads: int):
    # Floating-point reductions in training depend on torch's thread count: a cell runs with the driver's count
    # unless the sweep says its cells only evaluate (``threads_per_task``), so a cluster gives bit-identical
    # results to a serial run of the same code on the same CPU.
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return fn(_Fetched(refs), cell)


def task_device() -> str:
    """The torch device a cell should use: ``cuda`` when Ray gave this task a GPU, else ``cpu``."""
    try:
        import ray

        if ray.is_initialized() and ray.get_gpu_ids():
            return "cuda"
    except (ImportError, RuntimeError):
        pass
    return "cpu"


# ---------------------------------------------------------------- running a sweep

def iter_results(fn: Callable, cells: Sequence, shared: Shared | dict | None = None,
                 executor: Executor | None = None, progress: Progress | None = None,
                 gpu: bool = False, threads_per_task: int | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, fn(shared, cells[index]))`` in the order of ``cells``, each as soon as it and every cell
    before it are done (so a caller that commits results as they come leaves a prefix behind if stopped).

    ``progress(done, total)`` is called after every finished cell. ``gpu=True`` is for cells that run their
    torch work on ``task_device()``: on a cluster with GPUs each asks for ``gpus_per_task`` of one. (The library
    and Fig. 3 cells do not ask yet: the engine's working copy evaluates on the CPU, and an unused GPU request
    would only limit how many cells run at once.) The first failing cell raises its exception here.

    ``threads_per_task``: torch threads of each remote cell (default: the driver's count, which keeps training
    cells bit-identical to a serial run). Cells that only evaluate may pass 1, so that one worker per core runs
    in parallel: inference outputs of this engine do not depend on the thread count (the serial-vs-Ray identity
    test of the library's BER grid checks it)."""
    executor = SERIAL if executor is None else executor
    if not isinstance(executor, Executor):
        raise ValueError(f"executor={executor!r} must be a core.sweep.Executor")
    if not callable(fn) or getattr(fn, "__qualname__", "").count("<locals>"):
        raise ValueError(f"fn={fn!r} must be a module-level function (it is sent to workers by name)")
    cells = list(cells)
    if shared is None:
        shared = share(executor)
    elif isinstance(shared, dict):
        shared = share(executor, **shared)
    if not isinstance(shared, Shared) or shared.executor.backend != executor.backend:
        raise ValueError("shared must come from core.sweep.share() with the same executor")
    total = len(cells)
    if executor.backend == "serial":
        try:
            for i, cell in enumerate(cells):
                result = fn(shared.items, cell)
                if progress:
                    progress(i + 1, total)
                yield i, result
        finally:
            clear_cache()  # this process is no worker: free decoded sub-models once the sweep is over
        return
    if threads_per_task is not None:
        check_int("threads_per_task", threads_per_task, 1)
    yield from _iter_ray(fn, cells, shared, executor, progress, gpu, threads_per_task)


def _iter_ray(fn, cells, shared: Shared, executor: Executor, progress, gpu: bool, threads_per_task: int | None):
    ray = ensure_ray(executor)
    options = {"max_retries": executor.max_retries, "retry_exceptions": False}
    if gpu and ray.cluster_resources().get("GPU", 0) > 0:
        options["num_gpus"] = executor.gpus_per_task
    remote = ray.remote(_run_remote).options(**options)
    import torch

    threads = torch.get_num_threads() if threads_per_task is None else threads_per_task
    pending = {remote.remote(fn, shared.items, cell, threads): i for i, cell in enumerate(cells)}
    done: dict[int, Any] = {}
    next_index = 0
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                done[pending.pop(ref)] = ray.get(ref)
                if progress:
                    progress(len(cells) - len(pending), len(cells))
            while next_index in done:
                yield next_index, done.pop(next_index)
                next_index += 1
    finally:
        for ref in pending:  # stopped early (error, interrupt): do not leave work running on the cluster
            ray.cancel(ref, force=False)


def run(fn: Callable, cells: Sequence, shared: Shared | dict | None = None, executor: Executor | None = None,
        progress: Progress | None = None, gpu: bool = False, threads_per_task: int | None = None) -> list:
    """All results of a sweep, in the order of ``cells``."""
    return [result for _, result in iter_results(fn, cells, shared, executor, progress, gpu, threads_per_task)]


def tqdm_progress(desc: str, unit: str = "cell") -> tuple[Progress, Callable[[], None]]:
    """A progress callback drawing a tqdm bar (command lines), and the function that closes the bar."""
    from tqdm.auto import tqdm

    bar = tqdm(desc=desc, unit=unit)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close

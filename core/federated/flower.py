"""Federated improvement of a library entry on Flower's simulation (ServerApp/ClientApp on the Ray backend).

``improve(entry, data, config, seed)``: ``config.devices`` simulated devices, each with a non-IID share of the
training photos (partition.py), hold the entry. Each round the server sends its model; every device trains
``local_steps`` steps keeping the entry's compression and sends its update as ``update_bits`` codes; Flower's
FedAvg averages the updates weighted by photos; the server adds the average to its model. The version a device
would download after a round is that model projected onto the entry's compression (codes on their grid, pruned
weights zero): it is what is scored on the test photos and returned. Seeded: the same seed gives the same rounds.

The server keeps its model in full precision between rounds (as quantisation-aware training keeps latent
weights), so that steps smaller than a grid step add up over rounds; what it sends down each round is that
model (not counted here); what devices send up is counted to the bit.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from core.compress.combine import SubModel
from core.compress.common import transmitted_state
from core.federated.config import FederatedConfig
from core.federated.local import (Compression, device_data, device_seed, load_version, local_update,
                                  scoring_data, without_photos)
from core.federated.partition import class_counts, partition
from core.model.evaluate import accuracy
from core.model.splits import DataSplits
from core.validation import check_bool, check_int

# Flower reports usage to its makers unless told not to: this engine must work offline and ask nothing of the net.
os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")

PARTITION_KEY = "partition-id"  # Flower's node_config key of a simulated device's number (0..devices-1)
WEIGHT_KEY = "num-examples"     # FedAvg weights each update by this metric: the device's photos
BITS_KEY = "uplink-bits"


def flower_missing() -> str | None:
    """Why Flower's simulation cannot run here (None when it can): ``flwr`` and Ray importable. Flower 1.42 runs on
    the project's Ray 2.60 (tested); its ``[simulation]`` extra only pins ray==2.55.1, so install flwr without it."""
    try:
        import flwr.simulation  # noqa: F401
        import ray  # noqa: F401
        from flwr.serverapp.strategy import FedAvg  # noqa: F401
    except ImportError as err:
        return f"Flower's simulation is not installed ({err}); pip install flwr==1.42.0 (without the [simulation] extra, which pins an older Ray)"
    return None


@dataclass(frozen=True)
class RoundUpdates:
    """What the server received in one round, by device number (kept only when asked: for tests)."""

    server_round: int
    devices: tuple[int, ...]
    photos: tuple[int, ...]
    updates: tuple[dict, ...]              # per device: tensor name -> update as received (numpy float32)
    start: dict = field(compare=False, default_factory=dict)      # the server model the round began from
    aggregate: dict = field(compare=False, default_factory=dict)  # Flower's FedAvg of the updates


@dataclass(frozen=True)
class FederatedResult:
    """Accuracy per round on the test photos (index 0: the entry as downloaded), uplink bits per round and device,
    the devices' photos and class counts, seconds, and the improved version's weights (on the entry's grid)."""

    config: FederatedConfig
    seed: int
    accuracy: tuple[float, ...]
    uplink_bits: np.ndarray = field(compare=False)        # rounds x devices
    photos: tuple[int, ...] = ()
    classes: np.ndarray = field(compare=False, default=None)  # devices x classes: photos of each class
    test_images: int = 0
    seconds: float = 0.0
    round_seconds: tuple[float, ...] = ()   # each round's wall time (round 1 includes the devices' start-up)
    state: dict = field(compare=False, default_factory=dict)   # the improved version (projected)
    latent: dict = field(compare=False, default_factory=dict)  # the server's full-precision model
    rounds: tuple[RoundUpdates, ...] = field(compare=False, default=())

    @property
    def uplink_bits_per_round(self) -> np.ndarray:
        return self.uplink_bits.sum(axis=1)

    def uplink_seconds(self, rate_bps: float) -> np.ndarray:
        """Seconds each device's update takes at an uplink rate (bit/s), rounds x devices."""
        if not rate_bps > 0:
            raise ValueError(f"rate_bps={rate_bps!r} must be a positive rate in bit/s")
        return self.uplink_bits / float(rate_bps)

    def table(self):
        import pandas as pd

        bits = [0] + [int(b) for b in self.uplink_bits_per_round]
        return pd.DataFrame({"round": range(len(self.accuracy)), "accuracy": self.accuracy, "uplink_bits": bits})


class _Run:
    """What the ServerApp thread hands back to ``improve``."""

    def __init__(self):
        self.accuracy: dict[int, float] = {}
        self.bits: dict[int, dict[int, int]] = {}
        self.rounds: list[RoundUpdates] = []
        self.stamps: dict[int, float] = {}
        self.latent: dict | None = None
        self.state: dict | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def _numpy(record) -> dict[str, np.ndarray]:
    return {k: np.asarray(v.numpy(), dtype=np.float32) for k, v in record.items()}


def _strategy(config: FederatedConfig, run: _Run, keep_updates: bool):
    from flwr.app import ArrayRecord
    from flwr.serverapp.strategy import FedAvg

    class KeepingFedAvg(FedAvg):
        """Flower's FedAvg over the devices' updates (weighted by photos, in device order so that sums are
        reproducible), added to the server's model."""

        def configure_train(self, server_round, arrays, config_record, grid):
            self._start = _numpy(arrays)
            return super().configure_train(server_round, arrays, config_record, grid)

        def aggregate_train(self, server_round, replies):
            replies = list(replies)
            failed = [m for m in replies if m.has_error()]
            if failed:
                raise RuntimeError(f"round {server_round}: {len(failed)} device(s) failed: {failed[0].error.reason}")
            replies.sort(key=lambda m: int(m.content["metrics"][PARTITION_KEY]))
            agg, metrics = super().aggregate_train(server_round, replies)
            aggregate = _numpy(agg)
            latent = {k: (self._start[k] + aggregate[k]).astype(np.float32) for k in self._start}
            run.bits[server_round] = {int(m.content["metrics"][PARTITION_KEY]): int(m.content["metrics"][BITS_KEY])
                                      for m in replies}
            if keep_updates:
                run.rounds.append(RoundUpdates(
                    server_round, tuple(int(m.content["metrics"][PARTITION_KEY]) for m in replies),
                    tuple(int(m.content["metrics"][WEIGHT_KEY]) for m in replies),
                    tuple(_numpy(m.content["arrays"]) for m in replies), dict(self._start), aggregate))
            run.latent = latent
            run.stamps[server_round] = time.perf_counter()
            return ArrayRecord({k: torch.from_numpy(v) for k, v in latent.items()}), metrics

    return KeepingFedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=config.devices,
                         min_available_nodes=config.devices, weighted_by_key=WEIGHT_KEY)


# ---------- the device side (runs in Ray workers) ----------

_CACHE: dict = {}


def _fetch(ref):
    """A Ray object once per worker process (the entry, the devices' photos)."""
    import ray

    key = ref.hex()
    if key not in _CACHE:
        if len(_CACHE) > 64:
            _CACHE.clear()
        _CACHE[key] = ray.get(ref)
    return _CACHE[key]


def _device_train(msg, context, shared_ref, photo_refs, config: FederatedConfig, seed: int):
    import copy

    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict

    torch.set_num_threads(1)  # one CPU per device (client_resources); also keeps a device's sums reproducible
    device = int(context.node_config[PARTITION_KEY])
    shared = _fetch(shared_ref)
    x, y = _fetch(photo_refs[device])
    data = device_data(shared["meta"], torch.from_numpy(x), torch.from_numpy(y))
    start = {k: torch.from_numpy(np.array(v.numpy(), dtype=np.float32)) for k, v in msg.content["arrays"].items()}
    server_round = int(msg.content["config"]["server-round"])
    module = copy.deepcopy(shared["module"])
    update, bits = local_update(module, start, shared["compression"], data, config,
                                device_seed(seed, server_round, device))
    content = RecordDict({"arrays": ArrayRecord(update),
                          "metrics": MetricRecord({WEIGHT_KEY: int(len(y)), PARTITION_KEY: device, BITS_KEY: bits})})
    return Message(content=content, reply_to=msg)


# ---------- the run ----------

def improve(entry: SubModel, data: DataSplits, config: FederatedConfig, seed: int = 0, *,
            keep_updates: bool = False, progress=None, ray_address: str | None = None) -> FederatedResult:
    """Improve ``entry`` (a SubModel: generated, or loaded from a library) by federated rounds on Flower's
    simulation with the Ray backend: a local Ray of ``config.cpus`` CPUs (one device per CPU at a time), or the
    running Ray cluster at ``ray_address`` (e.g. "10.0.0.5:6379" or "auto"; its nodes need requirements-ray.txt).

    ``data``: the root's photos; their training split is shared among the devices (partition.py), the test split
    scores every round. ``keep_updates`` keeps every update the server received (tests compare them with an
    independent FedAvg). ``progress``: called once per round, round 0 (the entry as downloaded) included, with
    a dict {"round", "accuracy", "uplink_bits" (per device; empty for round 0), "seconds" (since the start)}.
    Flower shuts Ray down at the end of its simulation."""
    if not isinstance(entry, SubModel):
        raise ValueError(f"entry={entry!r} must be a SubModel (core.compress.combine.generate or "
                         f"Library.load_submodel), not {type(entry).__name__}")
    if not isinstance(data, DataSplits):
        raise ValueError(f"data={data!r} must be a DataSplits (core.model.data), not {type(data).__name__}")
    if not isinstance(config, FederatedConfig):
        raise ValueError(f"config={config!r} must be a FederatedConfig, not {type(config).__name__}")
    check_int("seed", seed, 0)
    check_bool("keep_updates", keep_updates)
    if progress is not None and not callable(progress):
        raise ValueError(f"progress={progress!r} must be a function of one dict, or None")
    from core.sweep import LOCAL, Executor, ensure_ray

    executor = Executor(LOCAL, num_cpus=config.cpus) if ray_address is None else Executor(ray=ray_address)
    missing = flower_missing()
    if missing:
        raise RuntimeError(missing)
    from flwr.app import ArrayRecord, MetricRecord
    from flwr.clientapp import ClientApp
    from flwr.serverapp import ServerApp
    from flwr.simulation import run_simulation

    started = time.perf_counter()
    labels = data.y_train.numpy()
    shares = partition(labels, config, seed)
    compression = Compression.of(entry)
    module = load_version(entry, transmitted_state(entry.module))
    initial = {k: v.detach().float().clone() for k, v in transmitted_state(module).items()}

    ray = ensure_ray(executor)
    shared_ref = ray.put({"module": module, "compression": compression, "meta": without_photos(data)})
    photo_refs = [ray.put((data.x_train[torch.as_tensor(s)].numpy(), data.y_train[torch.as_tensor(s)].numpy()))
                  for s in shares]

    client_app = ClientApp()

    @client_app.train()
    def _train(msg, context):
        return _device_train(msg, context, shared_ref, photo_refs, config, seed)

    run = _Run()
    scored = scoring_data(data, config.eval_limit)

    def evaluate(server_round, arrays):
        state = compression.project({k: torch.from_numpy(v) for k, v in _numpy(arrays).items()})
        acc = accuracy(load_version(entry, state), scored, "test")
        run.accuracy[server_round] = acc
        run.state = state
        if progress is not None:
            sent = run.bits.get(server_round, {})
            progress({"round": int(server_round), "accuracy": float(acc),
                      "uplink_bits": [int(sent[d]) for d in sorted(sent)],
                      "seconds": round(time.perf_counter() - started, 3)})
        return MetricRecord({"accuracy": acc})

    server_app = ServerApp()

    @server_app.main()
    def _main(grid, context):
        try:
            run.stamps[0] = time.perf_counter()
            _strategy(config, run, keep_updates).start(grid=grid, initial_arrays=ArrayRecord(initial),
                                                         num_rounds=config.rounds, evaluate_fn=evaluate)
        except BaseException as err:  # handed to improve(): Flower's thread would only log it
            run.error = err
            raise
        finally:
            run.done.set()

    backend_config = {"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                      "init_args": {"num_cpus": config.cpus, "include_dashboard": False}}
    try:
        run_simulation(server_app=server_app, client_app=client_app, num_supernodes=config.devices,
                       backend_name="ray", backend_config=backend_config)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    if run.error is not None:
        raise RuntimeError(f"the federated run failed: {run.error}") from run.error
    if len(run.bits) != config.rounds or run.state is None:
        raise RuntimeError(f"the federated run ended after {len(run.bits)} of {config.rounds} rounds")
    bits = np.array([[run.bits[r][d] for d in range(config.devices)] for r in range(1, config.rounds + 1)],
                    dtype=np.int64)
    round_seconds = tuple(round(run.stamps[r] - run.stamps[r - 1], 3) for r in range(1, config.rounds + 1))
    test_images = len(scored.y_test)
    return FederatedResult(
        config=config, seed=seed, accuracy=tuple(run.accuracy[r] for r in range(config.rounds + 1)),
        uplink_bits=bits, photos=tuple(len(s) for s in shares),
        classes=class_counts(labels, shares, data.num_classes), test_images=test_images,
        seconds=round(time.perf_counter() - started, 3), round_seconds=round_seconds,
        state=run.state, latent={k: torch.from_numpy(v) for k, v in (run.latent or {}).items()},
        rounds=tuple(run.rounds))

"""Noticing the mismatch: a device classifies real test photos where it is, with the situation model it holds; when
its place's situation changes, the held model no longer fits, its confidence falls, and a drift detector of river
(core.situation.drift) triggers the download of the model for where it is. ``mismatch(config, seed)`` compares four
ways of switching models on the same simulated users and the same photos: location prediction alone, the detector
alone, prediction with the detector as fallback, and the oracle.

What the device sees and runs (decided here, said on screen):

- **The exit**: the held situation model's deepest exit (exit 4, the whole model on the device); the confidence
  is its largest softmax probability per photo.
- **Photos**: one every ``photo_interval_s`` seconds while the user's application needs a model (at a place, or
  driving); a walker between places takes none. Each photo is a real test photo of the situation where the user
  is, drawn with replacement from a fixed pool per situation (``ConfidencePools``): the held model's confidence
  on every pool photo is computed once, so streams for hundreds of users only draw indices (numpy Generator).
- **Photos of another root** (handwritten digits at a place whose held model is a CIFAR-10 photo model, or the
  reverse): the camera's picture is converted to what the held model takes (``as_seen_by``): the digits, ink on
  paper, become a bright page with dark strokes, resized to 32x32 and the same grey in all three channels; a
  colour photo becomes its grey (ITU-R BT.601 luma) as ink, averaged down to 8x8. The model answers among its own
  classes, so every such answer is wrong.
- **Switching**: each way switches the moment it decides; the download's own time is left out here (the
  simulation's policies count it). The detector is fresh after every switch and after every alarm.
- **A trigger** asks the network for the model of the device's current situation (known to the network from the
  place); it is *true* when the held model was not that one, *false* otherwise (nothing is downloaded then).
"""
from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from core.mobility.simulate import ScenarioConfig, SimulationResult, scenario, simulate
from core.model.evaluate import fast_layout
from core.model.models import NUM_STAGES, BackboneNet
from core.model.splits import DataSplits
from core.situation.drift import DetectorConfig, make_detector
from core.situation.situations import SITUATIONS, sample_photos, situation, situation_photos
from core.validation import check_choice, check_int, check_range

EXIT = NUM_STAGES   # the exit whose confidence the device watches: the deepest (the whole situation model)
POOL_BATCH = 128

# The four ways of switching models, in the order shown: (label, uses the predictions, uses the detector).
WAYS: MappingProxyType = MappingProxyType({
    "prediction": ("location prediction alone", True, False),
    "detector": ("the detector alone", False, True),
    "prediction_and_detector": ("prediction, the detector as fallback", True, True),
    "oracle": ("oracle (switches at every change)", False, False),
})
FIXED_AT_CHANGE, FIXED_BY_DETECTOR, NOT_FIXED = "at the change", "by the detector", "not while it lasted"


# The camera: one root's picture as another root's input ------------------------------------------------------------

def as_seen_by(x: torch.Tensor, source: DataSplits, target: DataSplits) -> torch.Tensor:
    """Raw pictures of ``source`` (N x C x H x W in its raw units) as ``target``'s model takes them, in target's raw
    units (float). One-channel data are read as ink maps (scikit-learn's digits: 0 blank paper, ``scale`` full
    ink), three-channel data as colour photos (brightness); between them the picture is inverted (ink = 1 -
    brightness), grey goes to every colour channel and colour to its BT.601 luma, and the size is resampled
    (bilinear up, area average down). The same layout is only rescaled and resampled."""
    if x.dim() != 4:
        raise ValueError(f"x must be N x C x H x W pictures, got a tensor of {x.dim()} dimensions")
    c_in, c_out = source.input_shape[0], target.input_shape[0]
    if x.shape[1] != c_in:
        raise ValueError(f"x has {x.shape[1]} channels but source data {source.name!r} has {c_in}")
    if {c_in, c_out} - {1, 3}:
        raise ValueError(f"pictures of {c_in} channels cannot be shown to a model of {c_out} (only 1 and 3)")
    v = x.float() / source.scale                                   # [0, 1]
    if c_in == 3 and c_out == 1:
        luma = (0.299 * v[:, 0] + 0.587 * v[:, 1] + 0.114 * v[:, 2]).unsqueeze(1)
        v = 1.0 - luma                                             # brightness to ink
    elif c_in == 1 and c_out == 3:
        v = (1.0 - v).expand(-1, 3, -1, -1)                        # ink to brightness, grey in every channel
    size = tuple(target.input_shape[1:])
    if tuple(v.shape[2:]) != size:
        if size[0] >= v.shape[2]:
            v = F.interpolate(v, size=size, mode="bilinear", align_corners=False)
        else:
            v = F.adaptive_avg_pool2d(v, size)
    return v.clamp(0.0, 1.0) * target.scale


# Confidence pools ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ConfidencePools:
    """Per (held situation model, situation where the photos come from): the held model's confidence at ``exit``
    on each pool photo of that situation and whether its answer was right. ``photos[s]`` are the test-split
    indices (in its root's data) of situation s's pool, in pool order; ``situations`` fixes the index order.
    Shared read-only (plain dicts, so that it pickles)."""

    situations: tuple[str, ...]
    exit: int
    photos: Mapping[str, np.ndarray]
    confidence: Mapping[tuple[str, str], np.ndarray]
    correct: Mapping[tuple[str, str], np.ndarray]
    seconds: float = 0.0

    def index(self, name: str) -> int:
        check_choice("situation", name, self.situations)
        return self.situations.index(name)

    def table(self) -> pd.DataFrame:
        """Mean confidence and accuracy per (held model, photos' situation): how much the held model notices."""
        rows = [{"held": h, "photos_from": s, "photos": len(self.photos[s]),
                 "mean_confidence": float(self.confidence[h, s].mean()),
                 "accuracy": float(self.correct[h, s].mean())}
                for h in self.situations for s in self.situations]
        return pd.DataFrame(rows)

    def padded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(confidence, correct) as (held, source, photo) arrays padded with NaN / False, and each pool's size."""
        n = len(self.situations)
        sizes = np.array([len(self.photos[s]) for s in self.situations])
        conf = np.full((n, n, int(sizes.max())), np.nan)
        right = np.zeros((n, n, int(sizes.max())), bool)
        for i, h in enumerate(self.situations):
            for j, s in enumerate(self.situations):
                conf[i, j, :sizes[j]] = self.confidence[h, s]
                right[i, j, :sizes[j]] = self.correct[h, s]
        return conf, right, sizes


def _backbone_key(model: BackboneNet, exit: int) -> str:
    """sha256 of the stem and the stages before ``exit``: situation models fine-tuned in their heads only share
    the root's backbone, so its features are computed once for all of them."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith("stem.") or any(name.startswith(f"stages.{k}.") for k in range(exit)):
            t = tensor.detach().cpu().contiguous()
            h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _as_backbone(value) -> BackboneNet:
    model = getattr(value, "model", value)   # a SituationModel or its BackboneNet
    if not isinstance(model, BackboneNet):
        raise ValueError(f"models values must be SituationModels or BackboneNets, not {type(value).__name__}")
    return model


@torch.no_grad()
def build_pools(models: Mapping[str, object], data: Mapping[str, DataSplits], photos: int = 500, seed: int = 0,
                exit: int = EXIT) -> ConfidencePools:
    """Confidence pools of every held model in ``models`` (situation name -> its SituationModel or BackboneNet,
    whose exits answer among the situation's classes) on up to ``photos`` test photos of every situation in
    ``models`` (a seeded random draw: ``sample_photos``; all of them when it has fewer). ``data`` maps each root's
    checkpoint name to its data (core.model.data.load_for_card)."""
    check_int("photos", photos, 1)
    check_int("seed", seed, 0)
    check_int("exit", exit, 1, NUM_STAGES)
    if not isinstance(models, Mapping) or len(models) < 2:
        raise ValueError(f"models must map at least two situation names to their models, got {models!r}"[:300])
    names = tuple(models)
    for name in names:
        sit = situation(name)
        if sit.root not in data:
            raise ValueError(f"data has no data set for root {sit.root!r} (situation {name!r}); it has "
                             f"{sorted(data)}")
    nets = {n: _as_backbone(models[n]) for n in names}
    for n, net in nets.items():
        if net.num_classes != len(situation(n).classes):
            raise ValueError(f"models[{n!r}] answers {net.num_classes} classes, situation {n!r} has "
                             f"{len(situation(n).classes)}: give the situation model (core.situation.library)")
    started = time.perf_counter()
    pool = {}
    for s in names:
        sit = situation(s)
        available = len(situation_photos(sit, data[sit.root]))
        pool[s] = np.sort(sample_photos(sit, data[sit.root], min(photos, available), seed))
    groups: dict[tuple[str, str], list[str]] = {}
    for h in names:
        groups.setdefault((situation(h).root, _backbone_key(nets[h], exit)), []).append(h)
    confidence, correct = {}, {}
    modes = {n: net.training for n, net in nets.items()}
    try:
        for net in nets.values():
            net.eval()
        for s in names:
            src_data = data[situation(s).root]
            idx = torch.from_numpy(pool[s])
            truth = [src_data.classes[int(y)] for y in src_data.y_test[idx]]
            for (root, _), held in groups.items():
                tgt_data = data[root]
                backbone = nets[held[0]]
                feats = []
                for start in range(0, len(idx), POOL_BATCH):
                    raw = as_seen_by(src_data.x_test[idx[start:start + POOL_BATCH]], src_data, tgt_data)
                    feats.append(backbone.features(fast_layout(tgt_data.normalise(raw)), exit))
                feat = torch.cat(feats)
                for h in held:
                    probs = torch.softmax(nets[h].exits[exit - 1](feat).float(), dim=1)
                    conf, pred = probs.max(dim=1)
                    classes = situation(h).classes
                    confidence[h, s] = conf.double().numpy()
                    correct[h, s] = np.array([classes[int(p)] == t for p, t in zip(pred, truth)])
    finally:
        for n, net in nets.items():
            net.train(modes[n])
    return ConfidencePools(names, exit, pool, confidence, correct, time.perf_counter() - started)


def pools_identity(names: Sequence[str], photos: int, seed: int, exit: int) -> dict:
    """What a set of pools of the shipped situation models depends on, as plain values: the situations in order,
    photos per situation, seed, exit, and the sha256 of every situation model's weight file and of its root's.
    A pools file is used only when it was made for exactly this."""
    from core.model.models import ASSETS
    from core.network.library.weights import sha256_file
    from core.situation.library import model_path

    files = {}
    for name in names:
        for path in (model_path(name), ASSETS / f"{situation(name).root}.safetensors"):
            if path.name not in files:
                files[path.name] = sha256_file(path) if path.is_file() else "missing"
    return {"situations": list(names), "photos": int(photos), "seed": int(seed), "exit": int(exit),
            "files": dict(sorted(files.items()))}


def save_pools(pools: ConfidencePools, identity: dict, path) -> int:
    """Write ``pools`` and the ``identity`` they were made for to ``path`` (numpy .npz, no pickled objects),
    atomically (a temporary file, then renamed). Returns the file's size in bytes."""
    import json
    from pathlib import Path

    path = Path(path)
    arrays = {"identity": np.array(json.dumps(identity, sort_keys=True))}
    for i, s in enumerate(pools.situations):
        arrays[f"photos_{i}"] = np.asarray(pools.photos[s], dtype=np.int64)
        for j, h in enumerate(pools.situations):
            arrays[f"confidence_{j}_{i}"] = np.asarray(pools.confidence[h, s], dtype=np.float64)
            arrays[f"correct_{j}_{i}"] = np.asarray(pools.correct[h, s], dtype=bool)
    import io

    from core.network.library.weights import write_atomic

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic(buffer.getvalue(), path)
    return path.stat().st_size


def load_pools(identity: dict, path) -> tuple[ConfidencePools | None, str]:
    """(pools, "") from the pools file at ``path`` when it was made for ``identity``; else (None, why in words): no
    file, a damaged one (named), or one made for other models, photos, seed or exit. Never unpickles."""
    import json
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        return None, f"no pools file {path.name}"
    started = time.perf_counter()
    try:
        with np.load(path, allow_pickle=False) as z:
            stored = json.loads(str(z["identity"]))
            if stored != json.loads(json.dumps(identity, sort_keys=True)):
                return None, f"{path.name} was made for other models or settings"
            names = tuple(stored["situations"])
            photos = {s: z[f"photos_{i}"] for i, s in enumerate(names)}
            confidence = {(h, s): z[f"confidence_{j}_{i}"] for i, s in enumerate(names) for j, h in enumerate(names)}
            correct = {(h, s): z[f"correct_{j}_{i}"] for i, s in enumerate(names) for j, h in enumerate(names)}
    except Exception as err:  # noqa: BLE001 (zipfile.BadZipFile and others: a damaged file is said, never raised)
        return None, f"{path.name} is damaged ({type(err).__name__}: {err})"
    for (h, s), conf in confidence.items():
        if conf.shape != photos[s].shape or correct[h, s].shape != photos[s].shape:
            return None, f"{path.name} is damaged (pool {h} on {s} has the wrong length)"
    return ConfidencePools(names, int(stored["exit"]), photos, confidence, correct,
                           time.perf_counter() - started), ""


def shipped_pools(photos: int = 500, seed: int = 0, exit: int = EXIT,
                  situations: Sequence[str] | None = None, use_file: bool = True) -> ConfidencePools:
    """Pools of the shipped situation models (assets/situations/, core.situation.library.load_shipped) on their
    roots' shipped data; every registered situation by default. Read from the shipped pools file
    (``POOLS_FILE``, made by ``python -m core.situation.mismatch``) when it was made for exactly these models and
    settings (``pools_identity``), else measured (5-60 s on 2 cores)."""
    from core.model.data import load_for_card
    from core.model.models import ASSETS, load_checkpoint
    from core.situation.library import load_shipped

    names = tuple(situations) if situations is not None else tuple(SITUATIONS)
    if use_file:
        pools, _ = load_pools(pools_identity(names, photos, seed, exit), pools_file())
        if pools is not None:
            return pools
    roots, data, models = {}, {}, {}
    for name in names:
        root_name = situation(name).root
        if root_name not in roots:
            checkpoint = ASSETS / f"{root_name}.safetensors"
            roots[root_name], card = load_checkpoint(checkpoint)
            data[root_name] = load_for_card(card, checkpoint)
        models[name] = load_shipped(name, roots[root_name])
    return build_pools(models, data, photos, seed, exit)


def pools_file():
    """The shipped pools file: every situation model on 500 test photos of every situation, seed 0, exit 4."""
    from core.situation.library import SITUATION_MODELS

    return SITUATION_MODELS / "confidence_pools.npz"


SHIPPED_POOL_PHOTOS, SHIPPED_POOL_SEED = 500, 0   # what the shipped pools file holds (the app and the benchmark)


def write_shipped_pools() -> str:
    """Measure the shipped pools afresh and write the pools file; returns what was done, in words."""
    names = tuple(SITUATIONS)
    pools = shipped_pools(SHIPPED_POOL_PHOTOS, SHIPPED_POOL_SEED, EXIT, names, use_file=False)
    size = save_pools(pools, pools_identity(names, SHIPPED_POOL_PHOTOS, SHIPPED_POOL_SEED, EXIT), pools_file())
    return (f"wrote {pools_file()} ({size / 1e3:.0f} kB): {len(names)} situation models x {len(names)} situations' "
            f"pools of up to {SHIPPED_POOL_PHOTOS} test photos, measured in {pools.seconds:.1f} s")


# Timelines -----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Timelines:
    """Where every user is, as situations over time, and what the location prediction got right.

    ``segments``: rows (user, start_s, end_s, context), per user contiguous from 0 to ``duration_s``; context is a
    situation name, or "" where the application needs no model (a walker between places). ``predicted``: rows
    (user, time_s, context) of the changes whose model the predictive policy fetched ahead, from a right guess;
    every other change goes unnoticed by prediction. ``wasted``: per user, downloads of wrongly guessed models."""

    n_users: int
    duration_s: float
    segments: pd.DataFrame
    predicted: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        {"user": pd.Series(dtype=np.int64), "time_s": pd.Series(dtype=float), "context": pd.Series(dtype=object)}))
    wasted: np.ndarray | None = None

    def __post_init__(self):
        check_int("n_users", self.n_users, 1)
        check_range("duration_s", self.duration_s, 0, None, lo_open=True)
        for name, cols in (("segments", ("user", "start_s", "end_s", "context")),
                           ("predicted", ("user", "time_s", "context"))):
            frame = getattr(self, name)
            missing = [c for c in cols if c not in getattr(frame, "columns", ())]
            if missing:
                raise ValueError(f"{name} lacks columns {missing}; it needs {list(cols)}")
        seg = self.segments.sort_values(["user", "start_s"], kind="stable").reset_index(drop=True)
        users = seg["user"].to_numpy()
        if len(seg) == 0 or users.min() < 0 or users.max() >= self.n_users:
            raise ValueError(f"segments must cover users 0..{self.n_users - 1}; it covers "
                             f"{sorted(set(users.tolist()))[:10]}")
        first = np.r_[True, users[1:] != users[:-1]]
        last = np.r_[users[1:] != users[:-1], True]
        start, end = seg["start_s"].to_numpy(float), seg["end_s"].to_numpy(float)
        gaps = (~first) & ~np.isclose(start, np.r_[np.nan, end[:-1]])
        if (start[first] != 0).any() or not np.allclose(end[last], self.duration_s) or gaps.any() or \
                (end <= start).any() or len(np.unique(users)) != self.n_users:
            raise ValueError(f"segments must cover [0, duration_s={self.duration_s}) for every user without gaps "
                             "or overlaps, each of positive length")
        object.__setattr__(self, "segments", seg)
        if self.wasted is not None:
            wasted = np.asarray(self.wasted)
            if wasted.shape != (self.n_users,) or (wasted < 0).any():
                raise ValueError(f"wasted must hold one count >= 0 per user ({self.n_users}), got shape "
                                 f"{wasted.shape}")

    @classmethod
    def from_stays(cls, stays: Sequence[Sequence[tuple[str, float]]],
                   predicted: Sequence[tuple[int, float, str]] = ()) -> "Timelines":
        """Timelines from each user's stays in order, as (context, seconds); all users' stays must add up to the
        same duration. ``predicted``: (user, time_s, context) of the changes prediction got right."""
        rows, totals = [], []
        for user, user_stays in enumerate(stays):
            t = 0.0
            for context, seconds in user_stays:
                check_range(f"stays[{user}] seconds", seconds, 0, None, lo_open=True)
                rows.append((user, t, t + float(seconds), context))
                t += float(seconds)
            totals.append(t)
        if not rows or not np.allclose(totals, totals[0]):
            raise ValueError(f"stays must be non-empty and last equally long for every user, got {totals}")
        seg = pd.DataFrame(rows, columns=["user", "start_s", "end_s", "context"])
        pred = pd.DataFrame(list(predicted), columns=["user", "time_s", "context"]).astype(
            {"user": np.int64, "time_s": float})
        return cls(len(stays), totals[0], seg, pred)


def timelines_from_simulation(result: SimulationResult) -> Timelines:
    """The simulated users' situations (the context each needs) and the predictive policy's right guesses."""
    if result.context_timeline is None:
        raise ValueError("result has no context_timeline: simulate it with core.mobility.simulate.simulate")
    if "predictive" not in result.config.policies:
        raise ValueError(f"result.config.policies={result.config.policies!r} lacks 'predictive': the prediction "
                         "ways need its downloads")
    ev = result.events[result.events["policy"] == "predictive"]
    right = ev[ev["predicted"].astype(bool)]
    predicted = pd.DataFrame({"user": right["user"].to_numpy(np.int64), "time_s": right["t_need_s"].to_numpy(float),
                              "context": right["context"].to_numpy(object)})
    waste = result.waste[(result.waste["policy"] == "predictive") & ~result.waste["after_window"].astype(bool)]
    wasted = np.bincount(waste["user"].to_numpy(np.int64), minlength=result.config.n_users)
    return Timelines(result.config.n_users, result.config.duration_s, result.context_timeline, predicted, wasted)


# Config and result -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MismatchConfig:
    """What a comparison depends on besides the seed: the mobility scenario (its predictive policy gives the
    predictions), how often a device takes a photo, the detector, and the photo pools (photos per situation and
    the seed that draws them; exit ``EXIT``). ``percentile``: the upper percentile reported beside the median."""

    scenario: ScenarioConfig = field(default_factory=lambda: scenario("routine"))
    photo_interval_s: float = 2.0
    # Page-Hinkley watching a fall, not ADWIN (drift.py's default kind). Measured with bench/bench_mismatch.py
    # (routine scenario, 200 users, 1 h, seed 0, 500 photos per situation, a photo every 2 s): the detector alone
    # caught 361 of the 482 changes that left a wrong model (ADWIN 175 of 431), 22 % of photos answered by a wrong
    # model (ADWIN 40 %), 0.08 false triggers per user-hour (ADWIN 0.13); as prediction's fallback 0.8 % wrong-
    # model photos (ADWIN 2.6 %, prediction alone 5.2 %) for 0.15 false triggers per user-hour (ADWIN 0.025).
    detector: DetectorConfig = DetectorConfig("page_hinkley")
    pool_photos: int = 500
    pool_seed: int = 0
    percentile: float = 90.0
    ways: tuple[str, ...] = tuple(WAYS)

    def __post_init__(self):
        if not isinstance(self.scenario, ScenarioConfig):
            raise ValueError(f"scenario={type(self.scenario).__name__} must be a ScenarioConfig "
                             "(core.mobility.simulate.scenario)")
        if "predictive" not in self.scenario.policies:
            raise ValueError(f"scenario.policies={self.scenario.policies!r} must include 'predictive': the "
                             "prediction ways use its downloads")
        check_range("photo_interval_s", self.photo_interval_s, 0, self.scenario.duration_s, lo_open=True)
        if not isinstance(self.detector, DetectorConfig):
            raise ValueError(f"detector={self.detector!r} must be a DetectorConfig (core.situation.drift)")
        check_int("pool_photos", self.pool_photos, 10, 10_000)
        check_int("pool_seed", self.pool_seed, 0)
        check_range("percentile", self.percentile, 0, 100, lo_open=True, hi_open=True)
        if not self.ways:
            raise ValueError(f"ways={self.ways!r} is empty; allowed: a non-empty subset of {list(WAYS)}")
        for w in self.ways:
            check_choice("ways", w, WAYS)
        object.__setattr__(self, "ways", tuple(dict.fromkeys(self.ways)))


@dataclass(frozen=True, eq=False)
class MismatchResult:
    """One comparison. ``summary``: one row per way (index); ``changes``: per way and change of situation, the
    model held right after it, how it was fixed and the delay (photos answered by the old model, seconds);
    ``triggers``: every detector alarm (way, user, time_s, held, place, true; lat and lon where the user's track
    is kept); ``held``: per way and user, the model held from ``time_s`` on; ``photos`` the photos taken in all."""

    config: MismatchConfig
    seed: int
    summary: pd.DataFrame
    changes: pd.DataFrame
    triggers: pd.DataFrame
    held: pd.DataFrame
    photos: int
    user_hours: float
    pools: pd.DataFrame
    seconds: float


def _quantile(values: np.ndarray, q: float) -> float:
    """An observed value at the q-th percentile (inf stays inf); NaN without values."""
    return float(np.percentile(values, q, method="inverted_cdf")) if len(values) else float("nan")


@dataclass
class _UserRun:
    answered: np.ndarray
    held: list
    triggers: list
    changes: list
    downloads: int


def _run_user(times, ctx, conf_rows, changes, scheduled, initial, detector: DetectorConfig | None) -> _UserRun:
    """One user under one way. ``changes``: (time, context, first) in time order; ``scheduled``: per change,
    whether the way switches at it; ``conf_rows[h]``: the held model h's confidence on each photo. Photos at a
    change's time come after the change."""
    held = initial
    det = make_detector(detector) if detector is not None else None
    answered = np.empty(len(times), np.int64)
    held_log = [(0.0, held, "start")]
    trig, records = [], []
    downloads = 0
    pending = None          # [change record, wrong photos so far] while the held model is wrong for a change
    ci, n_changes = 0, len(changes)
    for i in range(len(times) + 1):
        t = times[i] if i < len(times) else math.inf
        while ci < n_changes and changes[ci][0] <= t:
            tc, c, first = changes[ci]
            if pending is not None:
                pending[0].update(fixed=NOT_FIXED, delay_s=math.inf, delay_photos=pending[1])
                pending = None
            if scheduled[ci] and held != c:
                held = c
                downloads += 1
                held_log.append((tc, held, "switch"))
                det = make_detector(detector) if detector is not None else None
            if not first:
                rec = {"time_s": tc, "context": c, "held": held}
                records.append(rec)
                if held == c:
                    rec.update(fixed=FIXED_AT_CHANGE, delay_s=0.0, delay_photos=0)
                else:
                    pending = [rec, 0]
            ci += 1
        if i == len(times):
            break
        c = ctx[i]
        answered[i] = held
        if held != c and pending is not None:
            pending[1] += 1
        if det is not None:
            det.update(conf_rows[held][i])
            if det.drift_detected:
                true = held != c
                trig.append((t, held, c, true))
                if true:
                    held = c
                    downloads += 1
                    held_log.append((t, held, "trigger"))
                    if pending is not None:
                        pending[0].update(fixed=FIXED_BY_DETECTOR, delay_s=t - pending[0]["time_s"],
                                          delay_photos=pending[1])
                        pending = None
                det = make_detector(detector)
    if pending is not None:
        pending[0].update(fixed=NOT_FIXED, delay_s=math.inf, delay_photos=pending[1])
    return _UserRun(answered, held_log, trig, records, downloads)


def _changes_of(seg: pd.DataFrame, index: Mapping[str, int]):
    """Per user: the initial model (-1: none) and the changes of the needed model, (time, context, first)."""
    out = {}
    for user, part in seg.groupby("user", sort=True):
        initial, held, changes = -1, -1, []
        for row in part.itertuples(index=False):
            if not row.context:
                continue
            c = index[row.context]
            if row.start_s == 0:
                initial = held = c
            elif c != held:
                changes.append((float(row.start_s), c, held < 0))
                held = c
        out[int(user)] = (initial, changes)
    return out


def compare_ways(timelines: Timelines, pools: ConfidencePools, config: MismatchConfig, seed: int,
                 tracks: pd.DataFrame | None = None) -> MismatchResult:
    """The four ways (``config.ways``) on the same users and the same photos: the photo times (a random phase per
    user, then every ``photo_interval_s``) and which pool photo each one is are drawn once with a numpy Generator
    seeded by ``seed``; each way then answers them with the model it holds. ``tracks`` (user, time_s, lat, lon)
    locates the triggers of the users it holds."""
    if not isinstance(timelines, Timelines):
        raise ValueError(f"timelines={type(timelines).__name__} must be a Timelines")
    if not isinstance(pools, ConfidencePools):
        raise ValueError(f"pools={type(pools).__name__} must be ConfidencePools (build_pools, shipped_pools)")
    if not isinstance(config, MismatchConfig):
        raise ValueError(f"config={type(config).__name__} must be a MismatchConfig")
    seed = check_int("seed", seed, 0, 2**63 - 1)
    started = time.perf_counter()
    index = {s: i for i, s in enumerate(pools.situations)}
    unknown = sorted(set(timelines.segments["context"]) - set(index) - {""})
    if unknown:
        raise ValueError(f"contexts {unknown} of the timelines are not situations of the pools "
                         f"{list(pools.situations)}: every place's context must be a situation name")
    conf, right, sizes = pools.padded()
    rng = np.random.default_rng([seed, 0x6D69736D])
    seg = timelines.segments
    per_user = _changes_of(seg, index)
    predicted = {(int(r.user), float(r.time_s)): r.context for r in timelines.predicted.itertuples(index=False)}
    known = {(u, t): c for u, (_, chs) in per_user.items() for t, c, _ in chs}
    stray = [k for k, c in predicted.items() if k not in known or pools.situations[known[k]] != c]
    if stray:
        raise ValueError(f"predicted names changes that the segments do not have, e.g. (user, time_s) = {stray[0]}: "
                         "each must be a change of the needed model, with its context")
    interval = config.photo_interval_s
    phases = rng.uniform(0.0, interval, timelines.n_users)
    user_ids = seg["user"].to_numpy()
    bounds = np.searchsorted(user_ids, np.arange(timelines.n_users + 1))
    rows_changes, rows_triggers, rows_held, stats = [], [], [], {w: [] for w in config.ways}
    total_photos = 0
    for u in range(timelines.n_users):
        part = seg.iloc[bounds[u]:bounds[u + 1]]
        times = np.arange(phases[u], timelines.duration_s, interval)
        k = np.searchsorted(part["start_s"].to_numpy(float), times, side="right") - 1
        names = part["context"].to_numpy(object)[k]
        keep = names != ""
        times = times[keep]
        ctx = np.array([index[n] for n in names[keep]], dtype=np.int64)
        j = (rng.random(len(times)) * sizes[ctx]).astype(np.int64)
        conf_rows = conf[:, ctx, j].tolist()
        right_rows = right[:, ctx, j]
        total_photos += len(times)
        initial, changes = per_user[u]
        for way in config.ways:
            _, uses_prediction, uses_detector = WAYS[way]
            if way == "oracle":
                scheduled = [True] * len(changes)
            else:
                scheduled = [first or (uses_prediction and (u, t) in predicted) for t, _, first in changes]
            run = _run_user(times, ctx, conf_rows, changes, scheduled, initial,
                            config.detector if uses_detector else None)
            wrong = int((run.answered != ctx).sum())
            answered_right = int(right_rows[run.answered, np.arange(len(times))].sum()) if len(times) else 0
            wasted = int(timelines.wasted[u]) if (uses_prediction and timelines.wasted is not None) else 0
            stats[way].append((len(times), wrong, answered_right, run.downloads, wasted))
            for rec in run.changes:
                rows_changes.append({"way": way, "user": u, **rec})
            for t, h, c, true in run.triggers:
                rows_triggers.append({"way": way, "user": u, "time_s": t, "held": pools.situations[h],
                                      "place": pools.situations[c], "true": true})
            for t, h, cause in run.held:
                rows_held.append({"way": way, "user": u, "time_s": t,
                                  "model": pools.situations[h] if h >= 0 else "", "cause": cause})
    names_arr = np.array(pools.situations, dtype=object)
    changes_df = pd.DataFrame(rows_changes, columns=["way", "user", "time_s", "context", "held", "fixed", "delay_s",
                                                     "delay_photos"])
    if len(changes_df):
        changes_df["context"] = names_arr[changes_df["context"].to_numpy(np.int64)]
        held_idx = changes_df["held"].to_numpy(np.int64)
        changes_df["held"] = np.where(held_idx >= 0, names_arr[np.maximum(held_idx, 0)], "")
    triggers_df = pd.DataFrame(rows_triggers, columns=["way", "user", "time_s", "held", "place", "true"])
    triggers_df = _locate(triggers_df, tracks)
    held_df = pd.DataFrame(rows_held, columns=["way", "user", "time_s", "model", "cause"])
    user_hours = timelines.n_users * timelines.duration_s / 3600.0
    summary = _summary(config, stats, changes_df, triggers_df, user_hours)
    return MismatchResult(config, seed, summary, changes_df, triggers_df, held_df, total_photos, user_hours,
                          pools.table(), time.perf_counter() - started)


def _locate(triggers: pd.DataFrame, tracks: pd.DataFrame | None) -> pd.DataFrame:
    """lat and lon of each trigger from the user's kept track (the last point at or before it); NaN otherwise."""
    out = triggers.copy()
    out["lat"], out["lon"] = np.nan, np.nan
    if tracks is None or not len(tracks) or not len(out):
        return out
    tr = tracks[["user", "time_s", "lat", "lon"]].sort_values("time_s", kind="stable")
    left = out.drop(columns=["lat", "lon"]).reset_index().sort_values("time_s", kind="stable")
    joined = pd.merge_asof(left, tr, on="time_s", by="user", direction="backward")
    return joined.sort_values("index").drop(columns="index").reset_index(drop=True)[out.columns]


def _summary(config: MismatchConfig, stats, changes: pd.DataFrame, triggers: pd.DataFrame,
             user_hours: float) -> pd.DataFrame:
    q = config.percentile
    rows = []
    for way in config.ways:
        label = WAYS[way][0]
        photos, wrong, right, downloads, wasted = (np.sum([s[i] for s in stats[way]]) for i in range(5))
        ch = changes[changes["way"] == way]
        delay_s = ch["delay_s"].to_numpy(float)
        delay_p = np.where(ch["fixed"] == NOT_FIXED, np.inf, ch["delay_photos"].to_numpy(float))
        caught = ch[ch["fixed"] == FIXED_BY_DETECTOR]
        tr = triggers[triggers["way"] == way]
        false = int((~tr["true"].astype(bool)).sum())
        rows.append({
            "way": way, "label": label, "changes": len(ch),
            "fixed_at_change": int((ch["fixed"] == FIXED_AT_CHANGE).sum()),
            "fixed_by_detector": len(caught), "not_fixed": int((ch["fixed"] == NOT_FIXED).sum()),
            "delay_s_median": _quantile(delay_s, 50), "delay_s_upper": _quantile(delay_s, q),
            "delay_photos_median": _quantile(delay_p, 50), "delay_photos_upper": _quantile(delay_p, q),
            "detector_delay_s_median": _quantile(caught["delay_s"].to_numpy(float), 50),
            "detector_delay_s_upper": _quantile(caught["delay_s"].to_numpy(float), q),
            "detector_delay_photos_median": _quantile(caught["delay_photos"].to_numpy(float), 50),
            "detector_delay_photos_upper": _quantile(caught["delay_photos"].to_numpy(float), q),
            "true_triggers": int(tr["true"].astype(bool).sum()), "false_triggers": false,
            "false_triggers_per_user_hour": false / user_hours,
            "photos": int(photos), "wrong_model_photos": int(wrong),
            "wrong_model_share": wrong / photos if photos else float("nan"),
            "right_answer_share": right / photos if photos else float("nan"),
            "downloads": int(downloads), "wasted_downloads": int(wasted),
        })
    return pd.DataFrame(rows).set_index("way")


def mismatch(config: MismatchConfig = MismatchConfig(), seed: int = 0, *, pools: ConfidencePools | None = None,
             simulation: SimulationResult | None = None) -> MismatchResult:
    """The comparison for ``config`` and ``seed``: simulate the scenario (or take ``simulation``, which must be
    of ``config.scenario`` and ``seed``), compute the shipped models' pools (or take ``pools``), compare the ways."""
    if not isinstance(config, MismatchConfig):
        raise ValueError(f"config={type(config).__name__} must be a MismatchConfig")
    seed = check_int("seed", seed, 0, 2**63 - 1)
    if simulation is None:
        simulation = simulate(config.scenario, seed)
    elif simulation.config != config.scenario or simulation.seed != seed:
        raise ValueError(f"simulation is of another scenario or seed (seed {simulation.seed}) than config.scenario "
                         f"and seed={seed}")
    if pools is None:
        pools = shipped_pools(config.pool_photos, config.pool_seed)
    return compare_ways(timelines_from_simulation(simulation), pools, config, seed, simulation.tracks)


__all__ = ["EXIT", "FIXED_AT_CHANGE", "FIXED_BY_DETECTOR", "NOT_FIXED", "WAYS", "ConfidencePools", "MismatchConfig",
           "MismatchResult", "Timelines", "as_seen_by", "build_pools", "compare_ways", "load_pools", "mismatch",
           "pools_identity", "save_pools", "shipped_pools", "write_shipped_pools",
           "timelines_from_simulation"]


if __name__ == "__main__":   # python -m core.situation.mismatch: (re)write the shipped confidence pools
    print(write_shipped_pools())

"""Predictive model downloading as users move: ``simulate(config, seed)`` runs movement, link, the download
policies on the same users, with downloads sharing each cell's downlink, and returns per-event, per-user and
overall metrics, next-place accuracy per predictor, and the downlink load per base station over time."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.mobility.area import Area, load_area
from core.mobility.catalog import DEVICE_CLASSES, model_arrays
from core.mobility.cell import SHARING, run_transfers
from core.mobility.link import LinkConfig, RateTimeline, coverage_problem, link_ber, serving_links
from core.mobility.movement import MovementConfig, simulate_movement
from core.mobility.policies import (POLICIES, DeviceConfig, PolicyConfig, Sizes, need_events, next_place_accuracy,
                                    plan_downloads, predict_legs, required_contexts, switch_outcome)
from core.mobility.predict import PREDICTORS, NextPlaceModel
from core.validation import check_choice, check_int, check_range

HEADING_PREDICTOR = ("heading", "straight-line heading (random waypoint has no history to learn)")
ORACLE_PASSES = 4     # the oracle re-plans on the cell load its previous plan caused


@dataclass(frozen=True)
class ScenarioConfig:
    """Everything a run depends on besides the seed. ``models`` maps a context (every device) or
    ``"walk/context"`` / ``"drive/context"`` to (bits, tier latency s); it overrides the fallback table of
    ``core.mobility.catalog`` (the AI library's sizes come in here, see ``catalog.library_models``)."""
    n_users: int = 200
    duration_s: float = 3600.0
    step_s: float = 1.0
    area_path: str | None = None
    movement: MovementConfig = field(default_factory=MovementConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    policies: tuple[str, ...] = POLICIES
    predictors: tuple[str, ...] = ("markov1", "markov2")   # compared beside the predictive policy's own
    sharing: str = "processor_sharing"
    models: tuple[tuple[str, tuple[float, float]], ...] | None = None
    track_users: int = 40            # users whose tracks are kept for the map
    track_step_s: float = 10.0
    load_bin_s: float = 60.0

    def __post_init__(self):
        check_int("n_users", self.n_users, 1, 100_000)
        check_range("duration_s", self.duration_s, 0, 7 * 86400, lo_open=True)
        check_range("step_s", self.step_s, 0, self.duration_s, lo_open=True)
        if not self.policies:
            raise ValueError(f"policies={self.policies!r} is empty; allowed: a non-empty subset of {list(POLICIES)}")
        for p in self.policies:
            check_choice("policies", p, POLICIES)
        for p in self.predictors:
            check_choice("predictors", p, PREDICTORS)
        check_choice("sharing", self.sharing, SHARING)
        check_int("track_users", self.track_users, 0, 10_000)
        check_range("track_step_s", self.track_step_s, self.step_s, None)
        check_range("load_bin_s", self.load_bin_s, self.step_s, None)
        if self.models is not None:
            items = self.models.items() if isinstance(self.models, Mapping) else self.models
            table = []
            for key, value in items:
                bits, latency = value
                check_range(f"models[{key!r}] bits", bits, 0, None, lo_open=True)
                check_range(f"models[{key!r}] latency_s", latency, 0, None)
                table.append((str(key), (float(bits), float(latency))))
            object.__setattr__(self, "models", tuple(sorted(table)))
        object.__setattr__(self, "policies", tuple(self.policies))
        object.__setattr__(self, "predictors", tuple(self.predictors))


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Outputs of one run; the DataFrames are shared, treat them as read-only.

    events: one row per model switch and policy; users: per user and policy; overall: per policy;
    predictors: next-place accuracy and the predictive policy's outcome per predictor (same users);
    load: mean downlink load per base station per time bin; waste: downloads of wrongly predicted models;
    sizes: the model bits and tier latency per device class and context; tracks: positions of the first
    ``track_users`` users for the map; context_timeline: per user, the runs of the context the application needs
    (user, start_s, end_s, context; context "" where none is needed: a walker between places), covering
    [0, duration_s) without gaps."""
    config: ScenarioConfig
    seed: int
    area_name: str
    contexts: tuple[str, ...]
    base_stations: tuple[str, ...]
    events: pd.DataFrame
    users: pd.DataFrame
    overall: pd.DataFrame
    load: pd.DataFrame
    waste: pd.DataFrame
    tracks: pd.DataFrame
    predictors: pd.DataFrame = None
    sizes: pd.DataFrame = None
    context_timeline: pd.DataFrame = None


def _binned(per_step: np.ndarray, step_s: float, bin_s: float) -> np.ndarray:
    """(rows, steps) -> (rows, bins) means over bins of ``bin_s`` seconds."""
    n_rows, steps = per_step.shape
    per_bin = max(int(round(bin_s / step_s)), 1)
    n_bins = -(-steps // per_bin)
    padded = np.zeros((n_rows, n_bins * per_bin))
    padded[:, :steps] = per_step
    counts = np.minimum(per_bin, steps - np.arange(n_bins) * per_bin)
    return padded.reshape(n_rows, n_bins, per_bin).sum(axis=2) / counts


@dataclass(frozen=True, eq=False)
class _Run:
    """One policy on the shared cells: its plan, outcome, transfers and the waste."""
    plan: object
    outcome: object
    done_alone: np.ndarray
    waste_end: np.ndarray
    waste_sent: np.ndarray
    load_bps: np.ndarray          # (base stations, steps)


def _execute(policy, events, pred, sizes, config, timeline, serving, rate, dt, n_bs: int) -> _Run:
    """Plan ``policy`` and run its transfers (needed and wasted) on the cells. The oracle knows the future, the
    cell load included: it re-runs its plan ORACLE_PASSES times, each time starting every late download earlier
    by how late it was (never before the spare memory is free)."""
    plan = plan_downloads(policy, events, pred, sizes, config.device, config.policy, timeline, dt)
    passes = ORACLE_PASSES if policy == "oracle" and config.sharing != "none" else 1
    n_ev = len(events.user)
    user = np.r_[events.user, plan.waste_user]
    bits = np.r_[sizes.bits(events.user, events.context), sizes.bits(plan.waste_user, plan.waste_context)]
    cancel = np.r_[np.full(n_ev, np.inf), plan.waste_cancel]
    for i in range(passes):
        begin = np.r_[plan.start + sizes.latency(events.user, events.context), plan.waste_begin]
        tr = run_transfers(user, begin, bits, cancel, serving, rate, dt, config.sharing, n_bs)
        out = switch_outcome(events, plan.start, tr.end[:n_ev], sizes, config.device)
        if i == passes - 1 or out.on_time.all():
            break
        finish = out.ready if config.device.accelerators == 2 else out.done
        late = np.where(out.on_time, 0.0, finish - events.t_need + 1e-3)
        plan = dataclasses.replace(plan, start=np.maximum(plan.start - late, events.window_open))
    alone = timeline.finish_time(events.user, begin[:n_ev], bits[:n_ev])
    return _Run(plan, out, alone, tr.end[n_ev:], tr.sent[n_ev:], tr.load_bits / dt)


def simulate(config: ScenarioConfig, seed: int) -> SimulationResult:
    """Run the scenario: the same users, movement and link for every policy; deterministic for a seed."""
    seed = check_int("seed", seed, 0, 2**63 - 1)
    area = load_area(config.area_path)
    return _simulate(config, seed, area)


def _simulate(config: ScenarioConfig, seed: int, area: Area) -> SimulationResult:
    problem = coverage_problem(area, config.link)   # the area was checked on the default link; this is the run's
    if problem:
        raise ValueError(f"area {area.name!r}: {problem}")
    rng = np.random.default_rng(seed)
    steps = int(round(config.duration_s / config.step_s))
    dt = config.step_s
    movement = simulate_movement(area, config.movement, config.n_users, steps, dt, rng)
    bs, snr, rate = serving_links(movement.xy, area.bs_xy, config.link)
    place_rate = serving_links(area.place_xy, area.bs_xy, config.link)[2].astype(float)
    required = required_contexts(movement, area)
    events, loaded = need_events(required, dt)
    bits_table, latency_table, model_names = model_arrays(area.contexts, dict(config.models or ()))
    device_class = np.where(movement.driver, DEVICE_CLASSES.index("drive"), DEVICE_CLASSES.index("walk"))
    sizes = Sizes(bits_table, latency_table, device_class)
    timeline = RateTimeline(rate, dt)
    street = config.movement.model != "random_waypoint"
    nextplace = NextPlaceModel.fit(movement.history, len(area.places)) if street else None
    main_predictor = config.policy.predictor if street else HEADING_PREDICTOR[0]
    compared = (tuple(dict.fromkeys((*config.predictors, config.policy.predictor))) if street
                else (HEADING_PREDICTOR[0],))
    preds = {}
    if "predictive" in config.policies or compared:
        for p in compared:
            preds[p] = predict_legs(movement, area, loaded, rate, place_rate, config.policy, dt, street_model=street,
                                    model=nextplace, predictor=p if street else None)
    names = np.array(area.contexts, dtype=object)
    bs_ids = tuple(b.id for b in area.base_stations)
    runs = {}
    for policy in config.policies:
        runs[policy] = _execute(policy, events, preds.get(main_predictor), sizes, config, timeline, bs, rate, dt,
                                len(bs_ids))
    frames, waste_frames, load_frames = [], [], []
    for policy, run in runs.items():
        plan, out = run.plan, run.outcome
        k = np.clip(np.floor(out.begin / dt).astype(np.int64), 0, steps - 1)
        at_snr = snr[events.user, k].astype(float)
        ber_value, modulation = link_ber(at_snr, config.link)
        ctx = events.context
        ev_bits = sizes.bits(events.user, ctx)
        frames.append(pd.DataFrame({
            "policy": policy, "user": events.user, "t_need_s": events.t_need, "context": names[ctx],
            "model": model_names[device_class[events.user], ctx], "bits": ev_bits, "start_s": plan.start,
            "done_s": out.done, "ready_s": out.ready, "on_time": out.on_time, "interruption_s": out.interruption_s,
            "lead_s": events.t_need - out.ready, "predicted": plan.predicted, "run_end_s": events.run_end,
            "sharing_delay_s": np.maximum(out.done - run.done_alone, 0.0),
            "base_station": np.array(bs_ids, dtype=object)[bs[events.user, k]], "snr_db": at_snr,
            "rate_bps": rate[events.user, k].astype(float), "ber": ber_value, "modulation": modulation}))
        waste_frames.append(pd.DataFrame({
            "policy": policy, "user": plan.waste_user, "context": names[plan.waste_context],
            "begin_s": plan.waste_begin, "end_s": run.waste_end, "bits": run.waste_sent,
            # A prefetch for a need after the window cannot be judged: it is neither used nor wasted here.
            "after_window": plan.waste_cancel > config.duration_s})[lambda d: d["bits"] > 0])
        load = _binned(run.load_bps, dt, config.load_bin_s)
        n_bins = load.shape[1]
        load_frames.append(pd.DataFrame({
            "policy": policy,
            "time_s": np.tile(np.arange(n_bins) * config.load_bin_s, len(bs_ids)),
            "base_station": np.repeat(np.array(bs_ids, dtype=object), n_bins), "load_bps": load.ravel()}))
    events_df = pd.concat(frames, ignore_index=True)
    waste_df = pd.concat(waste_frames, ignore_index=True)
    load_df = pd.concat(load_frames, ignore_index=True)
    users_df = _per_user(config, movement.driver, loaded[:, 0], names, events_df, waste_df)
    accuracy = {p: next_place_accuracy(pr) for p, pr in preds.items()}
    overall = _overall(config, events_df, waste_df, load_df, users_df, runs,
                       accuracy.get(main_predictor, {}))
    predictors = _predictors(config, compared, main_predictor, preds, accuracy, runs, events, sizes, timeline, bs,
                             rate, dt, street, len(bs_ids))
    tracks = _tracks(config, area, movement, required, names, dt)
    size_rows = pd.DataFrame([{"device_class": d, "context": c, "model": model_names[i, j],
                               "bits": bits_table[i, j], "latency_s": latency_table[i, j]}
                              for i, d in enumerate(DEVICE_CLASSES) for j, c in enumerate(area.contexts)])
    return SimulationResult(config, seed, area.name, area.contexts, bs_ids, events_df, users_df, overall,
                            load_df, waste_df, tracks, predictors, size_rows, _context_timeline(required, names, dt))


def _context_timeline(required: np.ndarray, names: np.ndarray, dt: float) -> pd.DataFrame:
    """Run-length form of the (users, steps) required-context grid: one row per run of the same context."""
    n, steps = required.shape
    starts = np.ones((n, steps), bool)
    starts[:, 1:] = required[:, 1:] != required[:, :-1]
    user, step = np.nonzero(starts)               # row-major: by user, then by time
    last = np.r_[user[1:] != user[:-1], True]
    end = np.where(last, steps, np.r_[step[1:], steps])
    ctx = required[user, step]
    return pd.DataFrame({"user": user.astype(np.int64), "start_s": step * dt, "end_s": end * dt,
                         "context": np.where(ctx >= 0, names[np.maximum(ctx, 0)], "").astype(object)})


def _predictors(config, compared, main, preds, accuracy, runs, events, sizes, timeline, bs, rate, dt,
                street, n_bs: int) -> pd.DataFrame:
    """Per predictor, on the same users: next-place accuracy and the predictive policy's outcome with it."""
    rows = []
    for p in compared:
        run = runs.get("predictive") if p == main and "predictive" in runs else _execute(
            "predictive", events, preds[p], sizes, config, timeline, bs, rate, dt, n_bs)
        e = run.outcome
        needed = float(sizes.bits(events.user, events.context).sum())
        wasted = float(run.waste_sent[run.plan.waste_cancel <= config.duration_s].sum())
        sent = needed + float(run.waste_sent.sum())
        load = _binned(run.load_bps, dt, config.load_bin_s)
        rows.append({"predictor": p, "label": PREDICTORS[p][0] if street else HEADING_PREDICTOR[1],
                     **accuracy[p],
                     "on_time_share": float(e.on_time.mean()) if len(e.on_time) else float("nan"),
                     "interruption_s_per_user": float(e.interruption_s.sum()) / config.n_users,
                     "wasted_share": wasted / max(sent, 1.0),
                     "peak_bs_load_Mbps": float(load.max()) / 1e6 if load.size else 0.0,
                     "used_by_predictive_policy": p == main})
    return pd.DataFrame(rows)


def _per_user(config, driver, initial, names, events: pd.DataFrame, waste: pd.DataFrame) -> pd.DataFrame:
    n = config.n_users
    base = pd.DataFrame({
        "policy": np.repeat(np.array(config.policies, dtype=object), n),
        "user": np.tile(np.arange(n), len(config.policies)),
        "mode": np.tile(np.where(driver, "drive", "walk").astype(object), len(config.policies)),
        "initial_context": np.tile(np.where(initial >= 0, names[np.maximum(initial, 0)], ""), len(config.policies)),
    })
    agg = events.groupby(["policy", "user"], sort=False).agg(
        switches=("on_time", "size"), on_time=("on_time", "sum"), interruption_s=("interruption_s", "sum"),
        downloaded_bits=("bits", "sum")).reset_index()
    wasted = waste.groupby(["policy", "user"], sort=False).agg(wasted_bits=("bits", "sum")).reset_index()
    out = base.merge(agg, on=["policy", "user"], how="left").merge(wasted, on=["policy", "user"], how="left")
    for col in ("switches", "on_time", "interruption_s", "downloaded_bits", "wasted_bits"):
        out[col] = out[col].fillna(0)
    out["switches"] = out["switches"].astype(int)
    out["on_time"] = out["on_time"].astype(int)
    out["on_time_share"] = np.where(out["switches"] > 0, out["on_time"] / out["switches"].clip(lower=1), np.nan)
    return out


def _overall(config, events, waste, load, users, runs, accuracy: dict) -> pd.DataFrame:
    rows = []
    for policy in config.policies:
        e = events[events["policy"] == policy]
        w = waste[waste["policy"] == policy]
        ld = load[load["policy"] == policy]
        switches = len(e)
        sent = float(e["bits"].sum() + w["bits"].sum())
        after = w["after_window"]
        wasted = float(w.loc[~after, "bits"].sum())
        rows.append({
            "policy": policy,
            "users": config.n_users,
            "switches": switches,
            "on_time_share": float(e["on_time"].mean()) if switches else float("nan"),
            "next_place_accuracy": accuracy.get("next_place_accuracy_route", float("nan"))
            if policy == "predictive" else float("nan"),
            "interruption_s": float(e["interruption_s"].sum()),
            "interruption_s_per_user": float(e["interruption_s"].sum()) / config.n_users,
            "interruption_s_per_switch": float(e["interruption_s"].mean()) if switches else 0.0,
            "interrupted_switches": int((e["interruption_s"] > 0).sum()),
            "predicted_share": float(e["predicted"].mean()) if switches else 0.0,
            "downloaded_Mbit": sent / 1e6,
            "wasted_Mbit": wasted / 1e6,
            "wasted_share": wasted / sent if sent > 0 else 0.0,
            "after_window_Mbit": float(w.loc[after, "bits"].sum()) / 1e6,
            "peak_bs_load_Mbps": float(ld["load_bps"].max()) / 1e6 if len(ld) else 0.0,
            "mean_bs_load_Mbps": float(runs[policy].load_bps.mean()) / 1e6,
            "sharing_delay_s_per_switch": float(e["sharing_delay_s"].mean()) if switches else 0.0,
        })
    return pd.DataFrame(rows).set_index("policy")


def _tracks(config, area: Area, movement, required, names, dt) -> pd.DataFrame:
    k = min(config.track_users, config.n_users)
    every = max(int(round(config.track_step_s / dt)), 1)
    steps = np.arange(0, movement.xy.shape[1], every)
    xy = movement.xy[:k][:, steps].astype(float)
    latlon = area.to_latlon(xy)
    place = movement.place[:k][:, steps]
    req = required[:k][:, steps]
    place_ids = np.array([*area.place_ids, ""], dtype=object)
    return pd.DataFrame({
        "user": np.repeat(np.arange(k), len(steps)),
        "time_s": np.tile(steps * dt, k),
        "lat": latlon[..., 0].ravel(), "lon": latlon[..., 1].ravel(),
        "place": place_ids[place.ravel()],
        "context": np.where(req.ravel() >= 0, names[np.maximum(req.ravel(), 0)], ""),
        "mode": np.repeat(np.where(movement.driver[:k], "drive", "walk"), len(steps)),
    })


SCENARIOS: dict[str, ScenarioConfig] = {
    "default": ScenarioConfig(),
    "routine": ScenarioConfig(),
    "habits": ScenarioConfig(movement=MovementConfig(model="streets")),
    "random_waypoint": ScenarioConfig(movement=MovementConfig(model="random_waypoint")),
    "single_accelerator": ScenarioConfig(device=DeviceConfig(accelerators=1)),
    "mostly_drivers": ScenarioConfig(movement=MovementConfig(driver_share=0.8)),
    "no_cell_sharing": ScenarioConfig(sharing="none"),
    "fr2_400mhz": ScenarioConfig(link=LinkConfig(preset="5g_fr2_400mhz")),
    "benchmark_1000": ScenarioConfig(n_users=1000),
}


def scenario(name: str = "default", **changes) -> ScenarioConfig:
    """A preset scenario from :data:`SCENARIOS`, with top-level fields replaced by ``changes``."""
    check_choice("scenario", name, SCENARIOS)
    return dataclasses.replace(SCENARIOS[name], **changes)

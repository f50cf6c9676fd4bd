"""Predictive model downloading as users move: ``simulate(config, seed)`` runs movement, link, the download
policies on the same users and returns per-event, per-user and overall metrics and the downlink load per base
station over time."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.mobility.area import Area, load_area
from core.mobility.catalog import MODEL_PRESETS, model_table
from core.mobility.link import LinkConfig, RateTimeline, link_ber, serving_links
from core.mobility.movement import MovementConfig, simulate_movement
from core.mobility.policies import (POLICIES, DeviceConfig, PolicyConfig, need_events, plan_downloads,
                                    predict_legs, required_contexts, switch_outcome)
from core.validation import check_choice, check_int, check_range


@dataclass(frozen=True)
class ScenarioConfig:
    """Everything a run depends on besides the seed. ``models`` maps a context to (bits, tier latency s) and
    overrides the presets of ``core.mobility.catalog`` (this is where the AI library plugs in)."""
    n_users: int = 200
    duration_s: float = 3600.0
    step_s: float = 1.0
    area_path: str | None = None
    movement: MovementConfig = field(default_factory=MovementConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    policies: tuple[str, ...] = POLICIES
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
        check_int("track_users", self.track_users, 0, 10_000)
        check_range("track_step_s", self.track_step_s, self.step_s, None)
        check_range("load_bin_s", self.load_bin_s, self.step_s, None)
        if self.models is not None:
            items = self.models.items() if isinstance(self.models, Mapping) else self.models
            table = []
            for ctx, value in items:
                bits, latency = value
                check_range(f"models[{ctx!r}] bits", bits, 0, None, lo_open=True)
                check_range(f"models[{ctx!r}] latency_s", latency, 0, None)
                table.append((str(ctx), (float(bits), float(latency))))
            object.__setattr__(self, "models", tuple(sorted(table)))
        object.__setattr__(self, "policies", tuple(self.policies))


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Outputs of one run; the DataFrames are shared, treat them as read-only.

    events: one row per model switch and policy; users: per user and policy; overall: per policy;
    load: mean downlink load per base station per time bin; waste: downloads of wrongly predicted models;
    tracks: positions of the first ``track_users`` users for the map."""
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


def _bs_load(user, begin, end, bs: np.ndarray, n_bs: int, rate: np.ndarray, step_s: float,
             bin_s: float) -> np.ndarray:
    """(base stations, bins) mean downlink rate of the downloads in flight, attributed to the serving station."""
    n, steps = rate.shape
    diff = np.zeros((n, steps + 1), dtype=np.int32)
    s0 = np.clip(np.floor(begin / step_s).astype(np.int64), 0, steps)
    s1 = np.clip(np.ceil(end / step_s).astype(np.int64), 0, steps)
    np.add.at(diff, (user, s0), 1)
    np.add.at(diff, (user, s1), -1)
    active = np.cumsum(diff[:, :steps], axis=1)
    u, k = np.nonzero(active > 0)
    per_step = np.bincount(bs[u, k].astype(np.int64) * steps + k, weights=active[u, k] * rate[u, k].astype(float),
                           minlength=n_bs * steps).reshape(n_bs, steps)
    per_bin = max(int(round(bin_s / step_s)), 1)
    n_bins = -(-steps // per_bin)
    padded = np.zeros((n_bs, n_bins * per_bin))
    padded[:, :steps] = per_step
    counts = np.minimum(per_bin, steps - np.arange(n_bins) * per_bin)
    return padded.reshape(n_bs, n_bins, per_bin).sum(axis=2) / counts


def simulate(config: ScenarioConfig, seed: int) -> SimulationResult:
    """Run the scenario: the same users, movement and link for every policy; deterministic for a seed."""
    seed = check_int("seed", seed, 0, 2**63 - 1)
    area = load_area(config.area_path)
    return _simulate(config, seed, area)


def _simulate(config: ScenarioConfig, seed: int, area: Area) -> SimulationResult:
    rng = np.random.default_rng(seed)
    steps = int(round(config.duration_s / config.step_s))
    dt = config.step_s
    movement = simulate_movement(area, config.movement, config.n_users, steps, dt, rng)
    bs, snr, rate = serving_links(movement.xy, area.bs_xy, config.link)
    place_rate = serving_links(area.place_xy, area.bs_xy, config.link)[2].astype(float)
    required = required_contexts(movement, area)
    events, loaded = need_events(required, dt)
    bits_map, latency_map = model_table(area.contexts, dict(config.models or ()))
    bits = np.array([bits_map[c] for c in area.contexts])
    latency = np.array([latency_map[c] for c in area.contexts])
    timeline = RateTimeline(rate, dt)
    preds = None
    if "predictive" in config.policies:
        preds = predict_legs(movement, area, loaded, rate, place_rate, config.policy, dt,
                             street_model=config.movement.model == "streets")
    names = np.array(area.contexts, dtype=object)
    model_names = np.array([MODEL_PRESETS[c].model if c in MODEL_PRESETS else c for c in area.contexts],
                           dtype=object)
    bs_ids = tuple(b.id for b in area.base_stations)
    frames, waste_frames, load_frames = [], [], []
    for policy in config.policies:
        plan = plan_downloads(policy, events, preds, bits, latency, config.device, config.policy, timeline, dt)
        out = switch_outcome(events, plan.start, bits, latency, config.device, timeline)
        k = np.clip(np.floor(out.begin / dt).astype(np.int64), 0, steps - 1)
        at_snr = snr[events.user, k].astype(float)
        ber_value, modulation = link_ber(at_snr, config.link)
        ctx = events.context
        frames.append(pd.DataFrame({
            "policy": policy, "user": events.user, "t_need_s": events.t_need, "context": names[ctx],
            "model": model_names[ctx], "bits": bits[ctx], "start_s": plan.start, "done_s": out.done,
            "ready_s": out.ready, "on_time": out.on_time, "interruption_s": out.interruption_s,
            "lead_s": events.t_need - out.ready, "predicted": plan.predicted, "run_end_s": events.run_end,
            "base_station": np.array(bs_ids, dtype=object)[bs[events.user, k]], "snr_db": at_snr,
            "rate_bps": rate[events.user, k].astype(float), "ber": ber_value, "modulation": modulation}))
        waste_frames.append(pd.DataFrame({
            "policy": policy, "user": plan.waste_user, "context": names[plan.waste_context],
            "begin_s": plan.waste_begin, "end_s": plan.waste_end, "bits": plan.waste_bits}))
        load = _bs_load(np.r_[events.user, plan.waste_user], np.r_[out.begin, plan.waste_begin],
                        np.r_[out.done, plan.waste_end], bs, len(bs_ids), rate, dt, config.load_bin_s)
        n_bins = load.shape[1]
        load_frames.append(pd.DataFrame({
            "policy": policy,
            "time_s": np.tile(np.arange(n_bins) * config.load_bin_s, len(bs_ids)),
            "base_station": np.repeat(np.array(bs_ids, dtype=object), n_bins), "load_bps": load.ravel()}))
    events_df = pd.concat(frames, ignore_index=True)
    waste_df = pd.concat(waste_frames, ignore_index=True)
    load_df = pd.concat(load_frames, ignore_index=True)
    users_df = _per_user(config, movement.driver, loaded[:, 0], names, events_df, waste_df)
    overall = _overall(config, events_df, waste_df, load_df, users_df)
    tracks = _tracks(config, area, movement, required, names, dt)
    return SimulationResult(config, seed, area.name, area.contexts, bs_ids, events_df, users_df, overall,
                            load_df, waste_df, tracks)


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


def _overall(config, events, waste, load, users) -> pd.DataFrame:
    rows = []
    for policy in config.policies:
        e = events[events["policy"] == policy]
        w = waste[waste["policy"] == policy]
        ld = load[load["policy"] == policy]
        switches = len(e)
        rows.append({
            "policy": policy,
            "users": config.n_users,
            "switches": switches,
            "on_time_share": float(e["on_time"].mean()) if switches else float("nan"),
            "interruption_s": float(e["interruption_s"].sum()),
            "interruption_s_per_user": float(e["interruption_s"].sum()) / config.n_users,
            "interruption_s_per_switch": float(e["interruption_s"].mean()) if switches else 0.0,
            "interrupted_switches": int((e["interruption_s"] > 0).sum()),
            "predicted_share": float(e["predicted"].mean()) if switches else 0.0,
            "downloaded_Mbit": float(e["bits"].sum() + w["bits"].sum()) / 1e6,
            "wasted_Mbit": float(w["bits"].sum()) / 1e6,
            "peak_bs_load_Mbps": float(ld["load_bps"].max()) / 1e6 if len(ld) else 0.0,
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
    "single_accelerator": ScenarioConfig(device=DeviceConfig(accelerators=1)),
    "mostly_drivers": ScenarioConfig(movement=MovementConfig(driver_share=0.8)),
    "random_waypoint": ScenarioConfig(movement=MovementConfig(model="random_waypoint")),
    "fr2_400mhz": ScenarioConfig(link=LinkConfig(preset="5g_fr2_400mhz")),
    "benchmark_1000": ScenarioConfig(n_users=1000),
}


def scenario(name: str = "default", **changes) -> ScenarioConfig:
    """A preset scenario from :data:`SCENARIOS`, with top-level fields replaced by ``changes``."""
    check_choice("scenario", name, SCENARIOS)
    return dataclasses.replace(SCENARIOS[name], **changes)

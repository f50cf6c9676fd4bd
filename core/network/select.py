"""Sub-model selection for a device (paper Sec. 2-3): from its DSI, one sub-model per technique, by a stated rule.

Every candidate is checked, in this order, against memory, precision, latency and accuracy at the DSI's BER; the
first that fails is its ``binding`` constraint. No feasible sub-model is a normal answer, with the reasons.

Among the feasible candidates the rule chooses (``RULES``): by default the smallest download that meets every
requirement (the paper's adaptation of the model to the link and the device); or the most accurate within the
limits, where estimates whose 95 % intervals overlap the best one's count as ties and ties go to the smaller
download, so that the choice never follows a lucky estimate. Each choice keeps its runner-up and a sentence why.

An improved version of an entry (core.network.library.versions) is a candidate like any other: it has its parent's
size and its own measured accuracy, so where it is more accurate it wins the tie on size; every candidate says its
``version``, the ``parent`` it was improved from, whether it is the ``latest`` version of its sub-model and, if
not, its ``newer_version``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.compress.combine import SubModelSpec, generate
from core.network.dsi import DSI
from core.network.library import MODES, Library, state_sha256
from core.model.models import NUM_STAGES
from core.compress.payload import ALLOWED_BITS
from core.network.tiers import TIER_PRESETS, Tier, download_time
from core.link.protections import check_protection
from core.validation import check_choice, check_int, check_range

TECHNIQUES = ("depth", "parameter", "bit", "combined")  # the paper's three levels and their combination
CONSTRAINTS = ("memory", "precision", "latency", "accuracy")
# Assumption (no preset in the paper): the edge server finishing split inference runs at 100 TMAC/s, an A100-class
# GPU (312 dense fp16 TFLOPS = 156 TMAC/s) derated for batch-1 inference.
SERVER_MACS_PER_S = 1e14
RULES = {
    "smallest": "smallest download that meets every requirement",
    "most_accurate": "most accurate within the limits (estimates whose intervals overlap count as ties; ties go to "
                     "the smaller download)",
}
DEFAULT_RULE = "smallest"
Z95 = 1.959963984540054
ACCURACY_RULE = ("accuracy at the DSI's BER: the clean accuracy at BER 0; on the library's BER grid, linear in "
                 "log10(BER) between the two nearest measured points; below the grid, the value at its lowest BER "
                 "(accuracy falls with BER, so this is conservative); above the grid or without one: not measured, "
                 "so the accuracy constraint fails")


@dataclass(frozen=True)
class Selection:
    """The answer to one DSI: per technique the chosen candidate (a dict, or None) and why others were rejected.

    ``candidates`` has one row per (sub-model, inference mode) with every constraint's value, limit and verdict,
    and ``binding``: the first failing constraint, or "" when feasible.
    """

    dsi: DSI
    protection: str
    chosen: dict
    reasons: dict
    candidates: pd.DataFrame = field(repr=False)
    generated: tuple = ()
    accuracy_rule: str = ACCURACY_RULE
    seconds: float = 0.0
    rule: str = DEFAULT_RULE

    def best(self) -> dict | None:
        """Over all techniques, the pick the rule prefers: the smallest chosen download (rule ``smallest``) or the
        most accurate, ties within the intervals going to the smaller one (``most_accurate``); None if none."""
        picks = pd.DataFrame([c for c in self.chosen.values() if c is not None])
        if picks.empty:
            return None
        return _ranked(picks, self.rule).iloc[0].to_dict()

    def summary(self) -> pd.DataFrame:
        """One row per technique: the chosen sub-model and its figures, or the reason there is none."""
        rows = []
        for fam in TECHNIQUES:
            c = self.chosen.get(fam)
            base = {"technique": fam, "feasible": c is not None, "reason": self.reasons.get(fam, "")}
            base.update({k: (None if c is None else c.get(k)) for k in (
                "label", "mode", "tier", "total_bits", "latency_s", "accuracy", "accuracy_lo", "accuracy_hi",
                "accuracy_source", "generated_on_the_fly", "why", "runner_up", "version", "parent")})
            rows.append(base)
        return pd.DataFrame(rows)


def _technique(library_technique: str) -> str:
    # The uncompressed root is the depth level at k = 4 (the whole backbone on the device, nothing uplinked).
    return "depth" if library_technique == "root" else library_technique


def accuracy_at_ber(clean: float, grid: dict[float, float], ber: float) -> tuple[float, str]:
    """(accuracy, how it was obtained) at ``ber`` from the clean accuracy and measured {BER: mean accuracy}."""
    ber = check_range("ber", ber, 0.0, 0.5)
    if ber == 0.0:
        return float(clean), "clean (BER 0)"
    if not grid:
        return float("nan"), "not measured under BER (the library has no BER grid)"
    points = sorted(grid.items())
    bers = np.array([b for b, _ in points])
    accs = np.array([a for _, a in points])
    for b, a in points:
        if math.isclose(b, ber, rel_tol=1e-9):
            return float(a), f"measured at BER {b:g}"
    if ber < bers[0]:
        return float(accs[0]), f"at BER {bers[0]:g}, the grid's lowest (conservative)"
    if ber > bers[-1]:
        return float("nan"), f"not measured: BER {ber:g} is above the grid (max {bers[-1]:g})"
    value = float(np.interp(math.log10(ber), np.log10(bers), accs))
    i = int(np.searchsorted(bers, ber))
    return value, f"interpolated in log-BER between {bers[i - 1]:g} and {bers[i]:g}"


RUIN_FIELDS = ("ruin_share", "ruin_lo", "ruin_hi", "ruined", "downloads")


def _ruin_at_ber(grid: dict[float, tuple], ber: float) -> dict:
    """The share of ruined downloads (core.link.reliability.RUIN_RULE) at ``ber`` with its Wilson interval, as
    the accuracy is read (``accuracy_at_ber``: measured, interpolated in log-BER, or the grid's lowest point);
    ``ruined`` of ``downloads`` only where a cell was measured at exactly this BER (else -1 and 0). NaN where
    nothing was measured or the BER is 0 (nothing flips, so nothing is ruined: share 0)."""
    if ber == 0.0:
        return dict(zip(RUIN_FIELDS, (0.0, 0.0, 0.0, 0, 0)))
    if not grid:
        return dict(zip(RUIN_FIELDS, (math.nan, math.nan, math.nan, -1, 0)))
    share, lo, hi = (accuracy_at_ber(math.nan, {b: v[k] for b, v in grid.items()}, ber)[0] for k in range(3))
    exact = next((v for b, v in grid.items() if math.isclose(b, ber, rel_tol=1e-9)), None)
    ruined, downloads = (exact[3], exact[4]) if exact is not None else (-1, 0)
    return dict(zip(RUIN_FIELDS, (share, lo, hi, ruined, downloads)))


LATENCY_PARTS = ("access_s", "transfer_s", "retransmission_s", "load_s", "compute_s", "uplink_s", "server_s",
                 "generation_s")  # they add up to latency_s


def _latency_parts(row, mode: str, dsi: DSI, tier: Tier, server_macs_per_s: float) -> dict:
    """Seconds of each part of the time to answer for one candidate (n = the DSI's samples per task); the parts
    (``LATENCY_PARTS``) add up to ``latency_s``, and ``download_s`` is the first three together.

    access: the tier's access latency; transfer: the bits through the slower of backhaul and air link; retransmission:
    none (the receiver keeps what arrives, errors and all: the Live page's packet view prices resending); load: the
    model's memory into the accelerator at the device's load rate; compute: n x device MACs at the rate of the
    model's precision (``Hardware.macs_per_s``); in split mode n x (uplink feature bits / uplink rate + server MACs
    / server rate); generation: a sub-model made on the fly.
    """
    n = dsi.application.samples_per_task
    hw, ch = dsi.hardware, dsi.channel
    access = tier.access_latency_s
    transfer = download_time(int(row["total_bits"]), tier, ch.downlink_bps) - access
    retransmission = 0.0
    load = int(row["device_memory_bytes"]) / hw.load_rate_bytes_per_s
    # Dense MACs: a pruned model saves MACs only on sparse hardware. In split mode the device still runs its
    # exit (the backbone's early-exit check), so its MACs are the card's.
    compute = int(row["device_macs"]) * n / hw.macs_per_s(int(row["bits"]))
    uplink = server = 0.0
    if mode == "split":
        uplink = int(row["uplink_bits_per_sample"]) * n / ch.uplink_bps
        server = int(row["server_macs"]) * n / server_macs_per_s
    gen = float(row["generation_seconds"]) if row.get("generated_on_the_fly", False) else 0.0
    parts = {"access_s": access, "transfer_s": transfer, "retransmission_s": retransmission, "load_s": load,
             "compute_s": compute, "uplink_s": uplink, "server_s": server, "generation_s": gen}
    return {**parts, "download_s": access + transfer + retransmission, "latency_s": sum(parts.values())}


def clean_interval(accuracy: float, images: int | None) -> tuple[float, float]:
    """95 % Wilson interval of an accuracy measured on ``images`` test images (the clean accuracy of a card): what
    another draw of as many photos could give. Without a count, the value itself."""
    if images is None or not images or math.isnan(accuracy):
        return float(accuracy), float(accuracy)
    n, z2 = float(images), Z95 ** 2
    centre = (accuracy + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(accuracy * (1 - accuracy) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _candidate_rows(entries: pd.DataFrame, ber_table: pd.DataFrame, dsi: DSI, protection: str, tiers: dict,
                    server_macs_per_s: float, measured_at_dsi: dict | None = None,
                    test_images: int | None = None) -> list[dict]:
    hw, app, ch = dsi.hardware, dsi.application, dsi.channel
    rows = []
    # {(entry id, mode): {BER: mean accuracy}} for this protection (and the same for the interval's ends), grouped
    # once (not one mask per candidate)
    grids: dict[tuple, dict] = {}
    lows: dict[tuple, dict] = {}
    highs: dict[tuple, dict] = {}
    ruins: dict[tuple, dict] = {}  # {(entry id, mode): {BER: (ruin share, its lo, its hi, ruined, downloads)}}
    mine = ber_table[ber_table.protection == protection]
    for eid, mode, b, mean, lo, hi in zip(mine.entry_id.tolist(), mine["mode"].tolist(), mine.ber.tolist(),
                                          mine["mean"].tolist(), mine["lo"].tolist(), mine["hi"].tolist()):
        grids.setdefault((int(eid), mode), {})[b] = mean
        lows.setdefault((int(eid), mode), {})[b] = lo
        highs.setdefault((int(eid), mode), {})[b] = hi
    if "ruin_share" in mine:
        for eid, mode, b, share, r_lo, r_hi, ruined, n in zip(
                mine.entry_id.tolist(), mine["mode"].tolist(), mine.ber.tolist(), mine.ruin_share.tolist(),
                mine.ruin_lo.tolist(), mine.ruin_hi.tolist(), mine.ruined.tolist(), mine.trials.tolist()):
            ruins.setdefault((int(eid), mode), {})[b] = (share, r_lo, r_hi, int(ruined), int(n))
    for e in entries.to_dict("records"):
        modes = MODES if int(e["depth"]) < NUM_STAGES else MODES[:1]
        for mode in modes:
            if e["tier"] not in tiers:
                raise ValueError(f"tiers={list(tiers)} has no {e['tier']!r} tier for entry {e['key']!r}; "
                                 f"allowed: a dict with keys edge, local, central")
            clean = e["split_accuracy"] if mode == "split" else e["accuracy"]
            clean_lo, clean_hi = clean_interval(float(clean), test_images)
            if measured_at_dsi is not None and (e["key"], mode) in measured_at_dsi:
                acc, source, acc_lo, acc_hi = measured_at_dsi[(e["key"], mode)]
            else:
                where = (int(e["id"]), mode)
                acc, source = accuracy_at_ber(clean, grids.get(where, {}), ch.ber)
                acc_lo = accuracy_at_ber(clean_lo, lows.get(where, {}), ch.ber)[0]
                acc_hi = accuracy_at_ber(clean_hi, highs.get(where, {}), ch.ber)[0]
            lat = _latency_parts(e, mode, dsi, tiers[e["tier"]], server_macs_per_s)
            ruin = _ruin_at_ber(ruins.get((int(e["id"]), mode), {}), ch.ber)
            ok = {
                "memory": int(e["device_memory_bytes"]) <= hw.model_memory_bytes,
                # Narrower integer codes run on wider units (e.g. 4-bit codes on an 8-bit accelerator).
                "precision": int(e["bits"]) <= hw.max_bits_per_param,
                "latency": lat["latency_s"] <= app.latency_budget_s,
                "accuracy": (not math.isnan(acc)) and acc >= app.min_accuracy,
            }
            binding = next((c for c in CONSTRAINTS if not ok[c]), "")
            version = int(e.get("version", 1) or 1)
            rows.append({
                "id": e["id"], "key": e["key"], "technique": _technique(e["technique"]), "is_root": e["technique"] == "root",
                "version": version, "parent": str(e.get("parent") or ""),
                "base_key": str(e.get("base_key") or e["key"]), "latest": bool(e.get("latest", True)),
                "newer_version": str(e.get("newer_version") or ""),
                "label": e["label"] + (" + server" if mode == "split" else ""), "mode": mode,
                "depth": int(e["depth"]), "keep_ratio": float(e["keep_ratio"]), "bits": int(e["bits"]),
                "tier": e["tier"], "total_bits": int(e["total_bits"]), "size_pct_of_root": e["size_pct_of_root"],
                "memory_bytes": int(e["device_memory_bytes"]), "memory_limit_bytes": hw.model_memory_bytes,
                "device_macs": int(e["device_macs"]),
                "max_precision_bits": hw.max_bits_per_param, **lat, "latency_budget_s": app.latency_budget_s,
                "accuracy": acc, "accuracy_lo": acc_lo, "accuracy_hi": acc_hi, "clean_accuracy": float(clean),
                "accuracy_source": source, "min_accuracy": app.min_accuracy, **ruin,
                **{f"{c}_ok": ok[c] for c in CONSTRAINTS}, "binding": binding,
                "generated_on_the_fly": bool(e.get("generated_on_the_fly", False)),
            })
    return rows


def _ranked(feasible: pd.DataFrame, rule: str) -> pd.DataFrame:
    """Feasible candidates in the rule's order of preference (first = chosen, second = runner-up); between equals,
    the newer version of a sub-model first."""
    if "version" not in feasible:
        feasible = feasible.assign(version=1)
    if rule == "smallest":
        return feasible.sort_values(["total_bits", "latency_s", "accuracy", "version"],
                                    ascending=[True, True, False, False], kind="stable")
    by_accuracy = feasible.sort_values(["accuracy", "total_bits", "latency_s", "version"],
                                       ascending=[False, True, True, False], kind="stable")
    leader = by_accuracy.iloc[0]
    lo = by_accuracy.get("accuracy_lo", by_accuracy.accuracy).fillna(by_accuracy.accuracy)
    hi = by_accuracy.get("accuracy_hi", by_accuracy.accuracy).fillna(by_accuracy.accuracy)
    tied = (hi >= lo.loc[leader.name]) & (lo <= hi.loc[leader.name])  # intervals overlap the leader's
    ties = by_accuracy[tied].sort_values(["total_bits", "latency_s", "accuracy", "version"],
                                         ascending=[True, True, False, False], kind="stable")
    return pd.concat([ties, by_accuracy[~tied]])


def _mbit(bits) -> str:
    return f"{int(bits) / 1e6:.1f} Mbit" if bits >= 1e5 else f"{int(bits) / 1e3:.1f} kbit"


def _why(rule: str, ranked: pd.DataFrame, total: int) -> str:
    """One sentence: the rule, how many met every requirement, and the runner-up with why it lost."""
    n = len(ranked)
    first = ranked.iloc[0]
    if rule == "smallest":
        head = f"smallest of {n} (of {total}) that meet all four requirements"
    else:
        lo, hi = first.get("accuracy_lo", first.accuracy), first.get("accuracy_hi", first.accuracy)
        overlap = ranked[(ranked.get("accuracy_hi", ranked.accuracy) >= lo)
                         & (ranked.get("accuracy_lo", ranked.accuracy) <= hi)]
        head = (f"most accurate of {n} (of {total}) that meet all four requirements; {len(overlap)} are within "
                "the best estimate's interval and count as a tie, which goes to the smallest")
    if n < 2:
        return head + "; no other candidate meets them"
    nxt = ranked.iloc[1]
    bigger = int(nxt.total_bits) - int(first.total_bits)
    because = (f"{_mbit(bigger)} more to download" if bigger > 0 else
               f"{(first.accuracy - nxt.accuracy) * 100:.1f} points less accurate" if nxt.accuracy < first.accuracy
               else "slower to answer" if nxt.latency_s > first.latency_s else "just as good")
    if first.get("base_key", first.get("key")) == nxt.get("base_key", nxt.get("key")) \
            and first.get("version", 1) != nxt.get("version", 1):
        because += ("; the version it was improved from" if nxt.get("key") == first.get("parent") else
                    "; an older version of it" if nxt.get("version", 1) < first.get("version", 1) else
                    "; a newer version of it")
    return f"{head}; next: {nxt.label}, {_mbit(nxt.total_bits)} ({because})"


def _choose(cands: pd.DataFrame, rule: str = DEFAULT_RULE) -> tuple[dict, dict]:
    chosen, reasons = {}, {}
    for fam in TECHNIQUES:
        mine = cands[cands.technique == fam] if len(cands) else cands
        feasible = mine[mine.binding == ""] if len(mine) else mine
        if len(feasible):
            ranked = _ranked(feasible, rule)
            best = ranked.iloc[0].to_dict()
            best["why"] = _why(rule, ranked, len(mine))
            best["runner_up"] = ranked.iloc[1].label if len(ranked) > 1 else ""
            best["runner_up_bits"] = int(ranked.iloc[1].total_bits) if len(ranked) > 1 else 0
            best["feasible_count"] = len(feasible)
            chosen[fam] = best
            reasons[fam] = f"{len(feasible)} of {len(mine)} candidates feasible"
        else:
            chosen[fam] = None
            if not len(mine):
                reasons[fam] = f"no {fam} sub-model in the library"
            else:
                counts = mine.binding.value_counts()
                reasons[fam] = f"no feasible {fam} sub-model: " + ", ".join(
                    f"{c} binds for {int(counts[c])}" for c in CONSTRAINTS if c in counts)
    return chosen, reasons


def _widest_allowed(bits: int) -> int | None:
    usable = [b for b in ALLOWED_BITS if b <= bits]
    return max(usable) if usable else None


def _generation_targets(entries: pd.DataFrame, cands: pd.DataFrame, dsi: DSI, tiers: dict) -> list[SubModelSpec]:
    """Levels the DSI asks for that the library lacks: the device's own precision (bit level) and the largest keep
    ratio that fits its memory and download budget (parameter level, estimated from the library's points)."""
    specs = []
    hw, app, ch = dsi.hardware, dsi.application, dsi.channel
    want_bits = _widest_allowed(hw.max_bits_per_param)
    full = entries[(entries.depth == NUM_STAGES) & (entries.keep_ratio >= 1.0)]
    if want_bits is not None and want_bits not in set(full.bits.astype(int)):
        specs.append(SubModelSpec(bits=want_bits, retrain_steps=0))
    dense = entries[(entries.depth == NUM_STAGES) & (entries.bits == 32)].sort_values("keep_ratio")
    if len(dense) >= 2:
        ratios = dense.keep_ratio.to_numpy(float)
        # Largest keep ratio whose interpolated memory and download time fit (sizes grow with the keep ratio).
        grid = np.linspace(ratios[0], 1.0, 200) if ratios[-1] >= 1.0 else np.linspace(ratios[0], ratios[-1], 200)
        memory = np.interp(grid, ratios, dense.device_memory_bytes.to_numpy(float))
        bits = np.interp(grid, ratios, dense.total_bits.to_numpy(float))
        compute = float(dense.device_macs.iloc[-1]) * app.samples_per_task / hw.macs_per_s(32)
        fits = (memory <= hw.model_memory_bytes) & (
            np.array([download_time(b, tiers["edge"], ch.downlink_bps) for b in bits]) + compute
            <= app.latency_budget_s)
        if fits.any() and not fits.all():
            target = math.floor(grid[fits].max() * 100) / 100
            have = set(np.round(entries.keep_ratio.to_numpy(float), 2))
            fam = cands[(cands.technique == "parameter") & (cands.binding == "")]
            best_have = fam.keep_ratio.max() if len(fam) else 0.0
            if 0 < target < 1 and round(target, 2) not in have and target > best_have:
                specs.append(SubModelSpec(keep_ratio=target, retrain_steps=0))
    return specs


def _generate_on_the_fly(specs, root, data, library: Library, dsi: DSI, protection: str):
    rows, measured = [], {}
    for spec in specs:
        sub = generate(root, data, spec, library.seed)
        c = sub.card
        parts = c.bits_by_part
        key = f"generated:d{spec.depth}-r{spec.keep_ratio:g}-b{spec.bits}-s0"
        row = {"id": -1 - len(rows), "key": key, "technique": c.technique, "label": c.label + " (generated)",
               "depth": c.depth, "keep_ratio": c.keep_ratio, "bits": c.bits, "tier": "edge",
               "total_bits": c.total_bits, "size_pct_of_root": c.size_pct_of_root,
               "device_memory_bytes": c.device_memory_bytes, "device_macs": c.device_macs,
               "uplink_bits_per_sample": c.uplink_bits_per_sample, "server_macs": 0, "accuracy": c.accuracy,
               "split_accuracy": float("nan"), "generation_seconds": c.generation_seconds,
               "generated_on_the_fly": True, **{f"bits_{p}": v for p, v in parts.items() if p != "total"}}
        if dsi.channel.ber > 0:
            from core.link.reliability import EstimateConfig, estimate_accuracy

            trials = max(2, library.config.trials)
            res = estimate_accuracy(sub, data, dsi.channel.ber, protection,
                                    EstimateConfig(min_trials=2, max_trials=trials), library.seed)
            measured[(key, "exit")] = (float(res.mean), f"measured at the DSI's BER on the fly (paired estimate, "
                                                        f"{res.trials} trials of {res.images_per_trial} images, "
                                                        f"95 % interval {res.lo:.1%} to {res.hi:.1%})",
                                       float(res.lo), float(res.hi))
        rows.append(row)
    return pd.DataFrame(rows), measured


def select(dsi: DSI, library: Library, tiers: dict[str, Tier] = TIER_PRESETS, allow_generate: bool = True,
           root=None, data=None, *, protection: str = "none",
           server_macs_per_s: float = SERVER_MACS_PER_S, rule: str = DEFAULT_RULE) -> Selection:
    """For each technique, the sub-model the ``rule`` prefers (``RULES``: by default the smallest download) among
    those that fit the DSI's memory, precision, latency budget and minimum accuracy at its BER (receiver
    ``protection``); every candidate keeps its binding constraint, every choice its runner-up and why.

    Latency = download from the entry's tier + n x device MACs / compute rate, plus in split mode (depth < 4,
    server-assisted) n x (uplink feature bits / uplink rate + server MACs / ``server_macs_per_s``), with n the
    DSI's samples per task. With ``allow_generate`` and ``root``/``data`` given, a level the DSI asks for that the
    library lacks is generated on the fly without re-training (``generated_on_the_fly``, its generation time
    counted in its latency).
    """
    started = time.perf_counter()
    if not isinstance(dsi, DSI):
        raise ValueError(f"dsi={dsi!r} must be a DSI (see core.network.dsi.dsi_from_presets)")
    if not isinstance(library, Library):
        raise ValueError(f"library={library!r} must be a Library (see core.network.library.open_library)")
    if not isinstance(tiers, dict) or not all(isinstance(t, Tier) for t in tiers.values()):
        raise ValueError(f"tiers={tiers!r} must be a dict of name -> Tier, e.g. core.network.tiers.TIER_PRESETS")
    for name in ("edge", "local", "central"):
        if name not in tiers:
            raise ValueError(f"tiers={list(tiers)} has no {name!r} tier; allowed: keys edge, local, central")
    check_protection(protection)
    check_range("server_macs_per_s", server_macs_per_s, 0.0, lo_open=True)
    check_choice("rule", rule, tuple(RULES))
    if not isinstance(allow_generate, bool):
        raise ValueError(f"allow_generate={allow_generate!r} must be True or False")
    entries = library.entries()
    ber_table = library.ber_table()
    test_images = (library.data_identity or {}).get("test_samples")
    cands = pd.DataFrame(_candidate_rows(entries, ber_table, dsi, protection, tiers, server_macs_per_s,
                                         test_images=test_images))
    generated = ()
    if allow_generate and root is not None and data is not None and len(entries):
        targets = _generation_targets(entries, cands, dsi, tiers)
        if targets:
            if state_sha256(root) != library.root_sha256:
                raise ValueError("root is not the library's root model (its sha256 differs); pass the model the "
                                 "library was built from")
            new, measured = _generate_on_the_fly(targets, root, data, library, dsi, protection)
            extra = pd.DataFrame(_candidate_rows(new, ber_table.iloc[0:0], dsi, protection, tiers,
                                                 server_macs_per_s, measured, test_images))
            cands = pd.concat([cands, extra], ignore_index=True)
            generated = tuple(new.key)
    chosen, reasons = _choose(cands, rule)
    if allow_generate and (root is None or data is None):
        for fam in ("parameter", "bit"):
            if chosen[fam] is None:
                reasons[fam] += " (on-the-fly generation needs root and data)"
    return Selection(dsi, protection, chosen, reasons, cands, generated, ACCURACY_RULE,
                     round(time.perf_counter() - started, 4), rule)


# ---------------------------------------------------------------- depth level: downlink-uplink trade-off

def _split_frame(split_rows) -> pd.DataFrame:
    if isinstance(split_rows, pd.DataFrame):
        df = split_rows.copy()
    else:
        try:
            df = pd.DataFrame([r.__dict__ if hasattr(r, "__dict__") else dict(r) for r in split_rows])
        except TypeError:
            raise ValueError(f"split_rows={split_rows!r} must be SplitPoint rows (core.compress.depth.split_table) "
                             "or a DataFrame of them") from None
    need = {"depth", "download_bits", "device_macs", "uplink_bits_per_sample", "server_macs", "exit_accuracy",
            "server_accuracy"}
    if df.empty or not need <= set(df.columns):
        raise ValueError(f"split_rows has columns {sorted(df.columns)}; allowed: rows with {sorted(need)}")
    return df.sort_values("depth").reset_index(drop=True)


def library_split_points(library: Library) -> pd.DataFrame:
    """The split table (the columns of ``core.compress.depth.split_table`` that the trade-off needs) read from the
    library's depth entries (exit k, keep 100 %, fp32) and its root entry: what the library measured when it built
    them (exit accuracy and split accuracy with 8-bit features on the whole test split), so a page needs no pass
    over the test images. Raises ValueError naming the missing exits when the library lacks them."""
    if not isinstance(library, Library):
        raise ValueError(f"library={library!r} must be a core.network.library.Library")
    e = library.entries()
    full = e[(e.keep_ratio == 1.0) & (e.bits == 32)].drop_duplicates("depth").set_index("depth")
    missing = [k for k in range(1, NUM_STAGES + 1) if k not in full.index]
    if missing:
        raise ValueError(f"library {library.folder} has no fp32 entry at full width for exit(s) {missing}; "
                         "the split table needs every exit (build it with depths 1-4, keep 1.0 and bits 32)")
    rows = []
    for k in range(1, NUM_STAGES + 1):
        r = full.loc[k]
        last = k == NUM_STAGES
        rows.append({"depth": k, "download_bits": int(r.total_bits), "device_parameters": int(r.parameters),
                     "device_macs": int(r.device_macs), "exit_accuracy": float(r.accuracy),
                     "uplink_bits_per_sample": 0 if last else int(r.uplink_bits_per_sample),
                     "server_macs": 0 if last else int(r.server_macs),
                     "server_accuracy": float(r.accuracy if last else r.split_accuracy)})
    return pd.DataFrame(rows)


def depth_tradeoff(split_rows, dsi: DSI, samples: int, *, tier: Tier | None = None,
                   server_macs_per_s: float = SERVER_MACS_PER_S) -> pd.DataFrame:
    """Total latency of split inference on ``samples`` samples per split point, and the best (fastest) split.

    total = download(k) + n x (device MACs / compute + uplink feature bits(k) / uplink rate + server MACs / server
    rate); at k = 4 nothing goes up. Deeper splits download more and uplink less (paper Sec. 2.1).
    """
    if not isinstance(dsi, DSI):
        raise ValueError(f"dsi={dsi!r} must be a DSI")
    n = check_int("samples", samples, 1)
    tier = TIER_PRESETS["edge"] if tier is None else tier
    if not isinstance(tier, Tier):
        raise ValueError(f"tier={tier!r} must be a Tier, e.g. TIER_PRESETS['edge']")
    check_range("server_macs_per_s", server_macs_per_s, 0.0, lo_open=True)
    df = _split_frame(split_rows)
    hw, ch = dsi.hardware, dsi.channel
    last = df.depth >= NUM_STAGES
    out = pd.DataFrame({"depth": df.depth.astype(int), "samples": n, "download_bits": df.download_bits})
    out["download_s"] = [download_time(int(b), tier, ch.downlink_bps) for b in df.download_bits]
    out["compute_s"] = df.device_macs * n / hw.macs_per_s(32)  # the split table's exits are fp32
    out["uplink_s"] = np.where(last, 0.0, df.uplink_bits_per_sample * n / ch.uplink_bps)
    out["server_s"] = np.where(last, 0.0, df.server_macs * n / server_macs_per_s)
    out["total_s"] = out.download_s + out.compute_s + out.uplink_s + out.server_s
    out["accuracy"] = np.where(last, df.exit_accuracy, df.server_accuracy)
    out["within_budget"] = out.total_s <= dsi.application.latency_budget_s
    out["best"] = False
    out.loc[out.total_s.idxmin(), "best"] = True
    return out


def best_split_by_samples(split_rows, dsi: DSI, samples, **kwargs) -> pd.DataFrame:
    """The best split point for each number of samples (the trade-off's turning points)."""
    rows = []
    for n in samples:
        t = depth_tradeoff(split_rows, dsi, n, **kwargs)
        best = t[t.best].iloc[0]
        rows.append({"samples": int(n), "best_depth": int(best.depth), "total_s": float(best.total_s),
                     "within_budget": bool(best.within_budget)})
    return pd.DataFrame(rows)

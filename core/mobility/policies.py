"""When to download: the reactive, predictive and oracle policies, the predictions the predictive policy acts on
(next place from core.mobility.predict, refined by the route; entry time), and the outcome of each model switch on
a device with one or two AI accelerators (paper Sec. 3, Fig. 2). Transfers themselves run in core.mobility.cell."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.mobility.area import Area
from core.mobility.link import RateTimeline
from core.mobility.movement import DWELL, MOVE, Movement
from core.mobility.predict import DEFAULT_PREDICTOR, PREDICTORS, NextPlaceModel
from core.validation import check_choice, check_int, check_range

POLICIES = ("reactive", "predictive", "oracle")
BRISK_FACTOR = 1.25        # a leg may be this much faster than the user's usual speed (planning assumption)
CHECKPOINTS = 6            # predictions per trip: at departure, then at each of the next street nodes


@dataclass(frozen=True)
class PolicyConfig:
    """Settings of the predictive policy (the others have none)."""
    margin_s: float = 10.0       # aim to finish this long before the predicted need
    rate_safety: float = 0.8     # plan with this share of the predicted rate
    predictor: str = DEFAULT_PREDICTOR   # next-place predictor (core.mobility.predict.PREDICTORS)
    min_confidence: float = 0.5  # prefetch only when the predicted place has at least this share of the history

    def __post_init__(self):
        check_range("policy.margin_s", self.margin_s, 0, None)
        check_range("policy.rate_safety", self.rate_safety, 0, 1, lo_open=True)
        check_choice("policy.predictor", self.predictor, PREDICTORS)
        check_range("policy.min_confidence", self.min_confidence, 0, 1)


@dataclass(frozen=True)
class DeviceConfig:
    """The device of paper Fig. 2. With two accelerators a model loads into the spare memory while the old one
    runs; with one, the application stops while the new model loads. Load figures are assumptions."""
    accelerators: int = 2
    load_rate_bps: float = 8e9       # memory to accelerator, ~1 GB/s
    load_overhead_s: float = 0.3     # runtime set-up per model (delegate init, warm-up)

    def __post_init__(self):
        check_int("device.accelerators", self.accelerators, 1, 2)
        check_range("device.load_rate_bps", self.load_rate_bps, 0, None, lo_open=True)
        check_range("device.load_overhead_s", self.load_overhead_s, 0, None)

    def load_time_s(self, bits) -> np.ndarray:
        return self.load_overhead_s + np.asarray(bits, dtype=float) / self.load_rate_bps


@dataclass(frozen=True, eq=False)
class Sizes:
    """Model bits and AI-library tier latency per (device class, context), and each user's device class."""
    bits_table: np.ndarray       # (device classes, contexts)
    latency_table: np.ndarray    # (device classes, contexts)
    device: np.ndarray           # (users,) device class index

    def bits(self, user, ctx) -> np.ndarray:
        return self.bits_table[self.device[user], ctx]

    def latency(self, user, ctx) -> np.ndarray:
        return self.latency_table[self.device[user], ctx]


@dataclass(frozen=True, eq=False)
class NeedEvents:
    """Each moment a user needs a model other than the one loaded, in time order per user."""
    user: np.ndarray
    step: np.ndarray
    t_need: np.ndarray
    context: np.ndarray
    window_open: np.ndarray     # previous switch of the user (the spare memory is free from then), or 0
    run_end: np.ndarray         # when the need ends (the user leaves or needs another model)


@dataclass(frozen=True, eq=False)
class LegPredictions:
    """What the predictive policy expects during each leg, at ``checkpoints`` moments (columns): at the start of
    the leg, then as the trajectory passes street nodes. Context -1: nothing to download."""
    user: np.ndarray            # (legs,)
    t_leg_end: np.ndarray       # (legs,)
    move: np.ndarray            # (legs,) the leg is a trip (not a stay)
    actual: np.ndarray          # (legs,) the place a trip actually leads to first, or -1
    place: np.ndarray           # (legs, checkpoints) predicted next place, or -1
    t_decide: np.ndarray        # (legs, checkpoints), non-decreasing along a row
    context: np.ndarray         # (legs, checkpoints)
    t_need: np.ndarray          # (legs, checkpoints) predicted need
    rate_bps: np.ndarray        # (legs, checkpoints) predicted download rate, before the safety factor


def required_contexts(movement: Movement, area: Area) -> np.ndarray:
    """(users, steps) context each user's application needs: its place's, the road context while a driver is in
    transit, -1 for a walker in transit (the current model simply stays)."""
    ctx = area.place_context
    road = area.contexts.index(area.road_context) if area.road_context else -1
    transit = np.where(movement.driver, road, -1).astype(np.int16)
    return np.where(movement.place >= 0, ctx[np.maximum(movement.place, 0)], transit[:, None]).astype(np.int16)


def loaded_contexts(required: np.ndarray) -> np.ndarray:
    """The model held when every switch happens in time: the last context required so far (-1 before any)."""
    steps = required.shape[1]
    last = np.where(required >= 0, np.arange(steps), -1)
    last = np.maximum.accumulate(last, axis=1)
    held = np.take_along_axis(required, np.maximum(last, 0), axis=1)
    return np.where(last >= 0, held, -1).astype(np.int16)


def need_events(required: np.ndarray, step_s: float) -> tuple[NeedEvents, np.ndarray]:
    """Switch events from the required-context grid; also returns the loaded-context grid."""
    loaded = loaded_contexts(required)
    n, steps = required.shape
    user, step = np.nonzero(loaded[:, 1:] != loaded[:, :-1])
    step = step + 1
    # First step after each event where the requirement changes: a reverse running minimum of change steps.
    change = np.full((n, steps + 1), steps, dtype=np.int32)
    change[:, 1:steps][required[:, 1:] != required[:, :-1]] = np.nonzero(
        required[:, 1:] != required[:, :-1])[1] + 1
    next_change = np.minimum.accumulate(change[:, ::-1], axis=1)[:, ::-1]
    run_end = next_change[user, step + 1] * step_s
    t_need = step * step_s
    first = np.r_[True, user[1:] != user[:-1]] if len(user) else np.zeros(0, bool)
    window = np.where(first, 0.0, np.r_[0.0, t_need[:-1]])
    return NeedEvents(user, step, t_need, loaded[user, step].astype(np.int64), window, run_end), loaded


def actual_next_place(movement: Movement, step_s: float) -> np.ndarray:
    """Per leg: the first place the user is at after the leg starts, if reached before the leg ends, else -1."""
    legs = movement.legs
    n, steps = movement.place.shape
    at = np.where(movement.place >= 0, np.arange(steps), steps)
    first = np.minimum.accumulate(at[:, ::-1], axis=1)[:, ::-1]            # next step at a place, or steps
    k0 = np.clip(np.floor(legs.t_start / step_s).astype(np.int64) + 1, 0, steps - 1)
    k = first[legs.user, k0]
    ok = (k < steps) & (k * step_s <= legs.t_end + step_s)
    return np.where(ok, movement.place[legs.user, np.minimum(k, steps - 1)], -1).astype(np.int64)


def _ray_first_place(start: np.ndarray, velocity: np.ndarray, centres: np.ndarray, radius: np.ndarray):
    """First place disc a straight line from ``start`` along ``velocity`` enters: (index or -1, distance)."""
    speed = np.maximum(np.hypot(velocity[:, 0], velocity[:, 1]), 1e-9)
    direction = velocity / speed[:, None]
    rel = centres[None, :, :] - start[:, None, :]                       # (legs, places, 2)
    along = (rel * direction[:, None, :]).sum(axis=-1)
    perp2 = (rel ** 2).sum(axis=-1) - along ** 2
    inside = (rel ** 2).sum(axis=-1) <= radius[None] ** 2
    hit = (perp2 <= radius[None] ** 2) & (along > 0) & ~inside
    entry = np.where(hit, along - np.sqrt(np.maximum(radius[None] ** 2 - perp2, 0.0)), np.inf)
    best = entry.argmin(axis=1)
    dist = entry[np.arange(len(best)), best]
    return np.where(np.isfinite(dist), best, -1), dist


def _street_checkpoints(movement: Movement, area: Area, model: NextPlaceModel, predictor: str, move: np.ndarray,
                        checkpoints: int, min_confidence: float):
    """Destination guesses for street trips: at departure from the predictor alone, then at each of the next street
    nodes among the places whose shortest path agrees with the route seen so far (the trajectory)."""
    legs = movement.legs
    a, b = legs.place_from[move], legs.place_to[move]
    route = area.paths[a, b]                                            # (moves, max_len) what the user walks
    candidates = area.paths[a]                                          # (moves, places, max_len)
    place_len = area.path_len[a, b]
    total = np.maximum(area.place_dist[a, area.place_nodes[b]], 1e-9)
    duration = legs.t_end[move] - legs.t_start[move]
    user, prev = legs.user[move], legs.place_prev[move]
    shape = (int(move.sum()), checkpoints)
    guess, t_decide, t_need = np.zeros(shape, np.int64), np.zeros(shape), np.zeros(shape)
    confident = np.zeros(shape, bool)
    for k in range(checkpoints):
        seen = min(k + 1, route.shape[1])
        # Stop refining before the destination itself: by then the user is arriving, which is reacting.
        refine = (k == 0) | (k < place_len - 1)
        agree = (candidates[:, :, :seen] == route[:, None, :seen]).all(axis=2)
        g, conf = model.predict_with_confidence(predictor, user, prev, a, agree)
        g0, conf0 = model.predict_with_confidence(predictor, user, prev, a)
        g, conf = np.where(g >= 0, g, g0), np.where(g >= 0, conf, conf0)   # nothing agrees: history alone
        here = route[:, seen - 1]
        walked = area.place_dist[a, here]
        d = legs.t_start[move] + duration * walked / total
        # At departure only the user's usual speed is known: plan for a brisk leg (25 % faster), so that an early
        # arrival still finds the model; on the way, the speed of this very leg is seen (walked / elapsed).
        speed = np.where(walked > 0, walked / np.maximum(d - legs.t_start[move], 1e-9),
                         legs.speed[move] * BRISK_FACTOR)
        need = d + area.place_dist[g, here] / speed
        prev_k = max(k - 1, 0)
        guess[:, k] = np.where(refine, g, guess[:, prev_k])
        confident[:, k] = np.where(refine, conf >= min_confidence, confident[:, prev_k])
        t_decide[:, k] = np.where(refine, d, t_decide[:, prev_k])
        t_need[:, k] = np.where(refine, need, t_need[:, prev_k])
    return guess, t_decide, t_need, confident


def predict_legs(movement: Movement, area: Area, loaded: np.ndarray, rate: np.ndarray, place_rate: np.ndarray,
                 cfg: PolicyConfig, step_s: float, street_model: bool, model: NextPlaceModel | None = None,
                 predictor: str | None = None, checkpoints: int = CHECKPOINTS) -> LegPredictions:
    """Predictions during each leg from what the network can see: position, heading and speed (the
    trajectory), the user's history (next place, speed) and the population's dwell per place."""
    predictor = predictor or cfg.predictor
    check_choice("predictor", predictor, PREDICTORS)
    legs = movement.legs
    n_legs = len(legs.user)
    steps = rate.shape[1]
    ctx_of_place = area.place_context.astype(np.int64)
    shape = (n_legs, checkpoints)
    place = np.full(shape, -1, dtype=np.int64)
    context = np.full(shape, -1, dtype=np.int64)
    t_need = np.full(shape, np.inf)
    t_decide = np.repeat(legs.t_start[:, None], checkpoints, axis=1)
    move = legs.kind == MOVE
    unsure = np.zeros(shape, bool)       # a guess too uncertain to act on: no prefetch (the policy reacts)
    if street_model:
        model = model or NextPlaceModel.fit(movement.history, len(area.places))
        place[move], t_decide[move], t_need[move], confident = _street_checkpoints(
            movement, area, model, predictor, move, checkpoints, cfg.min_confidence)
        unsure[move] = ~confident
        # A driver parked at a place will need the navigation model again when leaving: plan for an early
        # departure (the 10th percentile of the stays seen in the history), so that most departures find it ready.
        road = area.contexts.index(area.road_context) if area.road_context else -1
        leaving = (legs.kind == DWELL) & movement.driver[legs.user] & (road >= 0)
        context[leaving] = road
        # The window's first stays began before the window, at a time not simulated: fetch the model right away.
        early = np.where(legs.t_start[leaving] > 0, movement.history_dwell_low_s[legs.place_to[leaving]], 0.0)
        t_need[leaving] = (legs.t_start[leaving] + early)[:, None]
    else:
        # Random waypoint: the heading is the whole trajectory, so one guess per leg (repeated per checkpoint).
        radius = np.array([p.radius_m for p in area.places])
        hit, dist = _ray_first_place(legs.start_xy[move], legs.velocity[move], area.place_xy, radius)
        speed = np.maximum(np.hypot(*legs.velocity[move].T), 1e-9)
        place[move] = hit[:, None]
        t_need[move] = (legs.t_start[move] + dist / speed)[:, None]
    has_place = place >= 0
    context[has_place] = ctx_of_place[place[has_place]]
    context[unsure] = -1
    # Planning rate: the lower of the rate now and the coverage-map rate where the user is expected to be.
    users = np.repeat(legs.user[:, None], checkpoints, axis=1)
    step_now = np.clip(np.floor(t_decide / step_s).astype(np.int64), 0, steps - 1)
    rate_now = rate[users, step_now].astype(np.float64)
    rate_there = np.where(has_place, place_rate[np.maximum(place, 0)], rate_now)
    # Nothing to download when the predicted model is the one the device will hold anyway.
    step_after = np.clip(np.ceil(legs.t_start / step_s).astype(np.int64) + 1, 0, steps - 1)
    context[context == loaded[legs.user, step_after][:, None]] = -1
    return LegPredictions(legs.user, legs.t_end, move, actual_next_place(movement, step_s), place, t_decide,
                          context, t_need, np.minimum(rate_now, rate_there))


def next_place_accuracy(pred: LegPredictions) -> dict:
    """Share of trips whose next place was predicted right, at departure and after the route refined it (over
    trips that reach a place; a trip with no guess counts as wrong)."""
    judged = pred.move & (pred.actual >= 0)
    if not judged.any():
        return {"trips": 0, "next_place_accuracy": float("nan"), "next_place_accuracy_route": float("nan")}
    return {"trips": int(judged.sum()),
            "next_place_accuracy": float((pred.place[judged, 0] == pred.actual[judged]).mean()),
            "next_place_accuracy_route": float((pred.place[judged, -1] == pred.actual[judged]).mean())}


@dataclass(frozen=True, eq=False)
class Plan:
    """Download start times chosen by a policy, plus the transfers of wrongly predicted models: they start at
    ``waste_begin`` (after the tier latency) and are cancelled at ``waste_cancel`` unless finished before."""
    start: np.ndarray            # per need event
    predicted: np.ndarray        # per need event: started from a correct prediction
    waste_user: np.ndarray
    waste_context: np.ndarray
    waste_begin: np.ndarray
    waste_cancel: np.ndarray


def _match_predictions(events: NeedEvents, user: np.ndarray, t_decide: np.ndarray, t_leg_end: np.ndarray,
                       step_s: float) -> np.ndarray:
    """Index of the event each prediction is about: the user's first event after the decision and no later than
    the end of the leg, or -1. Decision times within a step of the event do not count (that is reacting)."""
    n_events = len(events.user)
    if n_events == 0 or len(user) == 0:
        return np.full(len(user), -1)
    span = float(max(events.t_need.max(), t_leg_end.max(), 0.0)) * 2 + 10.0
    key = events.user * span + events.t_need
    first = np.searchsorted(key, user * span + t_decide + step_s, side="right")
    first = np.minimum(first, n_events - 1)
    ok = ((events.user[first] == user) & (events.t_need[first] > t_decide + step_s)
          & (events.t_need[first] <= t_leg_end + step_s))
    return np.where(ok, first, -1)


def plan_downloads(policy: str, events: NeedEvents, pred: LegPredictions | None, sizes: Sizes,
                   device: DeviceConfig, cfg: PolicyConfig, timeline: RateTimeline, step_s: float) -> Plan:
    """Start time of every needed download under ``policy``.

    reactive starts at the need; oracle knows the future and starts as late as it can while still being ready
    at the need on ``timeline`` (the rates it expects, cell sharing included), or as soon as the spare memory is
    free when nothing later would do; predictive starts so that, at the predicted rate, the download is ready
    ``margin_s`` before the predicted need, never before the spare memory is free; it cancels a download when a
    later checkpoint of the same leg changes its guess, and reacts at the need when it guessed wrong."""
    check_choice("policy", policy, POLICIES)
    empty = np.zeros(0)
    no_waste = (empty.astype(np.int64), empty.astype(np.int64), empty, empty)
    if policy == "reactive":
        return Plan(events.t_need.copy(), np.zeros(len(events.user), bool), *no_waste)
    if policy == "oracle":
        # Just in time with perfect knowledge: the latest start that is still ready at the need (less a 1 ms
        # guard against rounding); when even the earliest start is too late, the earliest start.
        ctx, user = events.context, events.user
        bits = sizes.bits(user, ctx)
        ready_by = events.t_need - 1e-3
        if device.accelerators == 2:
            ready_by = ready_by - device.load_time_s(bits)
        transfer = timeline.time_of_bits(user, timeline.bits_at(user, ready_by) - bits)
        latest = np.minimum(transfer - sizes.latency(user, ctx), events.t_need)
        return Plan(np.maximum(latest, events.window_open), np.zeros(len(events.user), bool), *no_waste)
    n_legs = len(pred.user)
    cur_ctx = np.full(n_legs, -1, dtype=np.int64)
    cur_begin = np.full(n_legs, np.inf)
    waste = []
    for k in range(pred.context.shape[1]):
        ctx, decide = pred.context[:, k], pred.t_decide[:, k]
        c = np.maximum(ctx, 0)
        bits, latency = sizes.bits(pred.user, c), sizes.latency(pred.user, c)
        planned_rate = np.maximum(pred.rate_bps[:, k] * cfg.rate_safety, 1.0)
        duration = latency + bits / planned_rate
        if device.accelerators == 2:
            duration = duration + device.load_time_s(bits)
        begin = np.maximum(decide, pred.t_need[:, k] - cfg.margin_s - duration)
        changed = ctx != cur_ctx
        dropped = changed & (cur_ctx >= 0) & (cur_begin < decide)
        if dropped.any():
            u, cc = pred.user[dropped], cur_ctx[dropped]
            waste.append((u, cc, cur_begin[dropped] + sizes.latency(u, cc), decide[dropped]))
        not_started = ~changed & (cur_begin > decide)
        cur_begin = np.where(changed, np.where(ctx >= 0, begin, np.inf),
                             np.where(not_started, np.minimum(cur_begin, begin), cur_begin))
        cur_ctx = ctx
    start = events.t_need.copy()
    predicted = np.zeros(len(events.user), bool)
    p = np.nonzero(cur_ctx >= 0)[0]
    target = _match_predictions(events, pred.user[p], pred.t_decide[p, -1], pred.t_leg_end[p], step_s)
    ctx = cur_ctx[p]
    matched = target >= 0
    right = matched.copy()          # (no event at all: nothing matches, and nothing may be looked up)
    right[matched] = events.context[target[matched]] == ctx[matched]
    # Several legs may guess the same event; the latest one (legs are in time order) decides.
    hit_all, begin_right = target[right], cur_begin[p][right]
    _, last = np.unique(hit_all[::-1], return_index=True)
    keep_last = len(hit_all) - 1 - last
    hit = hit_all[keep_last]
    start[hit] = np.minimum(np.maximum(begin_right[keep_last], events.window_open[hit]), events.t_need[hit])
    predicted[hit] = start[hit] < events.t_need[hit]
    # A wrong download runs until the user reveals otherwise: an event with another model, or the leg's end.
    wrong = ~right
    cancel = pred.t_leg_end[p][wrong] + step_s
    revealed = matched[wrong]
    cancel[revealed] = events.t_need[target[wrong][revealed]]
    u, cc = pred.user[p][wrong], ctx[wrong]
    waste.append((u, cc, cur_begin[p][wrong] + sizes.latency(u, cc), cancel))
    wu, wc, wb, we = (np.concatenate(col) for col in zip(*waste))
    keep = wb < we                                      # cancelled before it started: nothing was sent
    order = np.lexsort((wb[keep], wu[keep]))
    return Plan(start, predicted, *(col[keep][order] for col in (wu, wc, wb, we)))


@dataclass(frozen=True, eq=False)
class Outcome:
    """What each switch costs: when the model is downloaded and ready, and the seconds the application waits."""
    begin: np.ndarray
    done: np.ndarray
    ready: np.ndarray
    on_time: np.ndarray
    interruption_s: np.ndarray


def switch_outcome(events: NeedEvents, start: np.ndarray, done: np.ndarray, sizes: Sizes,
                   device: DeviceConfig) -> Outcome:
    """Load and switch for every event whose download started at ``start`` and finished at ``done`` (from
    core.mobility.cell). Two accelerators: the load happens in the spare memory, so an on-time model costs
    nothing. One accelerator: the application stops for the load at every switch."""
    ctx = events.context
    begin = start + sizes.latency(events.user, ctx)
    load = device.load_time_s(sizes.bits(events.user, ctx))
    if device.accelerators == 2:
        ready = done + load
        on_time = ready <= events.t_need
        wait = np.maximum(ready - events.t_need, 0.0)
    else:
        ready = np.maximum(done, events.t_need) + load
        on_time = done <= events.t_need
        wait = np.maximum(done - events.t_need, 0.0) + load
    # The application only waits while it still needs the model.
    wait = np.minimum(wait, np.maximum(events.run_end - events.t_need, 0.0))
    return Outcome(begin, done, ready, on_time, wait)

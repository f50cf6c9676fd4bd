"""Movement models for the mobility simulator, vectorised over users with a seeded numpy Generator: users with
daily routines (home, work, lunch, leisure: a working-day model like the ONE simulator's), habit-driven trips on
the street graph, and random waypoint (the unpredictable baseline). Each model also writes the users' past visits,
the history that next-place predictors learn from."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.mobility.area import Area
from core.validation import check_choice, check_int, check_range

MOVEMENT_MODELS = ("routine", "streets", "random_waypoint")
# One day of the routine model, in order; after leisure the user goes home and the next day starts.
ROUTINE = ("home", "work", "lunch", "work", "leisure")
MOVE, DWELL = 0, 1


@dataclass(frozen=True)
class MovementConfig:
    """How users move. Speeds are nominal per user; each leg scales them by a log-normal factor."""
    model: str = "routine"
    driver_share: float = 0.3            # share of users who drive (they need the navigation model on roads)
    walk_speed_mps: float = 1.4          # typical pedestrian speed
    drive_speed_mps: float = 9.0         # ~32 km/h, urban traffic in Central
    speed_spread: float = 0.15           # sigma of the per-leg log-normal speed factor
    dwell_scale: float = 1.0             # multiplies each place's median dwell
    dwell_spread: float = 0.5            # sigma of the log-normal dwell
    habit: float = 0.5                   # Gamma shape of personal place preferences: small = habitual users
    distance_scale_m: float = 800.0      # gravity model: far places are visited less
    history_trips: int = 40              # past trips per user that the next-place predictors learn from
    new_user_share: float = 0.1          # users without history (the predictors fall back to the crowd)
    errand_share: float = 0.08           # routine: chance that a trip is an unplanned errand to another place
    rwp_speed_range: tuple[float, float] = (0.8, 1.8)
    rwp_pause_max_s: float = 300.0
    start_places: tuple[str, ...] | None = None          # first users start at these places
    start_latlon: tuple[tuple[float, float], ...] | None = None  # or at these points

    def __post_init__(self):
        check_choice("movement.model", self.model, MOVEMENT_MODELS)
        check_range("movement.driver_share", self.driver_share, 0, 1)
        check_range("movement.walk_speed_mps", self.walk_speed_mps, 0, 50, lo_open=True)
        check_range("movement.drive_speed_mps", self.drive_speed_mps, 0, 100, lo_open=True)
        check_range("movement.speed_spread", self.speed_spread, 0, 1)
        check_range("movement.dwell_scale", self.dwell_scale, 0, None, lo_open=True)
        check_range("movement.dwell_spread", self.dwell_spread, 0, 3)
        check_range("movement.habit", self.habit, 0, None, lo_open=True)
        check_range("movement.distance_scale_m", self.distance_scale_m, 0, None, lo_open=True)
        check_int("movement.history_trips", self.history_trips, 0, 2_000)
        check_range("movement.new_user_share", self.new_user_share, 0, 1)
        check_range("movement.errand_share", self.errand_share, 0, 1)
        lo, hi = self.rwp_speed_range
        check_range("movement.rwp_speed_range[0]", lo, 0, 50, lo_open=True)
        check_range("movement.rwp_speed_range[1]", hi, lo, 50)
        check_range("movement.rwp_pause_max_s", self.rwp_pause_max_s, 0, None)


@dataclass(frozen=True, eq=False)
class Legs:
    """Every move and dwell of every user, one row each (arrays of equal length)."""
    user: np.ndarray
    kind: np.ndarray        # MOVE or DWELL
    t_start: np.ndarray
    t_end: np.ndarray
    place_from: np.ndarray  # place index at the start (-1: none)
    place_to: np.ndarray    # place index at the end (-1: none); for a dwell, the place
    start_xy: np.ndarray    # (n, 2)
    velocity: np.ndarray    # (n, 2) m/s at the start of the leg
    speed: np.ndarray       # nominal speed of the user, as learned from history
    place_prev: np.ndarray  # the place visited before ``place_from`` (-1: unknown), for order-2 predictors


@dataclass(frozen=True, eq=False)
class Movement:
    """Positions on the time grid and what the predictors may learn from the users' history."""
    xy: np.ndarray                 # (users, steps, 2) float32 metres
    place: np.ndarray              # (users, steps) int16, place index or -1 in transit
    driver: np.ndarray             # (users,) bool
    legs: Legs
    history: np.ndarray            # (users, k) int16 past places in visit order, -1 padded at the front
    history_dwell_s: np.ndarray    # (places,) mean dwell seen in the history
    history_dwell_low_s: np.ndarray  # (places,) 10th percentile of the dwell (when a departure may come first)


def _sample_rows(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One categorical draw per row of non-negative ``weights`` (rows, k), vectorised."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights))[:, None] * cum[:, -1:]
    return np.minimum((cum < u).sum(axis=1), weights.shape[1] - 1)


def _start_places(area: Area, cfg: MovementConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    pop = np.array([p.popularity for p in area.places])
    start = _sample_rows(rng, np.tile(pop, (n, 1)))
    if cfg.start_places:
        given = np.array([area.place_index(p) for p in cfg.start_places[:n]])
        start[:len(given)] = given
    if cfg.start_latlon:
        xy = area.check_inside("movement.start_latlon", cfg.start_latlon)[:n]
        d = np.hypot(*(xy[:, None, :] - area.place_xy[None]).transpose(2, 0, 1))
        start[:len(xy)] = d.argmin(axis=1)
    return start


def _sample_grid(times: np.ndarray, pos: np.ndarray, label: np.ndarray, steps: int, step_s: float):
    """Positions and labels at t = k * step_s from per-user piecewise-linear waypoints, all users at once.

    ``times`` (users, k) must be non-decreasing per row with the last entry beyond the horizon. One global
    searchsorted over rows shifted by a per-user offset replaces a per-user loop."""
    n, k = times.shape
    horizon = steps * step_s
    span = 3.0 * horizon + 10.0
    flat_t = (np.minimum(times, 2.0 * horizon + 5.0) + span * np.arange(n)[:, None]).ravel()
    grid = np.arange(steps) * step_s
    query = (grid[None, :] + span * np.arange(n)[:, None]).ravel()
    j = np.searchsorted(flat_t, query, side="right") - 1
    j1 = np.minimum(j + 1, flat_t.size - 1)
    dt = flat_t[j1] - flat_t[j]
    frac = np.where(dt > 0, (query - flat_t[j]) / np.where(dt > 0, dt, 1.0), 0.0).astype(np.float32)
    p = pos.reshape(-1, 2).astype(np.float32)
    xy = p[j] + (p[j1] - p[j]) * frac[:, None]
    return xy.reshape(n, steps, 2), label.ravel()[j].reshape(n, steps)


def _personal_transitions(area: Area, cfg: MovementConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """(users, places, places) transition weights: popularity x personal preference x distance decay."""
    dist = area.place_place_dist
    pop = np.array([p.popularity for p in area.places])
    pref = rng.gamma(cfg.habit, 1.0, size=(n, len(area.places))) + 1e-3
    base = np.exp(-dist / cfg.distance_scale_m) * pop[None, :]
    np.fill_diagonal(base, 0.0)
    return base[None, :, :] * pref[:, None, :]


def _dwell(area: Area, cfg: MovementConfig, place: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    median = np.array([p.dwell_median_s for p in area.places])[place] * cfg.dwell_scale
    return median * rng.lognormal(0.0, cfg.dwell_spread, size=place.shape)


class _Habits:
    """Next place from personal habits: a first-order chain per user (popularity x preference x distance)."""

    def __init__(self, area: Area, cfg: MovementConfig, n: int, rng: np.random.Generator):
        self.trans = _personal_transitions(area, cfg, n, rng)
        self.users = np.arange(n)
        self.current = _sample_rows(rng, np.tile(np.array([p.popularity for p in area.places]), (n, 1)))

    def step(self, rng: np.random.Generator) -> np.ndarray:
        self.current = _sample_rows(rng, self.trans[self.users, self.current])
        return self.current


class _Routine:
    """A working day per user (home, work, lunch, work, leisure, then home again), each stop a place serving that
    role; with ``errand_share`` a trip goes to another place first (an errand), then the day resumes."""

    def __init__(self, area: Area, cfg: MovementConfig, n: int, rng: np.random.Generator):
        n_places = len(area.places)
        pop = np.array([p.popularity for p in area.places])
        dist = area.place_place_dist
        near = np.exp(-dist / cfg.distance_scale_m)
        chosen = {}
        taken = np.zeros((n, n_places), bool)

        def pick(role: str, weights: np.ndarray) -> np.ndarray:
            allowed = np.zeros(n_places, bool)
            allowed[list(area.roles[role])] = True
            w = np.where(allowed[None, :] & ~taken, weights, 0.0)
            # A role whose places are all taken by this user's other roles may use any other place.
            w = np.where(w.sum(axis=1, keepdims=True) > 0, w, np.where(~taken, weights, 0.0))
            out = _sample_rows(rng, w + 1e-12 * ~taken)
            taken[np.arange(n), out] = True
            return out

        chosen["home"] = pick("home", np.tile(pop, (n, 1)))
        chosen["work"] = pick("work", np.tile(pop, (n, 1)))
        chosen["lunch"] = pick("lunch", near[chosen["work"]] * pop)
        chosen["leisure"] = pick("leisure", (near[chosen["home"]] + near[chosen["work"]]) * pop)
        self.day = np.stack([chosen[r] for r in ROUTINE], axis=1)            # (users, 5)
        self.errand = _personal_transitions(area, cfg, n, rng)
        self.errand_share = cfg.errand_share
        self.users = np.arange(n)
        self.pos = rng.integers(0, len(ROUTINE), n)                          # where in the day each user is
        self.current = self.day[self.users, self.pos]

    def step(self, rng: np.random.Generator) -> np.ndarray:
        planned_pos = (self.pos + 1) % len(ROUTINE)
        planned = self.day[self.users, planned_pos]
        errand = (rng.random(len(self.users)) < self.errand_share) & (self.current == self.day[self.users, self.pos])
        other = _sample_rows(rng, self.errand[self.users, self.current])
        nxt = np.where(errand & (other != planned), other, planned)
        self.pos = np.where(nxt == planned, planned_pos, self.pos)
        # Same place twice in a row is no trip: skip ahead (a user whose lunch place is the workplace).
        same = nxt == self.current
        if same.any():
            self.pos[same] = (self.pos[same] + 1) % len(ROUTINE)
            nxt[same] = self.day[self.users[same], self.pos[same]]
        self.current = nxt
        return nxt


def _history(area: Area, cfg: MovementConfig, chooser, n: int, rng: np.random.Generator):
    """Past visits (users, history_trips + 1), ending at the place where each user is when the window opens,
    and the mean and low dwell per place seen in them. New users' past is hidden from the predictors."""
    n_places = len(area.places)
    visits = [chooser.current.copy()]
    dwell_place, dwell_value = [], []
    for _ in range(cfg.history_trips):
        nxt = chooser.step(rng)
        dwell_place.append(nxt)
        dwell_value.append(_dwell(area, cfg, nxt, rng))
        visits.append(nxt.copy())
    history = np.stack(visits, axis=1).astype(np.int16)
    new = rng.random(n) < cfg.new_user_share
    visible = history.copy()
    visible[new, :-1] = -1       # the network sees where a new user is, not where they have been
    place_dwell = np.array([p.dwell_median_s for p in area.places]) * cfg.dwell_scale
    mean_dwell, low_dwell = place_dwell.copy(), place_dwell * np.exp(-1.2816 * cfg.dwell_spread)
    if dwell_place:
        dp, dv = np.concatenate(dwell_place), np.concatenate(dwell_value)
        seen_users = np.repeat(~new[None, :], len(dwell_place), axis=0).ravel()
        dp, dv = dp[seen_users], dv[seen_users]
        order = np.argsort(dp, kind="stable")
        dp, dv = dp[order], dv[order]
        bounds = np.searchsorted(dp, np.arange(n_places + 1))
        for p in range(n_places):
            chunk = dv[bounds[p]:bounds[p + 1]]
            if len(chunk) >= 5:
                mean_dwell[p], low_dwell[p] = chunk.mean(), np.quantile(chunk, 0.1)
    return visible, history, mean_dwell, low_dwell


def _street_movement(area: Area, cfg: MovementConfig, n: int, steps: int, step_s: float,
                     rng: np.random.Generator) -> Movement:
    horizon = steps * step_s
    driver = rng.random(n) < cfg.driver_share
    nominal = np.where(driver, cfg.drive_speed_mps, cfg.walk_speed_mps) * rng.lognormal(0.0, 0.1, n)
    chooser = (_Routine if cfg.model == "routine" else _Habits)(area, cfg, n, rng)
    visible, full, learned_dwell, low_dwell = _history(area, cfg, chooser, n, rng)
    place_node = area.place_nodes
    users = np.arange(n)

    # The window: users start part-way through a visit, so departures are spread out.
    cur = chooser.current.copy()
    prev = visible[:, -2].astype(np.int64) if visible.shape[1] > 1 else np.full(n, -1)
    given = _start_places(area, cfg, n, rng)
    if cfg.start_places or cfg.start_latlon:
        k = len(cfg.start_places or ()) or len(cfg.start_latlon or ())
        cur[:k] = given[:k]
        chooser.current[:k] = given[:k]
        prev[:k] = -1
    t = _dwell(area, cfg, cur, rng) * rng.random(n)
    t_arrived = np.zeros(n)
    xy_nodes = area.node_xy
    seg = np.hypot(*(xy_nodes[area.paths[..., 1:]] - xy_nodes[area.paths[..., :-1]]).transpose(3, 0, 1, 2))
    cum_path = np.cumsum(seg, axis=-1)              # (places, places, max_len - 1)
    times = [np.zeros((n, 1))]
    pos = [area.place_xy[cur][:, None, :]]
    label = [cur[:, None].astype(np.int16)]
    legs = []
    while True:
        nxt = chooser.step(rng).copy()
        speed = nominal * rng.lognormal(0.0, cfg.speed_spread, n)
        path = area.paths[cur, nxt, 1:]                                 # (n, max_len - 1)
        arrive_times = t[:, None] + cum_path[cur, nxt] / speed[:, None]
        first_xy = xy_nodes[area.paths[cur, nxt, 1]]
        heading = first_xy - area.place_xy[cur]
        heading /= np.maximum(np.hypot(heading[:, 0], heading[:, 1]), 1e-9)[:, None]
        legs.append((users, np.full(n, DWELL), t_arrived, t.copy(), cur, cur, area.place_xy[cur],
                     np.zeros((n, 2)), nominal, prev))
        legs.append((users, np.full(n, MOVE), t.copy(), arrive_times[:, -1], cur, nxt, area.place_xy[cur],
                     heading * speed[:, None], nominal, prev))
        times += [t[:, None], arrive_times]
        pos += [area.place_xy[cur][:, None, :], xy_nodes[path]]
        label += [np.full((n, 1), -1, np.int16),
                  np.where(path == place_node[nxt][:, None], nxt[:, None], -1).astype(np.int16)]
        t_arrived = arrive_times[:, -1]
        if t_arrived.min() > horizon:
            break
        t = t_arrived + _dwell(area, cfg, nxt, rng)
        prev, cur = cur, nxt
    xy, place = _sample_grid(np.concatenate(times, axis=1), np.concatenate(pos, axis=1),
                             np.concatenate(label, axis=1), steps, step_s)
    return Movement(xy, place, driver, _stack_legs(legs, horizon), visible, learned_dwell, low_dwell)


def _random_waypoint(area: Area, cfg: MovementConfig, n: int, steps: int, step_s: float,
                     rng: np.random.Generator) -> Movement:
    horizon = steps * step_s
    xmin, ymin, xmax, ymax = area.bounds_xy
    lo, hi = np.array([xmin, ymin]), np.array([xmax, ymax])
    here = lo + (hi - lo) * rng.random((n, 2))
    if cfg.start_latlon:
        given = area.check_inside("movement.start_latlon", cfg.start_latlon)[:n]
        here[:len(given)] = given
    elif cfg.start_places:
        given = np.array([area.place_index(p) for p in cfg.start_places[:n]])
        here[:len(given)] = area.place_xy[given]
    users = np.arange(n)
    t = np.zeros(n)
    times, pos, legs = [t[:, None].copy()], [here[:, None, :].copy()], []
    none = np.full(n, -1)
    while t.min() <= horizon:
        target = lo + (hi - lo) * rng.random((n, 2))
        speed = rng.uniform(*cfg.rwp_speed_range, n)
        delta = target - here
        length = np.maximum(np.hypot(delta[:, 0], delta[:, 1]), 1e-9)
        arrive = t + length / speed
        leave = arrive + rng.uniform(0.0, cfg.rwp_pause_max_s, n)
        legs.append((users, np.full(n, MOVE), t.copy(), arrive, none, none, here.copy(),
                     delta / length[:, None] * speed[:, None], np.full(n, np.mean(cfg.rwp_speed_range)), none))
        legs.append((users, np.full(n, DWELL), arrive, leave, none, none, target, np.zeros((n, 2)),
                     np.full(n, np.mean(cfg.rwp_speed_range)), none))
        times += [arrive[:, None], leave[:, None]]
        pos += [target[:, None, :], target[:, None, :]]
        here, t = target, leave
    times = np.concatenate(times, axis=1)
    xy, _ = _sample_grid(times, np.concatenate(pos, axis=1), np.zeros(times.shape, np.int16), steps, step_s)
    place = np.full((n, steps), -1, dtype=np.int16)
    centres = area.place_xy.astype(np.float32)
    radius2 = np.array([p.radius_m for p in area.places], dtype=np.float32) ** 2
    for p in range(len(centres)):      # a handful of places; each pass is vectorised over users and steps
        d2 = ((xy - centres[p]) ** 2).sum(axis=-1)
        inside = (d2 <= radius2[p]) & (place < 0)
        place[inside] = p
    dwell = np.array([pl.dwell_median_s for pl in area.places]) * cfg.dwell_scale
    return Movement(xy, place, np.zeros(n, bool), _stack_legs(legs, horizon), np.full((n, 1), -1, np.int16),
                    dwell, dwell * np.exp(-1.2816 * cfg.dwell_spread))


def _stack_legs(legs, horizon: float) -> Legs:
    cols = [np.concatenate(c) if np.ndim(c[0]) == 1 else np.concatenate(c, axis=0) for c in zip(*legs)]
    keep = cols[2] < horizon
    order = np.lexsort((cols[2][keep], cols[0][keep]))
    return Legs(*(c[keep][order] for c in cols))


def simulate_movement(area: Area, cfg: MovementConfig, n_users: int, steps: int, step_s: float,
                      rng: np.random.Generator) -> Movement:
    """Positions of ``n_users`` on the grid t = 0, step_s, ..., (steps - 1) step_s, from ``rng`` only."""
    check_int("n_users", n_users, 1, 1_000_000)
    check_int("steps", steps, 1, 10_000_000)
    check_range("step_s", step_s, 0, None, lo_open=True)
    model = _random_waypoint if cfg.model == "random_waypoint" else _street_movement
    return model(area, cfg, n_users, steps, step_s, rng)

"""Movement models for the mobility simulator, vectorised over users with a seeded numpy Generator: walking and
driving along the street graph with stops at places, and random waypoint."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.mobility.area import Area
from core.validation import check_choice, check_int, check_range

MOVEMENT_MODELS = ("streets", "random_waypoint")
MOVE, DWELL = 0, 1


@dataclass(frozen=True)
class MovementConfig:
    """How users move. Speeds are nominal per user; each leg scales them by a log-normal factor."""
    model: str = "streets"
    driver_share: float = 0.3            # share of users who drive (they need the navigation model on roads)
    walk_speed_mps: float = 1.4          # typical pedestrian speed
    drive_speed_mps: float = 9.0         # ~32 km/h, urban traffic in Central
    speed_spread: float = 0.15           # sigma of the per-leg log-normal speed factor
    dwell_scale: float = 1.0             # multiplies each place's median dwell
    dwell_spread: float = 0.5            # sigma of the log-normal dwell
    habit: float = 0.5                   # Gamma shape of personal place preferences: small = habitual users
    distance_scale_m: float = 800.0      # gravity model: far places are visited less
    history_trips: int = 40              # past trips per user that the next-place predictor learns from
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
        check_int("movement.history_trips", self.history_trips, 0, 10_000)
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


@dataclass(frozen=True, eq=False)
class Movement:
    """Positions on the time grid and what the predictors may learn from the users' history."""
    xy: np.ndarray                 # (users, steps, 2) float32 metres
    place: np.ndarray              # (users, steps) int16, place index or -1 in transit
    driver: np.ndarray             # (users,) bool
    legs: Legs
    history_counts: np.ndarray     # (users, places, places) past trips from place a to place b
    history_dwell_s: np.ndarray    # (places,) mean dwell seen in the history


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
    """(users, places, places) transition matrices: popularity x personal preference x distance decay."""
    nodes = [p.node for p in area.places]
    dist = area.dist[np.ix_(nodes, nodes)]
    pop = np.array([p.popularity for p in area.places])
    pref = rng.gamma(cfg.habit, 1.0, size=(n, len(nodes))) + 1e-3
    base = np.exp(-dist / cfg.distance_scale_m) * pop[None, :]
    np.fill_diagonal(base, 0.0)
    return base[None, :, :] * pref[:, None, :]


def _dwell(area: Area, cfg: MovementConfig, place: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    median = np.array([p.dwell_median_s for p in area.places])[place] * cfg.dwell_scale
    return median * rng.lognormal(0.0, cfg.dwell_spread, size=place.shape)


def _street_movement(area: Area, cfg: MovementConfig, n: int, steps: int, step_s: float,
                     rng: np.random.Generator) -> Movement:
    horizon = steps * step_s
    n_places = len(area.places)
    driver = rng.random(n) < cfg.driver_share
    nominal = np.where(driver, cfg.drive_speed_mps, cfg.walk_speed_mps) * rng.lognormal(0.0, 0.1, n)
    trans = _personal_transitions(area, cfg, n, rng)
    place_node = np.array([p.node for p in area.places])
    users = np.arange(n)

    # History: past trips from each user's own habits, for the next-place predictor to learn from.
    counts = np.zeros((n, n_places, n_places), dtype=np.float32)
    dwell_sum, dwell_cnt = np.zeros(n_places), np.zeros(n_places)
    cur = _sample_rows(rng, np.tile(np.array([p.popularity for p in area.places]), (n, 1)))
    for _ in range(cfg.history_trips):
        nxt = _sample_rows(rng, trans[users, cur])
        np.add.at(counts, (users, cur, nxt), 1.0)
        d = _dwell(area, cfg, nxt, rng)
        np.add.at(dwell_sum, nxt, d)
        np.add.at(dwell_cnt, nxt, 1.0)
        cur = nxt
    place_dwell = np.array([p.dwell_median_s for p in area.places]) * cfg.dwell_scale
    learned_dwell = np.where(dwell_cnt > 0, dwell_sum / np.maximum(dwell_cnt, 1), place_dwell)

    # The simulated hour: users start part-way through a visit, so departures are spread out.
    cur = _start_places(area, cfg, n, rng)
    t = _dwell(area, cfg, cur, rng) * rng.random(n)
    t_arrived = np.zeros(n)
    xy_nodes = area.node_xy
    seg = np.hypot(*(xy_nodes[area.paths[..., 1:]] - xy_nodes[area.paths[..., :-1]]).transpose(3, 0, 1, 2))
    cum_path = np.cumsum(seg, axis=-1)              # (nodes, nodes, max_len - 1)
    times = [np.zeros((n, 1))]
    pos = [area.place_xy[cur][:, None, :]]
    label = [cur[:, None].astype(np.int16)]
    legs = []
    while True:
        nxt = _sample_rows(rng, trans[users, cur])
        a, b = place_node[cur], place_node[nxt]
        speed = nominal * rng.lognormal(0.0, cfg.speed_spread, n)
        path = area.paths[a, b, 1:]                                 # (n, max_len - 1)
        arrive_times = t[:, None] + cum_path[a, b] / speed[:, None]
        first_xy = xy_nodes[area.paths[a, b, 1]]
        heading = first_xy - area.place_xy[cur]
        heading /= np.maximum(np.hypot(heading[:, 0], heading[:, 1]), 1e-9)[:, None]
        legs.append((users, np.full(n, DWELL), t_arrived, t.copy(), cur, cur, area.place_xy[cur],
                     np.zeros((n, 2)), nominal))
        legs.append((users, np.full(n, MOVE), t.copy(), arrive_times[:, -1], cur, nxt, area.place_xy[cur],
                     heading * speed[:, None], nominal))
        times += [t[:, None], arrive_times]
        pos += [area.place_xy[cur][:, None, :], xy_nodes[path]]
        label += [np.full((n, 1), -1, np.int16), np.where(path == b[:, None], nxt[:, None], -1).astype(np.int16)]
        t_arrived = arrive_times[:, -1]
        if t_arrived.min() > horizon:
            break
        t = t_arrived + _dwell(area, cfg, nxt, rng)
        cur = nxt
    xy, place = _sample_grid(np.concatenate(times, axis=1), np.concatenate(pos, axis=1),
                             np.concatenate(label, axis=1), steps, step_s)
    return Movement(xy, place, driver, _stack_legs(legs, horizon), counts, learned_dwell)


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
                     delta / length[:, None] * speed[:, None], np.full(n, np.mean(cfg.rwp_speed_range))))
        legs.append((users, np.full(n, DWELL), arrive, leave, none, none, target, np.zeros((n, 2)),
                     np.full(n, np.mean(cfg.rwp_speed_range))))
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
    n_places = len(area.places)
    return Movement(xy, place, np.zeros(n, bool), _stack_legs(legs, horizon),
                    np.zeros((n, n_places, n_places), np.float32),
                    np.array([pl.dwell_median_s for pl in area.places]) * cfg.dwell_scale)


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
    model = _street_movement if cfg.model == "streets" else _random_waypoint
    return model(area, cfg, n_users, steps, step_s, rng)

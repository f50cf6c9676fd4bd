"""Downlink model: distance to the serving base station -> path loss -> SNR -> Shannon rate, and the BER that a
modulation gets at that SNR. Presets name their sources; deterministic (no shadowing or fading)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.link.link_budget import ber_from_snr
from core.validation import check_choice, check_range

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG); core.mobility.area projects with it too

THERMAL_NOISE_DBM_HZ = -174.0  # kT at 290 K

# Highest spectral efficiency of NR: 256-QAM at code rate 948/1024, 3GPP TS 38.214 Table 5.2.2.1-3 (CQI 15).
NR_MAX_SPECTRAL_EFFICIENCY = 7.4063


@dataclass(frozen=True)
class LinkPreset:
    """A radio configuration of the model-downloading slice. ``source`` says where the numbers come from."""
    name: str
    bandwidth_hz: float
    carrier_ghz: float
    tx_power_dbm: float
    antenna_gain_db: float
    noise_figure_db: float
    pathloss: str
    source: str


LINK_PRESETS: dict[str, LinkPreset] = {p.name: p for p in (
    LinkPreset("5g_fr1_20mhz", 20e6, 3.5, 35.0, 0.0, 9.0, "umi_nlos",
               "20 MHz slice of an NR FR1 carrier at 3.5 GHz (channel bandwidths: 3GPP TS 38.104 Table 5.3.2-1); "
               "UMi street canyon NLOS path loss (3GPP TR 38.901 Table 7.4.1-1); UMi small-cell power 35 dBm and "
               "UE noise figure 9 dB as in the TR 38.901 calibration assumptions (Table 7.8-1)"),
    LinkPreset("5g_fr1_100mhz", 100e6, 3.5, 35.0, 0.0, 9.0, "umi_nlos",
               "full 100 MHz NR FR1 carrier (3GPP TS 38.104 Table 5.3.2-1), UMi NLOS (TR 38.901), 35 dBm, NF 9 dB"),
    LinkPreset("5g_fr2_400mhz", 400e6, 28.0, 35.0, 20.0, 9.0, "umi_los",
               "400 MHz NR FR2 carrier at 28 GHz (3GPP TS 38.104 Table 5.3.2-1), UMi LOS (TR 38.901); 20 dB "
               "beamforming gain is an assumption"),
    LinkPreset("6g_subthz_2ghz", 2e9, 140.0, 30.0, 35.0, 10.0, "umi_los",
               "illustrative 6G sub-THz link, 2 GHz at 140 GHz; gains and powers are assumptions meant to reach "
               "the ITU-R M.2160 (IMT-2030) user-experienced rates of hundreds of Mb/s to Gb/s"),
    LinkPreset("lte_10mhz", 10e6, 2.1, 35.0, 0.0, 9.0, "umi_nlos",
               "10 MHz LTE-like carrier at 2.1 GHz (3GPP TS 36.101 channel bandwidths), UMi NLOS (TR 38.901)"),
)}

PATHLOSS_MODELS = ("umi_los", "umi_nlos", "free_space")
MODULATIONS = {"BPSK": (2, 1), "QPSK": (4, 2), "16-QAM": (16, 4), "64-QAM": (64, 6)}  # name -> (M, bits/symbol)


@dataclass(frozen=True)
class LinkConfig:
    """Link settings: a preset plus optional overrides. ``modulation='adaptive'`` takes the highest-order
    modulation whose BER meets ``target_ber`` (the paper finds BER 1e-3 enough for integer codes)."""
    preset: str = "5g_fr1_20mhz"
    bandwidth_hz: float | None = None
    tx_power_dbm: float | None = None
    pathloss: str | None = None
    max_spectral_efficiency: float = NR_MAX_SPECTRAL_EFFICIENCY
    modulation: str = "adaptive"
    target_ber: float = 1e-3
    bs_height_m: float = 10.0   # UMi BS height in TR 38.901
    ue_height_m: float = 1.5

    def __post_init__(self):
        check_choice("link.preset", self.preset, LINK_PRESETS)
        if self.bandwidth_hz is not None:
            check_range("link.bandwidth_hz", self.bandwidth_hz, 0, None, lo_open=True)
        if self.pathloss is not None:
            check_choice("link.pathloss", self.pathloss, PATHLOSS_MODELS)
        check_range("link.max_spectral_efficiency", self.max_spectral_efficiency, 0, None, lo_open=True)
        check_choice("link.modulation", self.modulation, ["adaptive", *MODULATIONS])
        check_range("link.target_ber", self.target_ber, 0, 0.5, lo_open=True)

    def resolved(self) -> LinkPreset:
        """The preset with this config's overrides applied."""
        p = LINK_PRESETS[self.preset]
        return LinkPreset(p.name, self.bandwidth_hz or p.bandwidth_hz, p.carrier_ghz,
                          p.tx_power_dbm if self.tx_power_dbm is None else self.tx_power_dbm,
                          p.antenna_gain_db, p.noise_figure_db, self.pathloss or p.pathloss, p.source)


def path_loss_db(d2d_m, carrier_ghz: float, model: str, bs_height_m: float = 10.0,
                 ue_height_m: float = 1.5) -> np.ndarray:
    """Path loss in dB over a 2-D distance. UMi street canyon from 3GPP TR 38.901 Table 7.4.1-1 (single slope:
    the breakpoint and shadow fading are left out); free space from Friis. Distances below 10 m are clamped."""
    check_choice("pathloss", model, PATHLOSS_MODELS)
    d3d = np.sqrt(np.maximum(np.asarray(d2d_m, dtype=np.float32), 10.0) ** 2 + (bs_height_m - ue_height_m) ** 2)
    log_d = np.log10(d3d)
    fc = np.log10(carrier_ghz)
    los = 32.4 + 21.0 * log_d + 20.0 * fc
    if model == "umi_los":
        return los
    if model == "free_space":
        return 20.0 * log_d + 20.0 * fc + 32.45
    nlos = 22.4 + 35.3 * log_d + 21.3 * fc - 0.3 * (ue_height_m - 1.5)
    return np.maximum(los, nlos)


def snr_db(d2d_m, cfg: LinkConfig) -> np.ndarray:
    """SNR in dB at a distance: transmit power + gain - path loss - noise (thermal + noise figure over B)."""
    p = cfg.resolved()
    noise = THERMAL_NOISE_DBM_HZ + 10.0 * np.log10(p.bandwidth_hz) + p.noise_figure_db
    return p.tx_power_dbm + p.antenna_gain_db - path_loss_db(d2d_m, p.carrier_ghz, p.pathloss, cfg.bs_height_m,
                                                              cfg.ue_height_m) - noise


def shannon_rate_bps(snr, cfg: LinkConfig) -> np.ndarray:
    """Shannon capacity B log2(1 + SNR) in bit/s, capped at ``max_spectral_efficiency`` bit/s/Hz."""
    p = cfg.resolved()
    lin = np.power(10.0, np.asarray(snr, dtype=np.float32) / 10.0)
    return p.bandwidth_hz * np.minimum(np.log2(1.0 + lin), cfg.max_spectral_efficiency)


def ber(snr_db_value, modulation: str) -> np.ndarray:
    """Bit-error rate over AWGN with Gray coding (Eb/N0 = SNR / bits per symbol): ``core.link.link_budget``'s
    formulas (Q(sqrt(2 Eb/N0)) for BPSK/QPSK, the nearest-neighbour M-QAM approximation), as an array."""
    check_choice("modulation", modulation, MODULATIONS)
    return np.asarray(ber_from_snr(np.asarray(snr_db_value, dtype=float), modulation), dtype=float)


def link_ber(snr_db_value, cfg: LinkConfig) -> tuple[np.ndarray, np.ndarray]:
    """BER and modulation name at each SNR: the configured modulation, or with ``adaptive`` the highest order
    meeting ``target_ber`` (BPSK when none does)."""
    snr = np.asarray(snr_db_value, dtype=float)
    if cfg.modulation != "adaptive":
        return ber(snr, cfg.modulation), np.full(snr.shape, cfg.modulation, dtype=object)
    names = list(MODULATIONS)
    table = np.stack([ber(snr, n) for n in names])                     # (4, ...)
    ok = table <= cfg.target_ber
    best = np.where(ok.any(axis=0), len(names) - 1 - np.argmax(ok[::-1], axis=0), 0)
    chosen = np.take_along_axis(table, best[None], axis=0)[0]
    return chosen, np.array(names, dtype=object)[best]


def serving_links(xy: np.ndarray, bs_xy: np.ndarray, cfg: LinkConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For positions (..., 2) in metres: index of the nearest base station (serving; all sites use the same
    power), the SNR in dB and the downlink rate in bit/s."""
    best_d2 = None
    best = None
    for b, (bx, by) in enumerate(np.asarray(bs_xy, dtype=np.float32)):
        d2 = (xy[..., 0] - bx) ** 2 + (xy[..., 1] - by) ** 2
        if best_d2 is None:
            best_d2, best = d2, np.zeros(d2.shape, dtype=np.int16)
        else:
            closer = d2 < best_d2
            best_d2 = np.where(closer, d2, best_d2)
            best[closer] = b
    snr = snr_db(np.sqrt(best_d2), cfg).astype(np.float32)
    return best, snr, shannon_rate_bps(snr, cfg).astype(np.float32)


class RateTimeline:
    """Each user's downlink rate on the time grid, integrated so that a download's completion time is one
    vectorised search: cumulative bits are piecewise linear in time, extended past the horizon at the last rate."""

    def __init__(self, rate_bps: np.ndarray, step_s: float):
        self.rate = np.asarray(rate_bps, dtype=np.float64)
        self.step_s = float(step_s)
        n, steps = self.rate.shape
        self.cum = np.zeros((n, steps + 1))
        np.cumsum(self.rate * self.step_s, axis=1, out=self.cum[:, 1:])
        # Rows are shifted apart so that one sorted array holds every user (no per-user loop).
        self._offset = float(self.cum[:, -1].max()) * 2.0 + 1.0
        self._flat = (self.cum + self._offset * np.arange(n)[:, None]).ravel()

    def bits_at(self, user: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Bits a download running from t = 0 would have received by time ``t`` (per user)."""
        steps = self.rate.shape[1]
        k = np.clip(np.floor(np.asarray(t) / self.step_s).astype(np.int64), 0, steps - 1)
        return self.cum[user, k] + self.rate[user, k] * (np.asarray(t) - k * self.step_s)

    def time_of_bits(self, user: np.ndarray, bits: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`bits_at`: when the cumulative bits of each user reach ``bits``."""
        user = np.asarray(user, dtype=np.int64)
        bits = np.asarray(bits, dtype=np.float64)
        steps = self.rate.shape[1]
        pos = np.searchsorted(self._flat, bits + self._offset * user, side="left") - 1
        k = np.clip(pos - user * (steps + 1), 0, steps - 1)
        return k * self.step_s + (bits - self.cum[user, k]) / self.rate[user, k]

    def finish_time(self, user, begin, bits) -> np.ndarray:
        """Completion time of downloads of ``bits`` that start transferring at ``begin``."""
        return self.time_of_bits(user, self.bits_at(user, begin) + np.asarray(bits))


@dataclass(frozen=True)
class PlaceLink:
    """The downlink at one place of the area: its serving base station, distance, SNR, modulation, rate and BER."""
    place: str
    station: str
    distance_m: float
    snr_db: float
    modulation: str
    rate_bps: float
    ber: float
    preset: LinkPreset


def link_at(area, place_name: str, cfg: LinkConfig | None = None) -> PlaceLink:
    """The link at the place named ``place_name`` of ``area`` (a core.mobility.area.Area): nearest base station,
    path loss, Shannon rate and the BER of the (adaptive) modulation, as in the mobility simulation."""
    cfg = cfg or LinkConfig()
    place = next((p for p in area.places if p.name == place_name), None)
    if place is None:
        shown = place_name if len(str(place_name)) <= 60 else str(place_name)[:57] + "..."
        raise ValueError(f"place={shown!r} is not a place of the area data; allowed: one of its "
                         f"{len(area.places)} places")
    xy = area.to_xy(np.array([[place.lat, place.lon]]))
    bs, snr, rate = serving_links(xy, area.bs_xy, cfg)
    ber_value, modulation = link_ber(snr, cfg)
    station = int(bs[0])
    return PlaceLink(place.name, area.base_stations[station].name,
                     float(np.hypot(*(xy[0] - area.bs_xy[station]))), float(snr[0]), str(modulation[0]),
                     float(rate[0]), float(ber_value[0]), cfg.resolved())


def _great_circle_m(lat1, lon1, lat2, lon2) -> float:
    """Distance over the Earth's surface (haversine): the area's flat projection is wrong far from its centre."""
    p1, p2, dl = np.radians(lat1), np.radians(lat2), np.radians(lon2 - lon1)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return float(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def coverage_problem(area, cfg: LinkConfig | None = None) -> str | None:
    """In plain words, the first place of ``area`` (a core.mobility.area.Area) where the downlink rate is 0 b/s
    (too far from every base station for the link ``cfg``, default LinkConfig()), or None when every place gets a
    downlink. No model can be downloaded at such a place: the area or its base stations are wrong."""
    cfg = cfg or LinkConfig()
    bs, _, rate = serving_links(area.place_xy, area.bs_xy, cfg)
    dead = np.nonzero(~(rate > 0))[0]
    if not len(dead):
        return None
    place = area.places[int(dead[0])]
    station = area.base_stations[int(bs[dead[0]])]
    d = _great_circle_m(place.lat, place.lon, station.lat, station.lon)
    far = f"{d / 1000:,.0f} km" if d >= 10_000 else f"{d:,.0f} m"
    streets = sorted({s for a, b, s in area.edges if place.node in (a, b) and s})
    on = f" It lies on {', '.join(repr(s) for s in streets[:3])}." if streets else ""
    preset = cfg.resolved()
    link = f"{preset.bandwidth_hz / 1e6:g} MHz link at {preset.carrier_ghz:g} GHz"
    more = f" ({len(dead) - 1} more place{'s' if len(dead) > 2 else ''} likewise)" if len(dead) > 1 else ""
    return (f"place {place.name!r} at ({place.lat:.5f}, {place.lon:.5f}) is {far} from the nearest base station "
            f"({station.name!r}); its downlink rate would be 0 b/s on the {link}, so no model "
            f"could be downloaded there{more}.{on} An area is one town: cut the OpenStreetMap extract to it (e.g. "
            f"osmium extract --bbox), or give base stations near every place (python -m core.mobility.osm ... "
            f"--base-stations sites.csv).")

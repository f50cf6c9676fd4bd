"""The dashboard's settings as one validated record, with scenario presets and a URL (query string) form.

Pure Python (no streamlit): the sidebar fills a ``Settings``; pages turn it into a DSI for the engine.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from core.network.dsi import DSI, HARDWARE_PRESETS, Application, Channel, Hardware, Location
from core.link.link_budget import MODULATIONS, ber_from_snr
from core.network.rates import APPLICATIONS
from core.validation import check_choice, check_int, check_range

PROTECTIONS = ("none", "sanitise", "clamp", "uep")
CHANNEL_MODES = ("BER", "SNR")


def model_choices() -> dict:
    """Root models on offer (display name -> checkpoint path): the default and any trained into runs/."""
    from core.model.models import find_checkpoints

    return find_checkpoints()


@dataclass(frozen=True)
class Settings:
    """Everything the sidebar sets. Units as shown to the user: MB, GMAC/s, ms, Mb/s."""

    scenario: str = "custom"
    hardware: str = "smartphone"
    memory_mb: float = 0.0          # 0: take the preset's value
    compute_gmacs: float = 0.0      # 0: take the preset's value
    accelerators: int = 0           # 0: take the preset's value
    place: str = ""
    application: str = "image recognition"
    latency_ms: float = 0.0         # 0: take the preset's value
    min_accuracy: float = 0.9
    samples: int = 1
    downlink_mbps: float = 1000.0
    uplink_mbps: float = 500.0
    channel_mode: str = "BER"
    ber: float = 1e-4
    snr_db: float = 10.0
    modulation: str = "QPSK"
    protection: str = "none"
    model: str = "ResNet-18 on digits (default)"

    def __post_init__(self):
        check_choice("scenario", self.scenario, ("custom",) + tuple(SCENARIOS))
        check_choice("hardware", self.hardware, tuple(HARDWARE_PRESETS))
        check_range("memory_mb", self.memory_mb, 0.0)
        check_range("compute_gmacs", self.compute_gmacs, 0.0)
        check_int("accelerators", self.accelerators, 0, 2)
        check_choice("application", self.application, tuple(APPLICATIONS))
        check_range("latency_ms", self.latency_ms, 0.0)
        check_range("min_accuracy", self.min_accuracy, 0.0, 1.0)
        check_int("samples", self.samples, 1, 100_000)
        check_range("downlink_mbps", self.downlink_mbps, 0.0, lo_open=True)
        check_range("uplink_mbps", self.uplink_mbps, 0.0, lo_open=True)
        check_choice("channel_mode", self.channel_mode, CHANNEL_MODES)
        check_range("ber", self.ber, 0.0, 0.5)
        check_range("snr_db", self.snr_db, -20.0, 60.0)
        check_choice("modulation", self.modulation, MODULATIONS)
        check_choice("protection", self.protection, PROTECTIONS)
        check_choice("model", self.model, tuple(model_choices()))

    # ----- derived values -----
    @property
    def effective_ber(self) -> float:
        return float(ber_from_snr(self.snr_db, self.modulation)) if self.channel_mode == "SNR" else self.ber

    @property
    def latency_s(self) -> float:
        return self.latency_ms / 1000 if self.latency_ms > 0 else APPLICATIONS[self.application].latency_s

    def hardware_record(self) -> Hardware:
        base = HARDWARE_PRESETS[self.hardware]
        changes = {}
        if self.memory_mb > 0:
            changes["model_memory_bytes"] = self.memory_mb * 1e6
        if self.compute_gmacs > 0:
            changes["compute_macs_per_s"] = self.compute_gmacs * 1e9
        if self.accelerators > 0:
            changes["accelerators"] = self.accelerators
        return replace(base, **changes) if changes else base

    def location(self) -> Location | None:
        """The reported location: the chosen place of the area data, or None."""
        if not self.place:
            return None
        from core.mobility.area import load_area

        place = next((p for p in load_area().places if p.name == self.place), None)
        if place is None:
            raise ValueError(f"place={self.place!r} is not a place of the area data")
        return Location(place.lat, place.lon, place.name)

    def dsi(self, location: Location | None = None) -> DSI:
        if self.channel_mode == "SNR":
            channel = Channel.from_snr(self.snr_db, self.modulation, self.downlink_mbps * 1e6,
                                       self.uplink_mbps * 1e6)
        else:
            channel = Channel(self.downlink_mbps * 1e6, self.uplink_mbps * 1e6, self.ber)
        app = Application(self.application, self.latency_s, self.min_accuracy, self.samples)
        return DSI(self.hardware_record(), location or self.location(), app, channel)

    # ----- URL form -----
    def to_query(self) -> dict[str, str]:
        default = Settings()
        return {f.name: _fmt(getattr(self, f.name)) for f in fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}

    @classmethod
    def from_query(cls, query: dict[str, str]) -> tuple["Settings", list[str]]:
        """Settings from a query string; unknown or invalid entries are reported, never silently used."""
        kinds = {f.name: type(getattr(cls(), f.name)) for f in fields(cls)}
        values, problems = {}, []
        for key, raw in query.items():
            if key not in kinds:
                continue  # other pages' parameters (e.g. page name) are not settings
            try:
                values[key] = kinds[key](raw) if kinds[key] is not str else raw
                cls(**{**values})
            except (ValueError, TypeError) as err:
                problems.append(f"URL parameter {key}={raw!r} ignored: {err}")
                values.pop(key, None)
        return cls(**values), problems


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@dataclass(frozen=True)
class Scenario:
    name: str
    story: str
    settings: dict


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("museum visit", "A visitor's phone gets a tour-guide image recogniser before entering the museum.",
             dict(hardware="smartphone", application="image recognition", place="Hong Kong Museum of Medical Sciences",
                  downlink_mbps=1000.0, uplink_mbps=500.0, ber=1e-4, min_accuracy=0.95, samples=20)),
    Scenario("car trip", "A car downloads its auto-navigation model while the driver walks to the car park.",
             dict(hardware="vehicle", application="video call", place="Rumsey Street Car Park", downlink_mbps=500.0,
                  uplink_mbps=100.0, ber=1e-5, min_accuracy=0.97, samples=100)),
    Scenario("tactile robot", "A remote-controlled robot needs a new model within the tactile 1 ms budget.",
             dict(hardware="AR/VR headset", application="tactile", downlink_mbps=1_000_000.0,
                  uplink_mbps=100_000.0, ber=1e-6, min_accuracy=0.9, samples=1)),
    Scenario("IoT sensor", "A battery-powered sensor on a weak link, where bit errors are common.",
             dict(hardware="IoT sensor", application="image recognition", downlink_mbps=2.0, uplink_mbps=1.0,
                  ber=1e-3, min_accuracy=0.8, samples=10, protection="sanitise")),
]}


def apply_scenario(name: str) -> Settings:
    check_choice("scenario", name, tuple(SCENARIOS))
    return Settings(scenario=name, **SCENARIOS[name].settings)

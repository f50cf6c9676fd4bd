"""The dashboard's settings as one validated record, with scenario presets and a URL (query string) form.

Pure Python (no streamlit): the sidebar fills a ``Settings``; pages turn it into a DSI for the engine. A shared
link reproduces the sender's view exactly: every value is kept as given or reported, never silently changed.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

from core.link.ber import check_ber
from core.link.link_budget import MODULATIONS, ber_from_snr
from core.link.protections import PROTECTIONS, check_protection
from core.mobility.area import DEFAULT_AREA_KEY
from core.model.models import DEFAULT_MODEL_NAME
from core.network.dsi import DSI, HARDWARE_PRESETS, Application, ChannelReport, Hardware, Location
from core.network.rates import APPLICATIONS
from core.network.select import DEFAULT_RULE, RULES
from core.validation import check_choice, check_int, check_range

CHANNEL_MODES = ("BER", "SNR")
MESSAGE_CHARS = 60  # a value quoted in a message is cut to this many characters


def model_choices() -> dict:
    """Root models on offer (display name -> checkpoint path): the default and every usable checkpoint."""
    from core.model.roots import find_checkpoints

    return find_checkpoints()


def unusable_models() -> dict[str, str]:
    """Checkpoints in the models folders that cannot be root models: file -> reason."""
    from core.model.roots import scan_checkpoints

    return scan_checkpoints()[1]


def area_choices() -> dict[str, str]:
    """Areas on offer (key -> the area's name from its file): the shipped default first, then every area file in
    assets/area and $INSITU_AREAS. The key (the file name without .json) is what settings and links carry."""
    from core.mobility.area import area_key, list_areas

    return {area_key(path): name for name, path in list_areas().items()}


def area_of(key: str = DEFAULT_AREA_KEY):
    """The area called ``key`` (loaded and validated; cached on the file's modification time). ValueError names a
    key that is not on offer or a damaged file."""
    from core.mobility.area import area_file, load_area

    file = area_file(key)
    try:
        return load_area(file)
    except ValueError as err:
        raise ValueError(f"area={cut(key)!r} cannot be used: {err}") from None


def place_names(area: str = DEFAULT_AREA_KEY) -> tuple[str, ...]:
    """Names of the places of an area (the Location choices); ``area`` is its key (default: the shipped area)."""
    return tuple(p.name for p in area_of(area).places)


def cut(text, limit: int = MESSAGE_CHARS) -> str:
    """``text`` as a string of at most ``limit`` characters (an ellipsis and the full length when cut)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit - 1]}… ({len(text):,} characters)"


@dataclass(frozen=True)
class Settings:
    """Everything the sidebar sets. Units as shown to the user: MB, GMAC/s, ms, Mb/s.

    ``memory_mb``, ``compute_gmacs``, ``accelerators`` and ``latency_ms`` are None when the hardware's or the
    application's preset value is used; a number overrides the preset.
    """

    scenario: str = "custom"
    hardware: str = "smartphone"
    memory_mb: float | None = None
    compute_gmacs: float | None = None
    accelerators: int | None = None
    area: str = DEFAULT_AREA_KEY  # an area file's name without .json (assets/area or $INSITU_AREAS)
    place: str = ""               # a place of that area, or "" (not reported)
    application: str = "image recognition"
    latency_ms: float | None = None
    min_accuracy: float = 0.8  # the CIFAR-10 root reaches 86 % at its last exit, 71 % at exit 1
    samples: int = 1
    selection_rule: str = DEFAULT_RULE  # which feasible sub-model the network sends (core.network.select.RULES)
    downlink_mbps: float = 1000.0
    uplink_mbps: float = 500.0
    channel_mode: str = "BER"
    ber: float = 1e-4
    snr_db: float = 10.0
    modulation: str = "QPSK"
    protection: str = "sanitise"  # a receiver that checks the value ranges sent with the topology
    model: str = DEFAULT_MODEL_NAME

    def __post_init__(self):
        if self.area == "":
            object.__setattr__(self, "area", DEFAULT_AREA_KEY)   # "" names the default area too
        check_choice("scenario", self.scenario, ("custom",) + tuple(SCENARIOS))
        check_choice("hardware", self.hardware, tuple(HARDWARE_PRESETS))
        if self.memory_mb is not None:
            check_range("memory_mb", self.memory_mb, 0.0, lo_open=True)
        if self.compute_gmacs is not None:
            check_range("compute_gmacs", self.compute_gmacs, 0.0, lo_open=True)
        if self.accelerators is not None:
            check_int("accelerators", self.accelerators, 1, 2)
        area = area_of(self.area)
        if self.place and self.place not in {p.name for p in area.places}:
            raise ValueError(f"place={cut(self.place)!r} is not a place of the area data of {area.name!r} "
                             f"(area={self.area!r}); allowed: one of its {len(area.places)} places (the Location "
                             "box lists them), or choose the area that has it")
        check_choice("application", self.application, tuple(APPLICATIONS))
        if self.latency_ms is not None:
            check_range("latency_ms", self.latency_ms, 0.0, lo_open=True)
        check_range("min_accuracy", self.min_accuracy, 0.0, 1.0)
        check_int("samples", self.samples, 1, 100_000)
        check_choice("selection_rule", self.selection_rule, tuple(RULES))
        check_range("downlink_mbps", self.downlink_mbps, 0.0, lo_open=True)
        check_range("uplink_mbps", self.uplink_mbps, 0.0, lo_open=True)
        check_choice("channel_mode", self.channel_mode, CHANNEL_MODES)
        check_ber(self.ber)
        check_range("snr_db", self.snr_db, -20.0, 60.0)
        check_choice("modulation", self.modulation, MODULATIONS)
        check_protection(self.protection)
        check_choice("model", self.model, tuple(model_choices()))

    # ----- derived values -----
    @property
    def effective_ber(self) -> float:
        return float(ber_from_snr(self.snr_db, self.modulation)) if self.channel_mode == "SNR" else self.ber

    @property
    def latency_s(self) -> float:
        return self.latency_ms / 1000 if self.latency_ms is not None else APPLICATIONS[self.application].latency_s

    def hardware_record(self) -> Hardware:
        base = HARDWARE_PRESETS[self.hardware]
        changes = {}
        if self.memory_mb is not None:
            changes["model_memory_bytes"] = self.memory_mb * 1e6
        if self.compute_gmacs is not None:
            changes["compute_macs_per_s"] = self.compute_gmacs * 1e9
        if self.accelerators is not None:
            changes["accelerators"] = self.accelerators
        return replace(base, **changes) if changes else base

    def location(self) -> Location | None:
        """The reported location: the chosen place of the area data, or None."""
        if not self.place:
            return None
        place = next(p for p in area_of(self.area).places if p.name == self.place)  # checked in __post_init__
        return Location(place.lat, place.lon, place.name)

    def dsi(self, location: Location | None = None) -> DSI:
        if self.channel_mode == "SNR":
            channel = ChannelReport.from_snr(self.snr_db, self.modulation, self.downlink_mbps * 1e6,
                                             self.uplink_mbps * 1e6)
        else:
            channel = ChannelReport(self.downlink_mbps * 1e6, self.uplink_mbps * 1e6, self.ber)
        app = Application(self.application, self.latency_s, self.min_accuracy, self.samples)
        return DSI(self.hardware_record(), location or self.location(), app, channel)

    # ----- URL form -----
    def to_query(self) -> dict[str, str]:
        """The query string that reproduces these settings: the scenario (if any) and every value that differs
        from it (or from the defaults). Floats are written exactly (``repr``), so nothing is rounded."""
        base = apply_scenario(self.scenario) if self.scenario != "custom" else Settings()
        query = {"scenario": self.scenario} if self.scenario != "custom" else {}
        query.update({f.name: _fmt(getattr(self, f.name)) for f in fields(self)
                      if f.name != "scenario" and getattr(self, f.name) != getattr(base, f.name)})
        return query

    @classmethod
    def from_query(cls, query: dict[str, str]) -> tuple["Settings", list[str]]:
        """Settings from a query string: the scenario first (as the base), then each value over it. A value that
        is unknown or invalid is reported (cut to ``MESSAGE_CHARS`` characters) and left out, never changed."""
        values, problems = {}, []
        query = {k: (v[-1] if isinstance(v, list) else v) for k, v in query.items()}
        raw_scenario = query.get("scenario")
        if raw_scenario is not None and raw_scenario != "custom":
            name = scenario_key(raw_scenario)
            if name is None:
                problems.append(f"URL parameter scenario={cut(raw_scenario)!r} ignored: not one of "
                                f"{['custom', *SCENARIOS]}")
            else:
                values = {"scenario": name, **SCENARIOS[name].settings}
        # The area first: a place is checked against the area the same link names, wherever it stands in the link.
        for key, raw in sorted(query.items(), key=lambda item: item[0] != "area"):
            if key not in _PARSERS or key == "scenario":
                continue  # view flags (lock, hide) and other pages' parameters are not settings
            try:
                value = _PARSERS[key](raw)
                cls(**{**values, key: value})
            except (ValueError, TypeError) as err:
                problems.append(f"URL parameter {key}={cut(raw)!r} ignored: {_quote_cut(str(err), raw)}")
                continue
            values[key] = value
        settings = cls(**values)
        if settings.scenario != "custom" and settings != apply_scenario(settings.scenario):
            settings = replace(settings, scenario="custom")  # the preset with changes: say so, keep the values
        return settings, problems


def _fmt(value) -> str:
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)  # exact: the link reproduces the value
    return str(value)


def _optional(kind):
    return lambda raw: None if raw in ("", "preset", "None") else kind(raw)


def _int(raw) -> int:
    number = float(raw)
    if number != int(number):
        raise ValueError(f"{raw!r} is not a whole number")
    return int(number)


def _quote_cut(message: str, raw) -> str:
    """An engine message with the echoed value cut, so that a huge bad value is not shown whole."""
    return message.replace(repr(raw), repr(cut(raw))) if len(str(raw)) > MESSAGE_CHARS else cut(message, 300)


_PARSERS = {
    "scenario": str, "hardware": str, "memory_mb": _optional(float), "compute_gmacs": _optional(float),
    "accelerators": _optional(_int), "area": str, "place": str, "application": str, "latency_ms": _optional(float),
    "min_accuracy": float, "samples": _int, "selection_rule": str, "downlink_mbps": float, "uplink_mbps": float, "channel_mode": str,
    "ber": float, "snr_db": float, "modulation": str, "protection": str, "model": str,
}
assert set(_PARSERS) == {f.name for f in fields(Settings)}


@dataclass(frozen=True)
class Scenario:
    """A device scenario: a story and the sidebar settings that tell it (the key is its name in the URL). A
    scenario with a place names the area it is in (``area``), so that it means the same place whichever area is
    chosen when it is applied; one without a place keeps the default area."""
    key: str
    title: str
    story: str
    settings: dict


SCENARIOS: dict[str, Scenario] = {s.key: s for s in [
    Scenario("pier", "Ferry pier",
             "A traveller's phone gets the harbour model (ships and aircraft) before reaching the ferry pier.",
             dict(hardware="smartphone", application="image recognition", area="hku_central",
                  place="Central Ferry Piers",
                  downlink_mbps=1000.0, uplink_mbps=500.0, ber=1e-4, min_accuracy=0.82, samples=20)),
    Scenario("car", "Car trip", "A car downloads its auto-navigation model while the driver walks to the car park.",
             dict(hardware="vehicle", application="auto-navigation", area="hku_central", place="Rumsey Street Car Park",
                  downlink_mbps=500.0,
                  uplink_mbps=100.0, ber=1e-5, min_accuracy=0.85, samples=100)),
    Scenario("robot", "Tactile robot", "A remote-controlled robot needs a new model within the tactile 1 ms budget.",
             dict(hardware="AR/VR headset", application="tactile", downlink_mbps=1_000_000.0,
                  uplink_mbps=100_000.0, ber=1e-6, min_accuracy=0.7, samples=1)),
    Scenario("iot", "IoT sensor", "A battery-powered sensor on a weak link, where bit errors are common.",
             dict(hardware="IoT sensor", application="image recognition", downlink_mbps=2.0, uplink_mbps=1.0,
                  ber=1e-3, min_accuracy=0.6, samples=10, protection="sanitise")),
]}


# Keys of links made before a scenario was renamed: the museum visit became the ferry pier when places came to need
# situation models (issue 22: no model here recognises museum exhibits).
SCENARIO_ALIASES = {"museum": "pier", "museum visit": "pier"}


def scenario_key(name: str) -> str | None:
    """The scenario's key for its key or its title (any case), or an old link's key (SCENARIO_ALIASES), or None
    when there is no such scenario."""
    low = str(name).strip().lower()
    found = next((k for k, s in SCENARIOS.items() if low in (k, s.title.lower())), None)
    return found or SCENARIO_ALIASES.get(low)


def apply_scenario(name: str) -> Settings:
    """The settings of a scenario preset. ValueError says which preset when its area or place cannot be used
    (an area file removed or changed since the preset was written)."""
    check_choice("scenario", name, tuple(SCENARIOS))
    try:
        return Settings(scenario=name, **SCENARIOS[name].settings)
    except ValueError as err:
        raise ValueError(f"The scenario {SCENARIOS[name].title!r} cannot be applied: {err}") from None


# ----- controls a link can lock or hide (like TensorFlow Playground's hide flags) -----
# Control name in the URL -> the settings it governs. "ber" covers the slider, the exact box and "error-free".
CONTROLS: dict[str, tuple[str, ...]] = {
    "scenario": ("scenario",), "hardware": ("hardware",), "memory": ("memory_mb",), "compute": ("compute_gmacs",),
    "accelerators": ("accelerators",), "area": ("area",), "place": ("place",), "application": ("application",),
    "latency": ("latency_ms",), "accuracy": ("min_accuracy",), "samples": ("samples",),
    "rule": ("selection_rule",),
    "downlink": ("downlink_mbps",), "uplink": ("uplink_mbps",), "channel_mode": ("channel_mode",),
    "ber": ("ber",), "snr": ("snr_db",), "modulation": ("modulation",), "protection": ("protection",),
    "model": ("model",),
}
_CONTROL_ALIASES = {field: name for name, governed in CONTROLS.items() for field in governed}


@dataclass(frozen=True)
class ViewFlags:
    """Which sidebar controls a shared link locks (shown, disabled) or hides (not shown; the value still holds)."""
    lock: tuple[str, ...] = ()
    hide: tuple[str, ...] = ()

    def __post_init__(self):
        for name in ("lock", "hide"):
            for control in getattr(self, name):
                check_choice(name, control, tuple(CONTROLS))

    def to_query(self) -> dict[str, str]:
        return {k: ",".join(v) for k, v in (("lock", self.lock), ("hide", self.hide)) if v}

    @classmethod
    def from_query(cls, query: dict[str, str]) -> tuple["ViewFlags", list[str]]:
        """lock=ber,protection&hide=memory: control names (or settings names like memory_mb); unknown ones are
        reported."""
        found, problems = {"lock": [], "hide": []}, []
        for name in found:
            raw = query.get(name, "")
            raw = raw[-1] if isinstance(raw, list) else raw
            for item in (x.strip() for x in str(raw).split(",")):
                if not item:
                    continue
                control = item if item in CONTROLS else _CONTROL_ALIASES.get(item)
                if control is None:
                    problems.append(f"URL parameter {name}={cut(item)!r} ignored: not a control; allowed: "
                                    f"{', '.join(CONTROLS)}")
                elif control not in found[name]:
                    found[name].append(control)
        return cls(tuple(found["lock"]), tuple(found["hide"])), problems


def protection_names() -> tuple[str, ...]:
    """The receiver protections on offer, from the engine's registry."""
    return tuple(PROTECTIONS)


# ----- the rest of a link: parameters that are not settings -----
PRESENT_ON = ("1", "true", "yes", "on")
PRESENT_OFF = ("0", "false", "no", "off", "")
# Parameters of a link besides the settings: presenter view, lock/hide flags, the Guide's step, and Streamlit's own
# embedding options. Anything else is reported by name and dropped from the address.
LINK_PARAMETERS = ("present", "lock", "hide", "step", "embed", "embed_options")


_NEAR_NAMES = {"rate": ("downlink_mbps",), "bitrate": ("downlink_mbps",), "root": ("model",),
               "presenter": ("present",), "rule": ("selection_rule",)}


def link_problems(query: dict) -> list[str]:
    """What a link carries that is not a setting nor one of ``LINK_PARAMETERS`` (reported by name, with the nearest
    name allowed), and a ``present`` value that is neither on nor off. ``query`` maps names to values (or lists)."""
    from difflib import get_close_matches

    settings_names = [f.name for f in fields(Settings)]
    problems = []
    for key, raw in query.items():
        raw = raw[-1] if isinstance(raw, list) else raw
        if key == "present" and str(raw).strip().lower() not in PRESENT_ON + PRESENT_OFF:
            problems.append(f"URL parameter present={cut(raw)!r} ignored: presenter view is present=1 (on) or "
                            "present=0 (off)")
        if key in settings_names or key in LINK_PARAMETERS:
            continue
        governed = CONTROLS.get(key) or _NEAR_NAMES.get(key)
        near = list(governed) if governed else get_close_matches(key, settings_names, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]}? " if near else ""
        problems.append(f"URL parameter {cut(key)}={cut(raw)!r} ignored and removed from the address: not a setting "
                        f"of this dashboard; {hint}settings are {', '.join(settings_names)}")
    return problems

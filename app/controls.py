"""The sidebar: device, place, application, channel and receiver settings, kept across pages and in the URL.

What a box shows is what is used: preset values are shown as numbers (with a "use preset values" reset), and the
BER has an exact box beside its log slider, so a shared link's value is kept, never moved to the slider's grid.
A link can lock or hide controls: ``?scenario=pier&lock=ber,protection&hide=memory``.
"""
from __future__ import annotations

import re
from dataclasses import fields, replace

import streamlit as st

from app import glossary, units
from app.settings import (CHANNEL_MODES, LINK_PARAMETERS, SCENARIOS, Settings, ViewFlags, apply_scenario,
                          area_choices, cut, link_problems, model_choices, place_names, protection_names,
                          unusable_models)
from core.link.ber import BER_EXPONENTS, check_ber, on_grid, snap_ber
from core.link.link_budget import MODULATIONS
from core.link.protections import protection_label
from core.network.dsi import HARDWARE_PRESETS
from core.network.select import RULES
from core.network.rates import APPLICATIONS

RULE_WORDS = {"smallest": "smallest that meets every requirement", "most_accurate": "most accurate within the limits"}
assert set(RULE_WORDS) == set(RULES)
SETTINGS_KEYS = {f.name for f in fields(Settings)} | {"lock", "hide"}  # what the sidebar writes into the URL
# Settings fields whose box shows a preset's value unless the user overrides it: field -> preset value.
PRESET_FIELDS = {
    "memory_mb": lambda s: HARDWARE_PRESETS[s["hardware"]].model_memory_bytes / 1e6,
    "compute_gmacs": lambda s: HARDWARE_PRESETS[s["hardware"]].compute_macs_per_s / 1e9,
    "accelerators": lambda s: HARDWARE_PRESETS[s["hardware"]].accelerators,
    "latency_ms": lambda s: APPLICATIONS[s["application"]].latency_s * 1000,
}


def ber_from_exponent(exponent: float) -> float:
    """10 ** exponent, written so that whole decades equal the literal (1e-4 == 0.0001 exactly)."""
    return float(f"1e{int(exponent)}") if float(exponent).is_integer() else 10 ** float(exponent)


def ber_text(ber: float) -> str:
    """How the exact BER box shows a BER: a slider step as the slider writes it (1e-4.5), else the exact value."""
    if ber > 0 and on_grid(ber) and ber == ber_from_exponent(snap_ber(ber)):
        return f"1e{snap_ber(ber):g}"
    return repr(float(ber))


def parse_ber(text: str) -> float:
    """A BER typed in the exact box: a number (0.002, 2e-3) or a slider step's form 1e-4.5; ValueError otherwise."""
    text = str(text).strip()
    match = re.fullmatch(r"1e(-?\d+(?:\.\d+)?)", text)
    try:
        value = ber_from_exponent(float(match.group(1))) if match else float(text)
    except ValueError:
        raise ValueError(f"ber={cut(text)!r} is not a number; allowed: 0 to 0.5, e.g. 0.002 or 1e-3") from None
    return check_ber(value)


# ----- session state <-> widgets -----
def _flags() -> ViewFlags:
    return st.session_state.get("view_flags", ViewFlags())


def _init_state() -> None:
    """First run of a session: settings and lock/hide flags from the URL (shared views), else defaults."""
    if "settings" in st.session_state:
        return
    query = {k: st.query_params.get_all(k) for k in st.query_params}
    current, problems = Settings.from_query(query)
    flags, flag_problems = ViewFlags.from_query(query)
    st.session_state["settings"] = current
    st.session_state["view_flags"] = flags
    st.session_state["url_problems"] = problems + flag_problems + link_problems(query)
    load_settings(current)


def load_settings(s: Settings) -> None:
    """Show ``s`` in every control. Call it before the sidebar is drawn in a run (e.g. from a button's on_click);
    pages that set a preset (the Guide's story) use it."""
    _show(s, [f.name for f in fields(s)])
    st.session_state["settings"] = s


def _show(s: Settings, names) -> None:
    for name in names:
        if name in PRESET_FIELDS:
            value = getattr(s, name)
            st.session_state[f"w_{name}"] = PRESET_FIELDS[name](s.__dict__) if value is None else value
        elif name == "ber":
            _set_ber(s.ber)
        else:
            st.session_state[f"w_{name}"] = getattr(s, name)


def _restore_missing() -> None:
    """Streamlit forgets the state of a widget that was not drawn in a run (the SNR slider while BER is used, the
    BER controls while SNR is): before drawing, such controls get the current settings' values back."""
    s = st.session_state.get("settings", Settings())
    missing = [f.name for f in fields(s) if f.name != "ber" and f"w_{f.name}" not in st.session_state]
    if any(k not in st.session_state for k in ("w_ber_exp", "w_ber_text", "w_ber_zero")):
        missing.append("ber")
    _show(s, missing)


def _set_ber(ber: float) -> None:
    st.session_state["ber_value"] = ber
    st.session_state["w_ber_zero"] = ber == 0
    if ber > 0:
        st.session_state["w_ber_exp"] = snap_ber(ber)
        st.session_state["w_ber_text"] = ber_text(ber)
    else:
        st.session_state.setdefault("w_ber_exp", -4.0)
        st.session_state["w_ber_text"] = "0"
    st.session_state.pop("ber_error", None)


def use_link(rate_bps: float, ber: float) -> None:
    """Put a measured link (rate in bit/s, BER) into the sidebar; for callbacks (the location picker)."""
    st.session_state["w_downlink_mbps"] = round(rate_bps / 1e6, 3)
    st.session_state["w_channel_mode"] = "BER"
    _set_ber(ber)


def _on_scenario() -> None:
    name = st.session_state["w_scenario"]
    st.session_state.pop("scenario_error", None)
    if name != "custom":
        try:
            load_settings(apply_scenario(name))
        except ValueError as err:      # e.g. its area file was removed: say so, keep the current settings
            st.session_state["scenario_error"] = str(err)
            st.session_state["w_scenario"] = "custom"


def set_area(key: str) -> None:
    """Choose the area (its key, see app.settings.area_choices) for every page; the location is kept when the new
    area has a place of that name, else it becomes "not reported". For callbacks (the sidebar's and the
    Predictive downloads page's area boxes)."""
    st.session_state["w_area"] = key
    try:
        names = place_names(key)
    except ValueError:
        names = ()          # a damaged file: the sidebar reports it when it reads the settings
    if st.session_state.get("w_place", "") not in names:
        st.session_state["w_place"] = ""


def _on_area() -> None:
    set_area(st.session_state["w_area"])


def _area_places(key: str) -> list[str]:
    try:
        return list(place_names(key))
    except ValueError:
        return []


def _on_preset_source(fields_: tuple[str, ...]) -> None:
    """The hardware or the application changed: its preset values fill their boxes."""
    state = {"hardware": st.session_state["w_hardware"], "application": st.session_state["w_application"]}
    for name in fields_:
        st.session_state[f"w_{name}"] = PRESET_FIELDS[name](state)


def _on_ber_slider() -> None:
    _set_ber(ber_from_exponent(st.session_state["w_ber_exp"]))


def _on_ber_text() -> None:
    try:
        ber = parse_ber(st.session_state["w_ber_text"])
    except ValueError as err:
        st.session_state["ber_error"] = str(err)
        return
    text = st.session_state["w_ber_text"]
    _set_ber(ber)
    st.session_state["w_ber_text"] = text.strip()  # shown as typed


def _on_ber_zero() -> None:
    if st.session_state["w_ber_zero"]:
        st.session_state["ber_value"] = 0.0
        st.session_state["w_ber_text"] = "0"
    else:
        _set_ber(ber_from_exponent(st.session_state["w_ber_exp"]))


# ----- drawing -----
def _widget(kind, label: str, control: str, **kwargs):
    """Draw a control unless the link hides it; disabled when the link locks it."""
    flags = _flags()
    if control in flags.hide:
        return None
    return kind(label, disabled=control in flags.lock or kwargs.pop("disabled", False), **kwargs)


def sidebar() -> Settings:
    """Draw the controls and return the validated settings (also stored in session state and the URL)."""
    _init_state()
    _restore_missing()
    flags = _flags()
    sb = st.sidebar
    with sb:
        _widget(st.selectbox, "Device scenario", "scenario", options=["custom"] + list(SCENARIOS),
                key="w_scenario", on_change=_on_scenario,
                format_func=lambda k: "custom" if k == "custom" else SCENARIOS[k].title,
                help="A device story that sets every control at once (the Predictive downloads page has its own "
                     "city scenarios)")
        if st.session_state.get("w_scenario") in SCENARIOS and "scenario" not in flags.hide:
            st.caption(SCENARIOS[st.session_state["w_scenario"]].story)
        if st.session_state.get("scenario_error"):
            st.error(st.session_state["scenario_error"])
    with sb.expander("Device", expanded=True):
        _widget(st.selectbox, "Hardware", "hardware", options=list(HARDWARE_PRESETS), key="w_hardware",
                on_change=_on_preset_source, args=(("memory_mb", "compute_gmacs", "accelerators"),))
        hw = HARDWARE_PRESETS[st.session_state["w_hardware"]]
        st.caption(f"Preset: {units.size_bytes(hw.model_memory_bytes)} model memory, {rate_words(hw)}, "
                   f"{hw.accelerators} accelerator(s).")
        _widget(st.number_input, "Model memory (MB)", "memory", min_value=1e-6, key="w_memory_mb", step=1.0,
                format="%g")
        _widget(st.number_input, "Compute at the fastest precision (billion multiply-adds per second)", "compute",
                min_value=1e-6, key="w_compute_gmacs", step=1.0, format="%g", help=glossary.explain("multiply-adds per second"))
        _widget(st.selectbox, "AI accelerators", "accelerators", options=[1, 2], key="w_accelerators")
        areas = area_choices()
        if st.session_state.get("w_area") not in areas:   # an area file removed since: back to the default
            set_area(Settings().area)
        _widget(st.selectbox, "Area", "area", options=list(areas), key="w_area", on_change=_on_area,
                format_func=lambda k: areas.get(k, k),
                help="The city the device is in (every page uses it). Area files in assets/area or $INSITU_AREAS; "
                     "make one from an OpenStreetMap extract with python -m core.mobility.osm")
        _widget(st.selectbox, "Location", "place", options=[""] + _area_places(st.session_state["w_area"]),
                key="w_place", format_func=lambda p: p or "not reported")
    with sb.expander("Application", expanded=True):
        _widget(st.selectbox, "Application", "application", options=list(APPLICATIONS), key="w_application",
                on_change=_on_preset_source, args=(("latency_ms",),))
        _widget(st.number_input, "Latency budget (ms)", "latency", min_value=1e-6, key="w_latency_ms", step=1.0,
                format="%g", help="Filled with the application's preset; type another budget to override it")
        _widget(st.slider, "Minimum accuracy", "accuracy", min_value=0.0, max_value=1.0, key="w_min_accuracy",
                step=0.01)
        _widget(st.number_input, "Samples per task", "samples", min_value=1, max_value=100_000, key="w_samples",
                step=1)
        _widget(st.radio, "Which sub-model to send", "rule", options=list(RULE_WORDS), key="w_selection_rule",
                format_func=RULE_WORDS.get,
                help="Among the sub-models that meet every requirement: the smallest download (the paper's "
                     "adaptation to the link and the device), or the most accurate, where estimates whose "
                     "intervals overlap count as a tie that goes to the smaller download")
    _preset_reset(sb, flags)
    with sb.expander("Channel", expanded=True):
        _widget(st.number_input, "Downlink (Mb/s)", "downlink", min_value=1e-6, key="w_downlink_mbps", format="%g")
        _widget(st.number_input, "Uplink (Mb/s)", "uplink", min_value=1e-6, key="w_uplink_mbps", format="%g")
        _widget(st.radio, "Errors given by", "channel_mode", options=CHANNEL_MODES, key="w_channel_mode",
                horizontal=True)
        if st.session_state.get("w_channel_mode", "BER") == "BER":
            _ber_controls()
        else:
            _widget(st.slider, "SNR (dB)", "snr", min_value=-20.0, max_value=60.0, key="w_snr_db", step=0.5)
            _widget(st.selectbox, "Modulation", "modulation", options=list(MODULATIONS), key="w_modulation")
        _widget(st.selectbox, "Receiver protection", "protection", options=list(protection_names()),
                key="w_protection", format_func=protection_label, help=glossary.tip("protection"))
    with sb:
        _widget(st.selectbox, "Root model", "model", options=list(model_choices()), key="w_model",
                help="The shipped default, or any checkpoint trained with "
                     "`python -m core.model.train --out runs/NAME`")
        rejected = unusable_models()
        if rejected and "model" not in flags.hide:
            with st.expander(f"Not offered: {len(rejected)} unusable checkpoint(s)"):
                for path, reason in rejected.items():
                    st.caption(f"`{cut(path, 80)}`: {reason}")
    current = _read(sb, flags)
    for problem in st.session_state.get("url_problems", []):
        sb.warning(problem)
    shown = {k: st.query_params.get_all(k)[-1] for k in st.query_params}
    # Other pages' parameters stay; anything the link carries that is neither a setting nor one of theirs was
    # reported (link_problems) and leaves the address, so that a shared link never seems to set what it does not.
    others = {k: v for k, v in shown.items() if k not in SETTINGS_KEYS and k in LINK_PARAMETERS}
    query = {**others, **current.to_query(), **flags.to_query()}
    if shown != query:
        st.query_params.from_dict(query)
    ber = current.effective_ber
    sb.caption(f"{BER_IN_USE}{units.ber(ber)}" + (f" (from {current.snr_db:g} dB, {current.modulation})"
                                                  if current.channel_mode == "SNR" else ""),
               help=glossary.tip("BER", "payload"))
    return current


BER_IN_USE = "Bit-error rate on the link: "  # the sidebar caption that says which BER every page uses


def rate_words(hw) -> str:
    """'17,500 billion multiply-adds per second with 8-bit numbers, 8,750 with 16-bit, 1,080 with 32-bit': each
    precision's rate (an NPU's TOPS count is for its integer precisions; fp32 runs on the GPU or CPU)."""
    rates = [(b, hw.macs_per_s(b) / 1e9) for b in sorted(hw.precisions)]
    first, *rest = rates
    words = f"{units.number(first[1])} billion multiply-adds per second with {first[0]}-bit numbers"
    return words + "".join(f", {units.number(r)} with {b}-bit" for b, r in rest)


def _preset_reset(sb, flags: ViewFlags) -> None:
    governed = ("memory", "compute", "accelerators", "latency")
    if all(c in flags.hide for c in governed):
        return
    sb.button("Use preset values", key="w_use_presets", on_click=_on_preset_source, args=(tuple(PRESET_FIELDS),),
              disabled=any(c in flags.lock for c in governed),
              help="Memory, compute and accelerators from the hardware preset, latency budget from the application")


BER_SLIDER = "Bit-error rate (BER), log scale"


def _ber_controls() -> None:
    flags = _flags()
    if "ber" in flags.hide:
        return
    locked = "ber" in flags.lock
    st.checkbox("Error-free link (BER 0)", key="w_ber_zero", on_change=_on_ber_zero, disabled=locked)
    zero = st.session_state["w_ber_zero"]
    st.select_slider(BER_SLIDER, BER_EXPONENTS, key="w_ber_exp", on_change=_on_ber_slider,
                     disabled=zero or locked, format_func=lambda e: units.ber_short(ber_from_exponent(e)),
                     help=glossary.tip("BER"))
    st.text_input("Bit-error rate, exact value", key="w_ber_text", on_change=_on_ber_text, disabled=zero or locked,
                  help="Any BER from 0 to 0.5, e.g. 0.002 or 2e-3 (= 2 × 10⁻³); the slider shows the nearest step")
    if st.session_state.get("ber_error"):
        st.error(f"{st.session_state['ber_error']}; still using {st.session_state['ber_value']:g}")
    ber = st.session_state["ber_value"]
    if ber > 0 and not on_grid(ber):
        st.caption(f"The slider shows the nearest step, {units.ber_short(ber_from_exponent(snap_ber(ber)))}; the "
                   f"exact BER {units.ber_short(ber)} is used.")


def _read(sb, flags: ViewFlags) -> Settings:
    """The settings the controls show (hidden controls keep their value), validated."""
    previous = st.session_state.get("settings", Settings())
    values = {}
    for f in fields(Settings):
        key = f"w_{f.name}"
        values[f.name] = st.session_state[key] if key in st.session_state else getattr(previous, f.name)
    values["ber"] = st.session_state.get("ber_value", previous.ber)
    hidden = {name for control in flags.hide for name in _governed(control)}
    for name in hidden:
        values[name] = getattr(previous, name)
    for name, preset in PRESET_FIELDS.items():
        if name not in hidden and values[name] is not None and values[name] == preset(values):
            values[name] = None  # the preset's own value: the record says "preset", so a new preset follows
    values["samples"] = int(values["samples"])
    try:
        current = Settings(**values)
    except ValueError as err:
        sb.error(f"Invalid setting: {err}")
        current = previous
    if current.scenario != "custom" and current != apply_scenario(current.scenario):
        current = replace(current, scenario="custom")  # a control moved away from the preset; the record says so
    st.session_state["settings"] = current
    return current


def _governed(control: str) -> tuple[str, ...]:
    from app.settings import CONTROLS

    return CONTROLS[control]


__all__ = ["sidebar", "load_settings", "use_link", "set_area", "parse_ber", "ber_text", "ber_from_exponent"]

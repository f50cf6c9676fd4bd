"""The sidebar: device, place, application, channel and receiver settings, kept across pages and in the URL."""
from __future__ import annotations

import math
from dataclasses import fields

import streamlit as st

from app.settings import CHANNEL_MODES, PROTECTIONS, SCENARIOS, Settings, apply_scenario, model_choices
from core.network.dsi import HARDWARE_PRESETS
from core.link.link_budget import MODULATIONS
from core.network.rates import APPLICATIONS

BER_EXPONENTS = [-9.0, -8.0, -7.0, -6.0, -5.0, -4.5, -4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0]


def _places() -> list[str]:
    from core.mobility.area import load_area

    return [""] + [p.name for p in load_area().places]


def _init_state() -> None:
    """First run of a session: settings from the URL (shared views), else defaults."""
    if "settings" in st.session_state:
        return
    current, problems = Settings.from_query(dict(st.query_params))
    st.session_state["settings"] = current
    st.session_state["url_problems"] = problems
    _to_widgets(current)


def _to_widgets(s: Settings) -> None:
    for f in fields(s):
        st.session_state[f"w_{f.name}"] = getattr(s, f.name)
    st.session_state["w_ber_exp"] = min(BER_EXPONENTS, key=lambda e: abs(e - math.log10(max(s.ber, 1e-12))))
    st.session_state["w_ber_zero"] = s.ber == 0


def _on_scenario() -> None:
    name = st.session_state["w_scenario"]
    if name != "custom":
        _to_widgets(apply_scenario(name))


def sidebar() -> Settings:
    """Draw the controls and return the validated settings (also stored in session state and the URL)."""
    _init_state()
    sb = st.sidebar
    sb.selectbox("Scenario preset", ["custom"] + list(SCENARIOS), key="w_scenario", on_change=_on_scenario,
                 help="Sets every control at once")
    if st.session_state["w_scenario"] in SCENARIOS:
        sb.caption(SCENARIOS[st.session_state["w_scenario"]].story)
    with sb.expander("Device", expanded=True):
        st.selectbox("Hardware", list(HARDWARE_PRESETS), key="w_hardware")
        hw = HARDWARE_PRESETS[st.session_state["w_hardware"]]
        st.caption(f"Preset: {hw.model_memory_bytes / 1e6:g} MB model memory, {hw.compute_macs_per_s / 1e9:g} "
                   f"GMAC/s, precisions {list(hw.precisions)}, {hw.accelerators} accelerator(s). 0 = preset.")
        st.number_input("Model memory (MB)", min_value=0.0, key="w_memory_mb", step=1.0)
        st.number_input("Compute (GMAC/s)", min_value=0.0, key="w_compute_gmacs", step=1.0)
        st.selectbox("AI accelerators", [0, 1, 2], key="w_accelerators", format_func=lambda v: "preset" if v == 0 else str(v))
        st.selectbox("Location", _places(), key="w_place", format_func=lambda p: p or "not reported")
    with sb.expander("Application", expanded=True):
        st.selectbox("Application", list(APPLICATIONS), key="w_application")
        st.number_input("Latency budget (ms, 0 = preset)", min_value=0.0, key="w_latency_ms", step=1.0)
        st.slider("Minimum accuracy", 0.0, 1.0, key="w_min_accuracy", step=0.01)
        st.number_input("Samples per task", min_value=1, max_value=100_000, key="w_samples", step=1)
    with sb.expander("Channel", expanded=True):
        st.number_input("Downlink (Mb/s)", min_value=0.001, key="w_downlink_mbps", format="%g")
        st.number_input("Uplink (Mb/s)", min_value=0.001, key="w_uplink_mbps", format="%g")
        st.radio("Errors given by", CHANNEL_MODES, key="w_channel_mode", horizontal=True)
        if st.session_state["w_channel_mode"] == "BER":
            st.checkbox("Error-free link (BER 0)", key="w_ber_zero")
            st.select_slider("BER (log10)", BER_EXPONENTS, key="w_ber_exp",
                             disabled=st.session_state["w_ber_zero"], format_func=lambda e: f"1e{e:g}")
        else:
            st.slider("SNR (dB)", -20.0, 60.0, key="w_snr_db", step=0.5)
            st.selectbox("Modulation", list(MODULATIONS), key="w_modulation")
        st.selectbox("Receiver protection", PROTECTIONS, key="w_protection")
    sb.selectbox("Root model", list(model_choices()), key="w_model",
                 help="The shipped default, or any checkpoint trained with `python -m core.model.train --out runs/NAME`")
    values = {f.name: st.session_state.get(f"w_{f.name}", getattr(Settings(), f.name)) for f in fields(Settings)}
    values["ber"] = 0.0 if st.session_state["w_ber_zero"] else 10 ** st.session_state["w_ber_exp"]
    values["samples"] = int(values["samples"])
    values["accelerators"] = int(values["accelerators"])
    try:
        current = Settings(**values)
    except ValueError as err:
        sb.error(f"Invalid setting: {err}")
        current = st.session_state.get("settings", Settings())
    if current.scenario != "custom":
        preset = apply_scenario(current.scenario)
        if current != preset:  # a control moved away from the preset
            from dataclasses import replace
            current = replace(current, scenario="custom")  # the widget keeps its label; the record says so
    st.session_state["settings"] = current
    for problem in st.session_state.get("url_problems", []):
        sb.warning(problem)
    query = current.to_query()
    if dict(st.query_params) != query:
        st.query_params.from_dict(query)
    ber = current.effective_ber
    sb.caption(f"Payload BER in use: {ber:.2e}" + (f" (from {current.snr_db:g} dB, {current.modulation})"
                                                  if current.channel_mode == "SNR" else ""))
    return current

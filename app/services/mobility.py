"""Predictive downloads: mobility runs and their maps, shared read-only by every session with the same choices,
the area files on offer and each place's model size from the AI library."""
from __future__ import annotations

import streamlit as st

from app.services import keys, situation_library


@st.cache_resource(show_spinner="Simulating the users' day…", max_entries=16)
def simulation(preset: str = "default", n_users: int = 200, duration_s: float = 3600.0, accelerators: int = 2,
               seed: int = 0, area_path: str = "", models: tuple = (), area_stamp: float = 0.0):
    """One mobility run (core.mobility.simulate), shared read-only by every session with the same choices.
    ``area_path`` "" is the default area; ``models`` the sizes from ``mobility_sizes(...).models`` (plain values);
    ``area_stamp`` the area file's modification time, so that a replaced file is simulated again."""
    from dataclasses import replace

    from core.mobility.simulate import scenario, simulate

    base = scenario(preset)
    config = replace(base, n_users=n_users, duration_s=duration_s, area_path=area_path or None,
                     models=models or None, device=replace(base.device, accelerators=accelerators))
    return simulate(config, seed)


@st.cache_data(show_spinner="Drawing the map…", max_entries=32)
def mobility_map(preset: str, n_users: int, duration_s: float, accelerators: int, seed: int, policy: str,
                 sample_users: int = 20, inline_assets: bool = False, area_path: str = "", models: tuple = (),
                 area_stamp: float = 0.0, place_models: tuple = ()) -> str:
    """The simulation's folium map as HTML; Leaflet from the app's own /app/static (or inlined for a download).
    ``place_models``: (context, words) pairs, the model each place's tooltip names (``place_models(sizes)``)."""
    from app.maps import map_html

    result = simulation(preset, n_users, duration_s, accelerators, seed, area_path, models, area_stamp)
    return map_html(result, sample_users=sample_users, policy=policy, inline_assets=inline_assets,
                    place_models=dict(place_models))


DEVICE_WORDS = {"walk": "a phone", "drive": "a car"}


def place_models(sizes) -> tuple:
    """(context, words) per context of a ModelTable: the sub-model each kind of device downloads there, its size
    and its accuracy on the situation's own photos, e.g. "a phone: park model: exit 4, 8-bit (5.62 Mbit, 83.3 %
    on its photos)"."""
    import math

    from app import units

    out = {}
    for r in sizes.rows.itertuples():
        acc = "" if math.isnan(float(r.accuracy)) else f", {units.percent(r.accuracy)} on its photos"
        said = f"{DEVICE_WORDS.get(r.device_class, r.device_class)}: {r.model} ({r.bits / 1e6:.2f} Mbit{acc})"
        out.setdefault(r.context, []).append(said)
    return tuple((c, "; ".join(v)) for c, v in out.items())


def mobility_presets() -> dict:
    """The mobility scenario presets (core.mobility.simulate.SCENARIOS) and the policies, for the page's controls."""
    from core.mobility.policies import POLICIES
    from core.mobility.simulate import SCENARIOS

    return {"scenarios": dict(SCENARIOS), "policies": POLICIES}


def area_files() -> dict[str, tuple[str, float]]:
    """Area files on offer: display name -> (path, modification time); the default area first."""
    from core.mobility.area import list_areas

    return {name: (str(path), keys.area_stamp(str(path))) for name, path in list_areas().items()}


def area_at(path: str):
    """The area of a file (core.mobility.area.load_area caches it; read-only). ValueError names a damaged file."""
    from core.mobility.area import load_area

    return load_area(path or None)


def mobility_sizes(area_path: str = "", area_stamp: float = 0.0, min_accuracy: float = 0.0):
    """Per device class and context: the sub-model of the context's situation model that the AI library's selection
    picks (core.mobility.catalog.library_models on each situation's own library) for the context's application, at
    the link of the context's places. A context that is not a situation, or whose library cannot be opened, gets
    the fallback table's size (the reason in the table's note)."""
    from core.mobility.area import load_area

    area = load_area(area_path or None)
    return _mobility_sizes(area_path, area_stamp, situation_library.stamps(area.contexts), min_accuracy)


@st.cache_data(show_spinner="Choosing each place's model from the AI library…", max_entries=32)
def _mobility_sizes(area_path: str, area_stamp: float, situation_stamps: tuple, min_accuracy: float):
    import numpy as np

    from core.mobility.area import load_area
    from core.mobility.catalog import library_models, preset_models
    from core.mobility.link import LinkConfig, link_ber, serving_links

    area = load_area(area_path or None)
    libs, problems = situation_library.libraries(area.contexts)
    if not libs:
        why = " ".join(problems.values())
        return preset_models(area.context_applications, why=f"{why} Sizes come from the fallback table.")
    _, snr, rate = serving_links(area.place_xy, area.bs_xy, LinkConfig())
    ber, _ = link_ber(snr, LinkConfig())
    ctx = np.array([p.context for p in area.places], dtype=object)
    # The link a device has when it asks for a context's model: the median over the context's places.
    downlink = {c: float(np.median(rate[ctx == c])) for c in area.contexts if (ctx == c).any()}
    errors = {c: float(np.median(ber[ctx == c])) for c in downlink}
    for c in area.contexts:            # needed on the road only (driving): the median link over every place
        if c not in downlink:
            downlink[c], errors[c] = float(np.median(rate)), float(np.median(ber))
    return library_models(libs, area.context_applications, downlink, errors, min_accuracy=min_accuracy)

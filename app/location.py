"""Device location by a click on the area map: the place's context, its serving base station and the link there.

Page helper (no caching): the map is drawn from the area data, so it works without a tile server.
"""
from __future__ import annotations

import math

import streamlit as st

from app import charts
from app.controls import BER_EXPONENTS


def _on_pick() -> None:
    points = st.session_state["loc_map"].selection.get("points", [])
    name = points[0].get("customdata") if points else None
    if isinstance(name, list):
        name = name[0] if name else None
    if name:
        st.session_state["w_place"] = name  # a callback runs before the sidebar is drawn again


def link_at(area, place) -> dict:
    """Serving base station, distance, SNR, Shannon rate and BER at a place (core.mobility.link defaults)."""
    import numpy as np

    from core.mobility.link import LinkConfig, link_ber, serving_links

    cfg = LinkConfig()
    xy = area.to_xy(np.array([[place.lat, place.lon]]))
    bs, snr, rate = serving_links(xy, area.bs_xy, cfg)
    ber, modulation = link_ber(snr, cfg)
    station = area.base_stations[int(bs[0])]
    distance = float(np.hypot(*(xy[0] - area.bs_xy[int(bs[0])])))
    return {"station": station.name, "distance_m": distance, "snr_db": float(snr[0]), "rate_bps": float(rate[0]),
            "ber": float(ber[0]), "modulation": str(modulation[0]), "preset": cfg.resolved()}


def _use_link(rate_bps: float, ber: float) -> None:
    st.session_state["w_downlink_mbps"] = round(rate_bps / 1e6, 3)
    st.session_state["w_channel_mode"] = "BER"
    st.session_state["w_ber_zero"] = ber < 10 ** BER_EXPONENTS[0]
    if ber > 0:
        st.session_state["w_ber_exp"] = min(BER_EXPONENTS, key=lambda e: abs(e - math.log10(ber)))


def location_picker(place_name: str) -> None:
    """An expander with the area map; clicking a place sets the sidebar's location."""
    from core.mobility.area import load_area

    area = load_area()
    with st.expander(f"Device location: {place_name or 'not reported'} (click a place on the map)"):
        st.plotly_chart(charts.area_figure(area, place_name), key="loc_map", on_select=_on_pick,
                        selection_mode="points", width="stretch")
        place = next((p for p in area.places if p.name == place_name), None)
        if place is None:
            st.caption("Pick a place to see what it needs and the link there.")
            return
        link = link_at(area, place)
        st.markdown(f"**{place.name}** ({place.kind}): the device needs: "
                    f"{area.context_labels.get(place.context, place.context)}. Served by "
                    f"{link['station']} at {link['distance_m']:.0f} m: SNR {link['snr_db']:.1f} dB, "
                    f"{link['modulation']}, {charts.format_rate(link['rate_bps'])}, BER {link['ber']:.1e} "
                    f"({link['preset'].name}; path loss and Shannon rate from core.mobility.link).")
        st.button("Use this link in the sidebar", on_click=_use_link, args=(link["rate_bps"], link["ber"]),
                  key="loc_use_link")

"""Device location by a click on the area map: the place's context, its serving base station and the link there.

Page helper: the map is drawn from the area data (no tile server); the link comes from the engine via services.
"""
from __future__ import annotations

import streamlit as st

from app import charts, present, services
from app.controls import use_link


def _on_pick() -> None:
    points = st.session_state["loc_map"].selection.get("points", [])
    name = points[0].get("customdata") if points else None
    if isinstance(name, list):
        name = name[0] if name else None
    if name:
        st.session_state["w_place"] = name  # a callback runs before the sidebar is drawn again


def location_picker(place_name: str) -> None:
    """An expander with the area map; clicking a place sets the sidebar's location."""
    area = services.area()
    with st.expander(f"Device location: {place_name or 'not reported'} in {area.name} (click a place on the map)"):
        present.chart(charts.area_figure(area, place_name), key="loc_map", name="area_map", on_select=_on_pick,
                        selection_mode="points", width="stretch")
        place = next((p for p in area.places if p.name == place_name), None)
        if place is None:
            st.caption("Pick a place to see what it needs and the link there.")
            return
        stamp = services.area_stamp(area.path)   # a replaced area file is read again
        link = services.place_link(place.name, services.settings().area, stamp)
        st.markdown(f"**{place.name}** ({place.kind}): the device needs: "
                    f"{area.context_labels.get(place.context, place.context)}. Served by "
                    f"{link.station} at {link.distance_m:.0f} m: SNR {link.snr_db:.1f} dB, "
                    f"{link.modulation}, {charts.format_rate(link.rate_bps)}, BER {link.ber:.1e} "
                    f"({link.preset.name}; path loss and Shannon rate from core.mobility.link).")
        st.button("Use this link in the sidebar", on_click=use_link, args=(link.rate_bps, link.ber),
                  key="loc_use_link")

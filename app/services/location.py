"""The device's location: the sidebar's area and the link at a place of it."""
from __future__ import annotations

import streamlit as st

from app.services import roots


def area():
    """The sidebar's area (core.mobility.area.load_area caches it: one object per file version, read-only)."""
    from app.settings import area_of

    return area_of(roots.settings().area)


@st.cache_data(show_spinner=False, max_entries=256)
def place_link(place: str, area_key: str = "", area_stamp: float = 0.0):
    """The link at a place of an area (core.mobility.link.link_at with its default configuration); ``area_key``
    names the area ("" the default), ``area_stamp`` its file's modification time (a replaced file is read again)."""
    from app.settings import area_of
    from core.mobility.link import link_at

    return link_at(area_of(area_key), place)

"""Presenter view and chart display for every page: ``?present=1`` or the toggle hides the sidebar, download
buttons and raw tables and enlarges text and charts; ``chart`` is the one way pages draw a plotly figure (slide
export config, palette, presenter scaling)."""
from __future__ import annotations

import streamlit as st

from app import charts

STATE = "presenter_on"          # survives page changes (widget state does not)
WIDGET = "w_presenter"
FORMAT_STATE = "chart_image_format"
SCALE = 1.4                     # text and chart fonts in presenter view (the issue asks for >= 1.3)
TRUE = ("1", "true", "yes", "on")

# Hidden in presenter view: the sidebar and its toggle, download buttons, raw tables; text enlarged. Streamlit
# sizes text in rem, so the root font size scales it all.
CSS = f"""<style>
html {{ font-size: {SCALE * 100:.0f}%; }}
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stDownloadButton"], [data-testid="stDataFrame"], [data-testid="stTable"],
.present-hide {{ display: none !important; }}
[data-testid="stMainBlockContainer"] {{ max-width: 100%; padding-top: 2rem; }}
</style>"""


def init_from_url() -> None:
    """First run of a session: ``?present=1`` turns presenter view on (read before the sidebar rewrites the URL)."""
    if STATE not in st.session_state:
        st.session_state[STATE] = str(st.query_params.get("present", "")).lower() in TRUE


def is_on() -> bool:
    return bool(st.session_state.get(STATE, False))


def _sync(key: str) -> None:
    st.session_state[STATE] = bool(st.session_state[key])


def toggle(where=None, key: str = WIDGET) -> bool:
    """The presenter toggle (in ``where``: the sidebar, a column, or the main area); ``key`` differs per place."""
    where = where if where is not None else st
    st.session_state[key] = is_on()
    where.toggle("Presenter view", key=key, on_change=_sync, args=(key,),
                 help="Large text and charts for a projector; hides the sidebar, download buttons and raw tables. "
                      "Share it as a link with ?present=1.")
    return is_on()


def apply(page_has_toggle: bool = False) -> None:
    """Every page, after the sidebar: the presenter styles and the toggle (main area when on, sidebar when off;
    none here when the page draws its own), and ``present=1`` kept in the URL so that the view can be shared."""
    if is_on():
        st.html(CSS)
        if not page_has_toggle:
            toggle()
        if st.query_params.get("present") != "1":
            st.query_params["present"] = "1"
    else:
        toggle(st.sidebar)
        if "present" in st.query_params:
            del st.query_params["present"]


def image_format() -> str:
    return st.session_state.get(FORMAT_STATE, charts.IMAGE_FORMATS[0])


def format_choice(where=None) -> str:
    """Radio for the image format that every chart's camera button saves (PNG or SVG, 1920x1080)."""
    where = where if where is not None else st
    st.session_state.setdefault("w_" + FORMAT_STATE, image_format())
    where.radio("Chart image format (camera icon above each chart)", charts.IMAGE_FORMATS, key="w_" + FORMAT_STATE,
                horizontal=True, format_func=str.upper,
                on_change=lambda: st.session_state.__setitem__(FORMAT_STATE, st.session_state["w_" + FORMAT_STATE]),
                help="Each chart's camera icon saves a 1920x1080 slide image, drawn in your browser: no internet")
    return image_format()


def chart(fig, key: str, name: str | None = None, where=None, **kwargs):
    """st.plotly_chart with the slide export config (PNG/SVG at 1920x1080 from the modebar), the colour-blind-safe
    palette and, in presenter view, larger fonts and height. ``fig`` is copied, never changed."""
    where = where if where is not None else st
    shown = charts.readable(fig, SCALE if is_on() else 1.0)
    return where.plotly_chart(shown, key=key, config=charts.plot_config(name or key, image_format()), **kwargs)


def table(df, **kwargs):
    """A raw table: drawn unless presenter view is on."""
    if is_on():
        return None
    return st.dataframe(df, **kwargs)

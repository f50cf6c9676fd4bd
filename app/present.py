"""Presenter view and what every page draws through it: ``?present=1`` or the toggle hides the sidebar, download
buttons and raw tables and enlarges text and charts; ``chart``, ``table`` and ``metric`` draw a figure, a table
(headers in words) or a number and remember it, so that ``report_button`` can write the view as one offline HTML
file (app.export); ``words`` explains the jargon a page uses (app.glossary)."""
from __future__ import annotations

import streamlit as st

from app import charts, export, glossary, units
from app.settings import PRESENT_ON

STATE = "presenter_on"          # survives page changes (widget state does not)
WIDGET = "w_presenter"
FORMAT_STATE = "chart_image_format"
SCALE = 1.4                     # text and chart fonts in presenter view (the issue asks for >= 1.3)
REPORT = "page_report"          # what the current page has drawn: key -> (kind, title, value), for the report

# Hidden in presenter view: the sidebar and its toggle, download buttons, raw tables; text enlarged. Streamlit
# sizes text in rem, so the root font size scales it all.
CSS = f"""<style>
html {{ font-size: {SCALE * 100:.0f}%; }}
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stDownloadButton"], [data-testid="stDataFrame"], [data-testid="stTable"],
.present-hide {{ display: none !important; }}
[data-testid="stMainBlockContainer"] {{ max-width: 100%; padding-top: 2rem; }}
</style>"""

# Every page: a metric's label and value wrap onto another line where a column is too narrow for them (three
# metrics side by side on a 1500-pixel projector), instead of being cut short with an ellipsis ("exit 1, keep…").
WRAP_CSS = """<style>
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] *, [data-testid="stMetricValue"],
[data-testid="stMetricValue"] * { white-space: normal !important; text-overflow: clip !important;
  overflow: visible !important; overflow-wrap: anywhere; }
</style>"""


def init_from_url() -> None:
    """First run of a session: ``?present=1`` turns presenter view on (read before the sidebar rewrites the URL)."""
    if STATE not in st.session_state:
        st.session_state[STATE] = str(st.query_params.get("present", "")).strip().lower() in PRESENT_ON


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
    none here when the page draws its own), and ``present=1`` kept in the URL so that the view can be shared.
    Also starts this run's record of what the page draws (for its report)."""
    st.session_state[REPORT] = {}
    st.html(WRAP_CSS)
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


def chart(fig, key: str, name: str | None = None, where=None, height: int | None = None, compact: bool = False,
          **kwargs):
    """st.plotly_chart with the slide export config (PNG/SVG at 1920x1080 from the modebar), the colour-blind-safe
    palette and, in presenter view, larger fonts and height (``height`` in pixels overrides it: a slide's room);
    ``compact`` for a small chart (its toolbar without the zoom buttons). ``fig`` is copied, never changed."""
    where = where if where is not None else st
    _remember(key, "figure", _title(fig) or (name or key).replace("_", " "), fig)
    shown = charts.readable(fig, SCALE if is_on() else 1.0)
    if height is not None:
        shown.update_layout(height=int(height))
    return where.plotly_chart(shown, key=key, config=charts.plot_config(name or key, image_format(), compact),
                              **kwargs)


def table(df, title: str = "", where=None, column_config: dict | None = None, **kwargs):
    """A raw table with its headers in words (app.units.header, or the column_config's label): drawn unless
    presenter view is on, and remembered for the report either way."""
    where = where if where is not None else st
    labels = {c: _label(column_config.get(c)) for c in df.columns} if column_config else {}
    shown = units.plain_table(df.rename(columns={c: lab for c, lab in labels.items() if lab}))
    config = {labels.get(c) or units.header(c): _without_label(v) for c, v in (column_config or {}).items()
              if isinstance(v, dict)}
    _remember(kwargs.get("key") or f"table{len(_record())}", "table", title, shown)
    if is_on():
        return None
    kwargs.setdefault("placeholder", units.MISSING)  # a missing value reads as a dash, not "None"
    return where.dataframe(shown, column_config=config or None, **kwargs)


def metric(where, label: str, value, delta=None, report_label: str | None = None, **kwargs):
    """st.metric in ``where`` (a column, the sidebar, st), remembered for the report as a number under
    ``report_label`` (default: the label; name them apart where a page repeats a label). A metric redrawn in the
    same run (a growing estimate) keeps its latest value."""
    where = where if where is not None else st
    name = report_label or label
    _remember(f"metric:{name}", "fact", name, (str(value), "" if delta is None else str(delta)))
    return where.metric(label, value, delta, **kwargs)


def remember(key: str, kind: str, title: str, value) -> None:
    """Add something drawn another way to the page's report: kind "figure", "table", "html" (a callable giving an
    offline HTML page, e.g. a map), "fact" ((value, note)) or "text"."""
    _remember(key, kind, title, value)


def words(*terms: str, where=None) -> None:
    """An expander that explains the jargon this page uses, in the glossary's words (not in presenter view)."""
    if is_on():
        return
    where = where if where is not None else st
    with where.expander("Words used on this page"):
        for term in terms:
            st.markdown(f"**{term}**: {glossary.explain(term)}")


def report_button(title: str, settings, where=None) -> None:
    """'Download this view as a report': one self-contained HTML file (app.export) with the settings and everything
    this page drew in this run. Made when clicked (deferred), so it costs nothing until then; not in presenter view."""
    if is_on():
        return
    where = where if where is not None else st
    record = _record()
    where.download_button("Download this view as a report", lambda: page_report(title, settings, record),
                          f"{title.lower().replace(' ', '_')}_report.html", "text/html", on_click="ignore",
                          key="page_report_download", icon=":material/description:",
                          help="One HTML file with the current settings, every chart and the numbers of this page; "
                               "it opens in any browser without internet")


def page_report(title: str, settings, record: dict) -> str:
    """The report of one page from its record (what ``chart``, ``table``, ``metric`` and ``remember`` kept)."""
    return export.view_report(title, settings, list(record.values()))


def _record() -> dict:
    return st.session_state.setdefault(REPORT, {})


def forget(key: str) -> None:
    """Leave a drawn element out of the page's report (e.g. a placeholder that the page replaces)."""
    _record().pop(key, None)


def _remember(key: str, kind: str, title: str, value) -> None:
    _record()[key] = (kind, title, value)


def _title(fig) -> str:
    text = getattr(getattr(fig.layout, "title", None), "text", None)
    return str(text) if text else ""


def _label(config) -> str:
    if isinstance(config, str):
        return config
    if isinstance(config, dict):
        return config.get("label") or ""
    return ""


def _without_label(config: dict) -> dict:
    """A column_config entry without its label (the table's header already is the label)."""
    return {k: v for k, v in config.items() if k != "label"}

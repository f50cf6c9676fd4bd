"""Pure figure builders for the dashboard: a DataFrame in, a plotly Figure out. No streamlit, no engine calls, no
network: figures embed their data and, when saved with ``figure_html``, plotly.js itself.

One module per page (``rates``, ``live``, ``submodels``, ``mobility``, ``guide``, ``federated``; ``fig3`` for
``scripts/fig3.py``, which draws the table of ``python -m core.experiments fig3``) over one shared style (``style``:
palette, axes, slide export, units). Callers write ``from app import charts`` and ``charts.fig4_figure(...)``: every builder is defined
once, in its page's module, and named here; a new page's figures get a new module and a line below.
"""
from app.charts.federated import federated_accuracy_figure, uplink_figure
from app.charts.fig3 import FIG3_FAMILY_TITLES, fig3_figure
from app.charts.guide import (BER_MARKS, SPLIT_PARTS, ber_story_figure, situation_figure, size_accuracy_figure,
                              split_latency_figure, tier_figure)
from app.charts.live import ber_curve_figure
from app.charts.mobility import POLICY_COLORS, POLICY_METRICS, load_figure, policy_bar
from app.charts.rates import FIG4_COLUMNS, REFERENCE_COLUMNS, fig4_figure, fit_heatmap
from app.charts.style import (DASHES, GREY, IMAGE_FORMATS, OKABE_ITO, PALETTE, SLIDE_HEIGHT, SLIDE_WIDTH, ber_axis,
                              chance_line, figure_html, format_rate, format_seconds, plot_config, readable)
from app.charts.submodels import TECHNIQUE_SYMBOLS, area_figure, cut_figure, layer_profile_figure, pareto_figure

__all__ = ["federated_accuracy_figure", "uplink_figure",
           "FIG3_FAMILY_TITLES", "fig3_figure", "BER_MARKS", "SPLIT_PARTS", "ber_story_figure", "situation_figure",
           "size_accuracy_figure", "split_latency_figure", "tier_figure", "ber_curve_figure", "POLICY_COLORS",
           "POLICY_METRICS", "load_figure", "policy_bar", "FIG4_COLUMNS", "REFERENCE_COLUMNS", "fig4_figure",
           "fit_heatmap", "DASHES", "GREY", "IMAGE_FORMATS", "OKABE_ITO", "PALETTE", "SLIDE_HEIGHT", "SLIDE_WIDTH",
           "ber_axis", "chance_line", "figure_html", "format_rate", "format_seconds", "plot_config", "readable",
           "TECHNIQUE_SYMBOLS", "area_figure", "cut_figure", "layer_profile_figure", "pareto_figure"]

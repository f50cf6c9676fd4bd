"""Rate requirements (paper Fig. 4): which share of each root model a downlink delivers within an application's
latency budget. Keys are plain values (tuples, numbers, names), so every session with the same choices shares
one entry."""
from __future__ import annotations

import streamlit as st

# Names the pages show, re-exported so that views import only app.* (tests/test_views_import_only_app.py).
from core.network.rates import (APPLICATIONS, PAPER, PAPER_APPLICATIONS, PAPER_MODELS,  # noqa: F401
                                REFERENCE_RATES, ROOT_MODELS)


@st.cache_data(show_spinner=False, max_entries=256)
def fig4(models: tuple[str, ...], applications: tuple[str, ...], bits_per_param: int = 32, counts: str = "paper",
         include_head: bool = True, points: int = 100, budgets: tuple[tuple[str, float], ...] = ()):
    """Paper Fig. 4's table (core.network.rates.fig4_table) on a grid of ``points`` sub-model sizes from 1 % to
    100 %, with extra (label, latency budget s) curves in ``budgets``."""
    import numpy as np

    from core.network.rates import fig4_table

    return fig4_table(models, applications, np.linspace(0.01, 1.0, points), bits_per_param, counts, include_head,
                      budgets)


@st.cache_data(show_spinner="Counting parameters of the torchvision architectures…")
def parameter_counts():
    """Each Fig. 4 root model's paper count beside its torchvision counts (core.network.rates.parameter_table)."""
    from core.network.rates import parameter_table

    return parameter_table()


@st.cache_data(show_spinner=False, max_entries=256)
def fit_table(models: tuple[str, ...], budgets: tuple[tuple[str, float], ...], rate_bps: float,
              bits_per_param: int = 32, counts: str = "paper", include_head: bool = True):
    """Largest share of each root model that ``rate_bps`` delivers within each (application, latency budget s)
    (core.network.rates.fit_table)."""
    from core.network.rates import fit_table as table

    return table(models, budgets, rate_bps, bits_per_param, counts, include_head)


@st.cache_data(show_spinner=False, max_entries=64)
def paper_statements(bits_per_param: int = 32, counts: str = "paper", include_head: bool = True):
    """The paper's Fig. 4 statements beside the arithmetic (core.network.rates.statement_table)."""
    from core.network.rates import statement_table

    return statement_table(bits_per_param, counts, include_head)

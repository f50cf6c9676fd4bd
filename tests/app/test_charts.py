"""app/charts.py is pure: DataFrames in, plotly figures out, and saved figures need no network."""
import re

import pandas as pd
import pytest

from app import charts
from core.network.rates import REFERENCE_RATES, fig4_table


@pytest.fixture(scope="module")
def table():
    return fig4_table(("ResNet-50", "VGG-16"), ("image recognition", "tactile"), [0.1, 0.5, 1.0])


def test_fig4_figure_draws_one_curve_per_model_and_application(table):
    fig = charts.fig4_figure(table, None)
    assert len(fig.data) == 4
    vgg = next(t for t in fig.data if t.name.startswith("VGG-16, tactile"))
    assert list(vgg.y) == list(table[(table["model"] == "VGG-16") & (table["application"] == "tactile")]
                                  ["required_rate_bps"])
    assert fig.layout.yaxis.type == "log"
    assert charts.fig4_figure(table, None, log_y=False).layout.yaxis.type == "linear"


def test_fig4_figure_marks_reference_rates_the_users_rate_and_the_highlighted_application(table):
    refs = pd.DataFrame([{"name": r.name, "low_bps": r.low_bps, "high_bps": r.high_bps}
                         for r in (REFERENCE_RATES["user-experienced"], REFERENCE_RATES["IMT-2030 peak"])])
    fig = charts.fig4_figure(table, refs, highlight="tactile", your_rate_bps=2e8)
    kinds = sorted(s.type for s in fig.layout.shapes)
    assert kinds == ["line", "line", "rect"]  # a line, a band for the range, and the user's rate
    assert any(s.y0 == 2e8 for s in fig.layout.shapes)
    widths = {t.name.split(" (")[0]: t.line.width for t in fig.data}
    assert widths["ResNet-50, tactile"] > widths["ResNet-50, image recognition"]


def test_figure_html_embeds_plotly_and_calls_no_one(table):
    html = charts.figure_html(charts.fig4_figure(table))
    assert len(html) > 1_000_000  # plotly.js is inside
    assert not re.search(r'<script[^>]+src="https?:', html)
    assert "cdn.plot.ly/plotly" not in html.split("<body>")[0]


def test_fit_heatmap_shows_percent():
    fits = pd.DataFrame({"model": ["A", "A"], "application": ["x", "y"], "max_fraction": [1.0, 0.25]})
    fig = charts.fit_heatmap(fits)
    assert fig.data[0].z.tolist() == [[100.0, 25.0]]


def test_policy_bar_and_load_figure():
    overall = pd.DataFrame({"interruption_s_per_user": [3.0, 1.0, 0.0]},
                           index=pd.Index(["reactive", "predictive", "oracle"], name="policy"))
    bar = charts.policy_bar(overall)
    assert list(bar.data[0].x) == ["reactive", "predictive", "oracle"]
    assert list(bar.data[0].y) == [3.0, 1.0, 0.0]
    load = pd.DataFrame({"policy": ["reactive"] * 4 + ["oracle"] * 4, "time_s": [0, 60] * 4,
                         "base_station": ["a", "a", "b", "b"] * 2, "load_bps": [1e6, 2e6, 0, 3e6] * 2})
    fig = charts.load_figure(load)
    assert len(fig.data) == 4  # two stations x two policies
    assert list(fig.data[0].y) == [1.0, 2.0]  # Mb/s, minutes on x
    assert list(fig.data[0].x) == [0.0, 1.0]


def test_split_latency_figure_stacks_download_and_uplink():
    df = pd.DataFrame({"depth": [1, 2], "download_s": [0.1, 0.2], "uplink_s": [0.5, 0.0]})
    fig = charts.split_latency_figure(df, 10)
    assert fig.layout.barmode == "stack" and [list(t.y) for t in fig.data] == [[0.1, 0.2], [0.5, 0.0]]


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="required_rate_bps"):
        charts.fig4_figure(pd.DataFrame({"model": [], "application": [], "latency_s": [], "fraction": []}))


def test_an_accuracy_under_errors_is_worded_against_clean_with_its_interval():
    from app import units

    # the interval of the change holds 0: never an accuracy 'above clean' without that wording
    assert units.loss_against_clean(0.867, 0.862, 0.84, 0.89) == (
        "no measurable loss against 86.2 % clean (change -2.2 to +2.8 points)")
    assert units.loss_short(0.867, 0.862, 0.84, 0.89) == "no measurable loss"
    assert units.loss_against_clean(0.62, 0.848, 0.51, 0.74) == (
        "-22.8 points against 84.8 % clean (-33.8 to -10.8 points)")
    assert units.loss_short(0.62, 0.848, 0.51, 0.74) == "-22.8 points vs clean"
    ruined = units.loss_against_clean(0.044, 0.709, 0.0, 0.09, chance=0.1)
    assert ruined.endswith("below chance (10 %): a ruined model that answers mostly one class")


def test_the_cut_figure_draws_each_choice_over_the_roots_blocks():
    import pandas as pd

    from app.charts import cut_figure

    profile = pd.DataFrame({"layer": ["stem.0", "stages.0.0.conv1", "stages.0.0.conv2", "stages.1.0.conv1",
                                      "head.fc"],
                            "kept": [1.0, 0.5, 0.25, 0.4, 1.0], "bits": [4, 4, 4, 8, 4]})
    pick = {"depth": 2, "keep_ratio": 0.5, "bits": 8, "mode": "exit", "label": "exit 2, keep 50 %, mixed"}
    fig = cut_figure([("combined", pick, profile)], 4,
                     {"stages.0.0.conv1": 100, "stages.0.0.conv2": 300})
    texts = [a.text for a in fig.layout.annotations]
    assert len(fig.layout.shapes) == 2 * 5  # the root's row and the pick's, five blocks each
    assert texts[:5] == ["non-zero 100%<br>32-bit"] * 5  # the root: everything
    # stage 1: weights 100 and 300 kept 50 % and 25 %: 31 % of its weights (not the plain mean, 38 %)
    assert texts[5:8] == ["non-zero 100%<br>4-bit", "non-zero 31%<br>4-bit", "non-zero 40%<br>8-bit"]
    assert texts[8:] == ["not sent", "not sent"]  # past exit 2, nothing is sent in exit mode
    split = cut_figure([("depth", {**pick, "mode": "split"}, None)], 4)
    assert [a.text for a in split.layout.annotations][-2:] == ["server", "server"]
    assert [t.x[0] for t in split.data] == [5.0, 3.0]  # the exit's diamond after the last stage kept

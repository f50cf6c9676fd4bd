"""AppTest of the Rate requirements page: Fig. 4 with the engine's numbers, and widgets that change them."""
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.network.rates import APPLICATIONS, PAPER, max_fraction_that_fits

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def open_page() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.switch_page("views/rates.py").run()  # before the first run: the default page's models are never loaded
    assert not at.exception, at.exception
    return at


def fit_table(at):
    """The table of the largest share that fits, as shown (headers in words), with the engine's column name back."""
    shown = next(d.value for d in at.dataframe if SHARE in d.value.columns)
    return shown.rename(columns={SHARE: "max_fraction"})


SHARE = "largest share that fits"


def chart(at, key):
    return json.loads(next(e for e in at.get("plotly_chart") if e.proto.id.endswith(key)).proto.spec)


@pytest.fixture(scope="module")
def page():
    return open_page()


def test_shows_the_figure_with_the_paper_models_and_the_sidebar_rate(page):
    assert page.title[0].value == "Rate requirements"
    names = [t["name"] for t in chart(page, "fig4_chart")["data"]]
    assert len(names) == 9 and any(n.startswith("ViT-L/32, tactile") for n in names)
    lines = [s["y0"] for s in chart(page, "fig4_chart")["layout"]["shapes"]]
    assert 1e9 in lines and 1e12 in lines  # the sidebar's 1000 Mb/s and the 6G peak rate


def test_max_fraction_table_agrees_with_the_engine(page):
    table = fit_table(page)
    assert len(table) == 9
    for row in table.itertuples():
        expected = max_fraction_that_fits(row.model, APPLICATIONS[row.application].latency_s, 1e9)
        assert row.max_fraction == pytest.approx(expected)
    vgg = table[(table["model"] == "VGG-16") & (table["application"] == "image recognition")].iloc[0]
    assert vgg["max_fraction"] == pytest.approx(1e9 / (135e6 * 32))


def test_paper_statements_sit_next_to_the_arithmetic(page):
    claims = next(d.value for d in page.dataframe if "the paper says" in d.value.columns)
    vgg = claims[claims["the paper says"].str.contains("VGG-16 needs about 80")].iloc[0]
    assert vgg["arithmetic: largest share"] == pytest.approx(1e9 / (135e6 * 32))
    assert any(PAPER in c.value for c in page.caption)


def test_fewer_bits_and_another_rate_change_the_table():
    at = open_page()
    before = fit_table(at).set_index(["model", "application"])["max_fraction"]
    at.selectbox(key="rates_bits").select(4).run()
    after = fit_table(at).set_index(["model", "application"])["max_fraction"]
    assert after["VGG-16", "video call"] == pytest.approx(8 * before["VGG-16", "video call"])
    at.selectbox(key="rates_fit_rate").select("peak").run()
    assert not at.exception
    peak = fit_table(at).set_index(["model", "application"])["max_fraction"]
    assert peak["VGG-16", "tactile"] == pytest.approx(max_fraction_that_fits("VGG-16", 1e-3, 1e12, 4))
    assert any("Source:" in c.value and "Huang" in c.value for c in at.caption)
    at.switch_page("views/mobility.py").run()
    at.switch_page("views/rates.py").run()  # the choices survive a visit to another page
    assert at.selectbox(key="rates_bits").value == 4 and at.selectbox(key="rates_fit_rate").value == "peak"


def test_sidebar_budget_override_adds_its_own_curve_and_no_choice_explains_itself():
    at = open_page()
    at.number_input(key="w_latency_ms").set_value(50.0).run()
    table = fit_table(at)
    assert "image recognition (sidebar, 50 ms)" in set(table["application"])
    at.multiselect(key="rates_models").set_value([]).run()
    assert not at.exception
    assert "Choose at least one root model" in at.info[0].value

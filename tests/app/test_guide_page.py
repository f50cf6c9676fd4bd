"""AppTest of the Guide: every measured figure on it is the engine's, computed live, beside the paper's claim."""
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")


@pytest.fixture(scope="module")
def page():
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/guide.py").run()
    assert not at.exception, at.exception
    return at


def metrics(at):
    return {m.label: m for m in at.metric}


def test_root_card_figures_come_from_the_shipped_card(page):
    card = json.loads((ROOT / "assets" / "resnet18_digits.json").read_text())
    shown = metrics(page)
    assert shown["Root test accuracy"].value == f"{card['test_accuracy']:.1%}"
    assert shown["Parameters (root, no exits)"].value == f"{card['root_parameters']:,}"


def test_measured_figures_are_the_services_cached_results(page):
    from app import services
    from core.compress.combine import SubModelSpec

    # AppTest runs the page in this process, so these calls (same arguments as the page) hit its cache entries.
    model = services.settings().model
    split = services.split_rows(8, model)
    table = next(d.value for d in page.dataframe if "split point" in d.value.columns)
    assert list(table["download (Mbit)"]) == pytest.approx(list(split["download_bits"] / 1e6))
    assert list(table["accuracy with the server"]) == pytest.approx(list(split["server_accuracy"]))
    four = services.submodel(SubModelSpec(bits=4), 0, model).card
    assert metrics(page)["4-bit accuracy"].value == f"{four.accuracy:.1%}"
    assert metrics(page)["4-bit sub-model size"].value == f"{four.total_bits / 1e6:.2f} Mbit"


def test_every_section_quotes_the_paper_and_checks_it(page):
    claims = [i.value for i in page.info]
    assert len(claims) == 7  # six steps and the rates
    assert any("BER of 1e-3" in c for c in claims)
    assert len(page.success) + len(page.warning) == 6  # a verdict per claim checked here
    flip = metrics(page)["Root accuracy after one flip"]
    assert float(flip.value.rstrip("%")) < 50  # one exponent flip in fp32 breaks the model


def test_simulation_shows_the_three_policies_in_order(page):
    sim = next(d.value for d in page.dataframe if "two accelerators (s)" in d.value.columns).set_index("policy")
    wait = sim["two accelerators (s)"]
    assert wait["oracle"] <= wait["predictive"] <= wait["reactive"]
    assert (sim["one accelerator (s)"] >= wait - 1e-9).all()  # one accelerator never helps


def test_more_samples_move_the_best_split_deeper(page):
    def best():
        text = next(c.value for c in page.caption if "quickest split is exit" in c.value)
        return int(text.split("quickest split is exit ")[1][0])

    assert best() == 1
    page.number_input(key="w_samples").set_value(100_000).run()
    assert not page.exception
    assert best() == 4

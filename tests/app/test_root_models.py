"""A root model trained by the user (python -m core.model.train --out runs/NAME) can be picked in the sidebar."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.model.train import main as train

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_image_folder):
    folder = tmp_path_factory.mktemp("runs")
    train(["--dataset", "folder", "--data-dir", str(tiny_image_folder), "--epochs", "1", "--batch-size", "8",
           "--out", str(folder / "tiny")])
    return folder


def test_sidebar_offers_trained_checkpoints_and_pages_use_them(monkeypatch, runs, tmp_path):
    from core.model.models import DEFAULT_MODEL_NAME, load_checkpoint

    monkeypatch.setenv("INSITU_MODELS", str(runs))
    monkeypatch.setenv("INSITU_LIBRARY", str(tmp_path / "no-library"))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py").run()
    options = at.selectbox(key="w_model").options
    assert options[0] == DEFAULT_MODEL_NAME and "tiny: resnet18 on folder" in options
    at.selectbox(key="w_model").select("tiny: resnet18 on folder")
    at.number_input(key="live_trials").set_value(2).run()
    assert not at.exception, at.exception
    assert any("over 2 trial(s)" in (m.delta or "") for m in at.metric)
    _, card = load_checkpoint(runs / "tiny")
    at.switch_page("views/submodels.py").run()
    assert not at.exception, at.exception
    params = {m.label: m.value for m in at.metric}["Parameters (without the extra exits)"]
    assert params == f"{card.root_parameters / 1e6:.2f} M"
    assert any("No AI library" in w.value and "runs" not in w.value.split("--out")[0] for w in at.warning)

"""The shipped default: ResNet-18 on CIFAR-10 photos, its photos and its AI library in assets/, offline, with no
build step: the first page answers from the shipped catalog."""
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.model.models import ASSETS, SHIPPED_ROOTS, _default_model_name

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
CIFAR = next(name for name, path in SHIPPED_ROOTS.items() if path.stem == "resnet18_cifar10")


def test_without_an_override_the_default_root_is_the_cifar10_one(monkeypatch):
    monkeypatch.delenv("INSITU_DEFAULT_ROOT", raising=False)
    assert _default_model_name() == CIFAR
    monkeypatch.setenv("INSITU_DEFAULT_ROOT", "no-such-root")
    with pytest.raises(ValueError, match="INSITU_DEFAULT_ROOT='no-such-root'"):
        _default_model_name()


def test_the_cifar10_card_tells_the_story_of_the_exits():
    card = json.loads((ASSETS / "resnet18_cifar10.json").read_text())
    assert card["dataset"] == "cifar10" and card["width"] == 0.5 and card["extra"]["test_samples"] == 10_000
    exits = card["exit_test_accuracy"]
    assert exits[3] >= 0.85 and exits[3] - exits[0] >= 0.15
    assert card["extra"]["pack"] == "cifar10_pack.safetensors"
    assert (ASSETS / "library" / "resnet18_cifar10" / "catalog.sqlite").is_file()


def test_the_first_page_shows_four_technique_cards_from_the_shipped_library():
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.query_params["model"] = CIFAR
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Root model"] == "ResNet-18"
    assert next(m for m in at.metric if m.label == "Root model").delta == "0.5x width"
    assert metrics["Test images"] == "10,000"
    cards = [m for m in at.metric if m.label == "Expected accuracy"]
    assert len(cards) + sum("Nothing fits" in e.value for e in at.error) == 4
    assert len(cards) >= 3
    assert not any(b.label.startswith("Build") for b in at.button)  # no build step anywhere
    from app.services import library_path

    assert (library_path(CIFAR) / "catalog.sqlite").is_file()  # copied from assets/library on first use

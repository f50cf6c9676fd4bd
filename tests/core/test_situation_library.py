"""The shipped situation models and their AI libraries (issue 22): every registered situation has a model in
assets/situations/ whose card's accuracies are what a fresh evaluation on the situation's own test photos gives,
and a shipped catalog with sub-models of every technique and BER cells on those photos, opened on that model and
regenerated exactly as the catalog recorded."""
from __future__ import annotations

import numpy as np
import pytest

from core.model.data import load_for_card
from core.model.evaluate import exit_accuracies
from core.model.models import ASSETS, load_checkpoint
from core.network.library.config import LIBRARY_BER_GRID
from core.situation.customise import cut
from core.situation.library import (SITUATION_LIBRARY_CONFIG, ensure_situation_library, load_shipped, model_path,
                                    open_situation_library, situation_task)
from core.situation.situations import SITUATIONS, class_labels, situation_data
from core.situation.store import read_card


@pytest.fixture(scope="module")
def roots():
    """Each shipped root with the data it ships with (the CIFAR-10 pack, the digits), loaded once."""
    out = {}
    for stem in sorted({s.root for s in SITUATIONS.values()}):
        checkpoint = ASSETS / f"{stem}.safetensors"
        root, card = load_checkpoint(checkpoint)
        out[stem] = (root, load_for_card(card, checkpoint))
    return out


@pytest.mark.parametrize("name", list(SITUATIONS))
def test_each_situation_model_is_shipped_and_its_card_is_a_fresh_evaluation(name, roots):
    sit = SITUATIONS[name]
    root, data = roots[sit.root]
    model = load_shipped(name, root)                       # hash- and root-checked
    card = model.card
    assert card.classes == sit.classes and card.root == sit.root and len(card.exit_accuracy) == 4
    sdata = situation_data(sit, data)
    assert card.test_photos == len(sdata.y_test) and card.test_photos > 0
    fresh = exit_accuracies(model.model, sdata, "test")
    assert np.allclose(card.exit_accuracy, fresh, atol=1e-9), (card.exit_accuracy, fresh)
    assert len(card.generic_exit_accuracy) == 4 and all(1 / len(sit.classes) < a <= 1 for a in fresh)
    assert read_card(model_path(name)) == card             # the page's card reader says the same without weights


def test_the_generic_comparison_on_a_card_is_the_root_restricted_to_the_classes(roots):
    root, data = roots[SITUATIONS["road"].root]
    card = read_card(model_path("road"))
    restricted = exit_accuracies(cut(root, class_labels("road", data)), situation_data("road", data), "test")
    assert np.allclose(card.generic_exit_accuracy, restricted, atol=1e-9)


def shipped(name: str) -> bool:
    from core.network.library.shipped import shipped_catalog

    return shipped_catalog(model_path(name)) is not None


def test_every_situation_ships_its_library():
    missing = [n for n in SITUATIONS if not shipped(n)]
    assert not missing, f"situation catalogs not shipped: {missing} (python -m core.situation.library --situation NAME)"


@pytest.mark.parametrize("name", list(SITUATIONS))
def test_each_situation_has_a_shipped_library_of_every_technique_measured_on_its_photos(name, roots, tmp_path):
    if not shipped(name):
        pytest.skip(f"the {name} model's catalog is not shipped yet (python -m core.situation.library "
                    f"--situation {name!r})")
    sit = SITUATIONS[name]
    root, data = roots[sit.root]
    model = load_shipped(name, root)
    lib = open_situation_library(name, model, libraries=tmp_path)   # the shipped catalog, copied and root-checked
    entries = lib.entries()
    keys = set(entries["key"])
    assert len(entries) == len(SITUATION_LIBRARY_CONFIG.specs())
    assert (entries["depth"] < 4).any() and (entries["keep_ratio"] < 1).any() and (entries["bits"] < 32).any()
    # The whole situation model sent in fp32 scores what its card says at the last exit, on the same photos.
    whole = entries[(entries["depth"] == 4) & (entries["keep_ratio"] == 1) & (entries["bits"] == 32)].iloc[0]
    assert whole["accuracy"] == pytest.approx(model.card.exit_accuracy[3], abs=1e-6)   # stored as a float32
    assert lib.data_identity["test_samples"] == model.card.test_photos
    cells = lib.ber_table()
    own = cells[(cells["protection"] == "none") & (cells["mode"] == "exit")]
    assert set(np.round(own["ber"], 12)) == set(np.round(LIBRARY_BER_GRID, 12))
    assert own.groupby("entry_id").size().eq(len(LIBRARY_BER_GRID)).all() and len(own["entry_id"].unique()) == len(keys)
    assert (own["trials"] >= 3).all() and (own["trials"] <= 20).all()
    assert ensure_situation_library(name, tmp_path) == lib.folder  # a second call leaves the copy as it is


def test_an_entry_of_a_situation_library_is_regenerated_exactly_as_the_catalog_recorded(roots, tmp_path):
    """The shipped catalog holds no weights: they are made from the situation model on first use and must be the
    bytes the build made (sha256), or the catalog would describe another model."""
    from core.network.library.shipped import load_entry_noting, pending_entries

    name = "post office"
    root, data = roots[SITUATIONS[name].root]
    task = situation_task(name, root, data)
    lib = open_situation_library(name, task.model, libraries=tmp_path)
    entries = lib.entries()
    small = entries[(entries["depth"] == 1) & (entries["bits"] == 8)].iloc[0]
    assert small["key"] in pending_entries(lib)
    sub, note = load_entry_noting(lib, int(small["id"]), task.model.model, task.data)
    assert note == "" and small["key"] not in pending_entries(lib)    # kept on disk: its sha256 matched
    assert lib.damaged_entries(include_missing=False) == []
    assert sub.card.accuracy == pytest.approx(float(small["accuracy"]), abs=1e-6)


def test_a_missing_situation_model_names_the_file_and_the_command(roots, tmp_path):
    root, _ = roots[SITUATIONS["road"].root]
    with pytest.raises(ValueError, match=r"no situation model at .*resnet18_cifar10-road\.json; make it with "
                                         r"python scripts/build_situation_models.py --situation 'road'"):
        load_shipped("road", root, tmp_path)
    with pytest.raises(ValueError, match="situation='beach'"):
        load_shipped("beach", root)

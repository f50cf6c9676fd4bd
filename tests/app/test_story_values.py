"""The story's shipped values (assets/story/<root>.json): complete for every step, equal to what the engine
computes, used by the Guide without computing, and ignored when they do not belong to the root file."""
import json
import shutil

import pytest

from app import story_values
from app.story import SEED, STORY_BERS, needed_values
from core.compress.combine import SubModelSpec
from core.model.models import SHIPPED_ROOTS

ROOTS = {path.stem: path for path in SHIPPED_ROOTS.values()}


@pytest.mark.parametrize("name", sorted(ROOTS))
def test_every_shipped_root_has_every_value_the_story_needs(name):
    values = story_values.load(ROOTS[name])
    assert values is not None, f"assets/story/{name}.json is missing or belongs to another root file"
    specs, series = needed_values()
    for spec in specs:
        assert story_values.shipped_card(values, spec, SEED) is not None, spec
    for bits, protection in series:
        rows = story_values.shipped_ber_rows(values, bits, protection, STORY_BERS, SEED)
        assert rows is not None and [r["ber"] for r in rows] == list(STORY_BERS), (bits, protection)
        trials = story_values.BER_TRIALS
        assert all(r["ci95_low"] <= r["mean"] <= r["ci95_high"]
                   and trials["min_trials"] <= r["trials"] <= trials["max_trials"] for r in rows)
        # The trial rule: a mixed point (ruined and intact downloads) rests on the mixed minimum at least, and
        # every point says how many of its downloads were ruined.
        assert all(0 <= r["ruined"] <= r["trials"] and r["ruin_low"] <= r["ruined"] / r["trials"] <= r["ruin_high"]
                   for r in rows)
        assert all(r["trials"] >= min(trials["mixed_min_trials"], trials["max_trials"])
                   for r in rows if 0 < r["ruined"] < r["trials"])


def test_shipped_digits_values_equal_what_the_engine_computes(root, digits):
    from core.compress.combine import generate

    values = story_values.load(ROOTS["resnet18_digits"])
    for spec in (SubModelSpec(bits=4), SubModelSpec(keep_ratio=0.1, retrain_steps=0)):
        live = story_values.compute_card(root, digits, spec, SEED)
        shipped = story_values.shipped_card(values, spec, SEED)
        assert shipped.total_bits == live.total_bits and shipped.size_pct_of_root == pytest.approx(live.size_pct_of_root)
        assert shipped.accuracy == pytest.approx(live.accuracy, abs=1 / 359)  # one test image of rounding at most
    sub = generate(root, digits, SubModelSpec(bits=4), 0)
    live = story_values.compute_ber_rows(sub, digits, 4, "none", STORY_BERS[-3:], SEED)
    shipped = story_values.shipped_ber_rows(values, 4, "none", STORY_BERS[-3:], SEED)
    for a, b in zip(live, shipped, strict=True):
        assert a["trials"] == b["trials"] and a["mean_flips"] == pytest.approx(b["mean_flips"])
        assert a["mean"] == pytest.approx(b["mean"], abs=0.01) and a["clean"] == pytest.approx(b["clean"], abs=0.01)


def test_the_cifar_values_are_the_shipped_roots_and_one_card_is_recomputed_equal():
    values = story_values.load(ROOTS["resnet18_cifar10"])
    assert values["root_sha256"] == story_values.file_sha256(ROOTS["resnet18_cifar10"])
    from core.model.data import load_for_card
    from core.model.models import load_checkpoint

    root, card = load_checkpoint(ROOTS["resnet18_cifar10"])
    live = story_values.compute_card(root, load_for_card(card, ROOTS["resnet18_cifar10"]), SubModelSpec(bits=8), SEED)
    shipped = story_values.shipped_card(values, SubModelSpec(bits=8), SEED)
    assert shipped.total_bits == live.total_bits
    assert shipped.accuracy == pytest.approx(live.accuracy, abs=5e-4)  # 5 of 10,000 photos


def test_values_of_another_root_file_or_a_damaged_file_are_not_used(tmp_path, monkeypatch):
    path = tmp_path / "resnet18_digits.safetensors"
    shutil.copy(ROOTS["resnet18_digits"], path)
    monkeypatch.setattr(story_values, "STORY_VALUES", tmp_path)
    shipped = json.loads((ROOTS["resnet18_digits"].parents[0] / "story" / "resnet18_digits.json").read_text())
    (tmp_path / "resnet18_digits.json").write_text(json.dumps(shipped))
    assert story_values.load(path) is not None
    path.write_bytes(path.read_bytes()[:-1] + b"\0")  # another root file under the same name
    assert story_values.load(path) is None
    (tmp_path / "resnet18_digits.json").write_text("{ not json")
    assert story_values.load(ROOTS["resnet18_digits"]) is None  # reported as absent, never raised


def test_the_guide_answers_from_the_shipped_values_without_computing(monkeypatch):
    from app import services, story
    from app.services import submodels
    from app.settings import apply_scenario

    def no(*args, **kwargs):
        raise AssertionError("a story step computed what the shipped values hold")

    monkeypatch.setattr(submodels, "submodel", no)
    s = apply_scenario("iot")
    for key in ("parameter", "bit", "ber", "protection"):
        card = story.card(key, s)
        assert not card.problem and card.figure is not None, key
    assert services.story_card(SubModelSpec(bits=4), SEED, s.model).total_bits > 0

"""Situation models (issue 22): the root customised to a situation's classes from its own training photos, compared
fairly with the generic root, and stored as safetensors + card. On the digits root, with a three-digit situation and
a few fine-tuning steps, so every test is fast."""
import copy
import json

import numpy as np
import pytest
import torch

from core.compress.combine import SubModelSpec, generate
from core.situation.compare import compare_with_generic, paired_difference
from core.situation.customise import CustomiseConfig, SituationModel, customise, cut, state_sha256
from core.situation.situations import DIGITS_ROOT, Situation, situation_data, situation_photos
from core.situation.store import load_situation_model, save_situation_model, stored_names

THREE = Situation("sorting office", ("3", "5", "8"), DIGITS_ROOT, "three digits that look alike")
QUICK = CustomiseConfig(steps=4, batch_size=16, lr=0.05, photos=60)


@pytest.fixture(scope="module")
def special(root, digits):
    return customise(root, digits, THREE, QUICK, seed=0)


@pytest.fixture(scope="module")
def cut_only(root, digits):
    return customise(root, digits, THREE, CustomiseConfig(steps=0), seed=0)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[n], sb[n]) for n in sa)


# The situation's data --------------------------------------------------------------------------------------------

def test_the_situations_data_holds_its_classes_photos_labelled_by_position(digits):
    data = situation_data(THREE, digits)
    assert data.classes == ("3", "5", "8") and (data.mean, data.std) == (digits.mean, digits.std)
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        x0, y0 = digits.split(split)
        keep = np.flatnonzero(np.isin(y0.numpy(), [3, 5, 8]))
        assert torch.equal(x, x0[keep])
        assert y.tolist() == [{3: 0, 5: 1, 8: 2}[v] for v in y0[keep].tolist()]


# Customisation ---------------------------------------------------------------------------------------------------

def test_customise_is_deterministic_for_a_seed(root, digits, special):
    again = customise(root, digits, THREE, QUICK, seed=0)
    other = customise(root, digits, THREE, QUICK, seed=1)
    assert _same(again.model, special.model)
    assert again.card.exit_accuracy == special.card.exit_accuracy
    assert not _same(other.model, special.model)


def test_the_cut_heads_answer_among_the_situations_classes_only(special, digits):
    assert special.card.classes == ("3", "5", "8")
    assert special.card.root_labels == (3, 5, 8)
    assert [head.fc.out_features for head in special.model.exits] == [3, 3, 3, 3]
    assert special.card.train_photos == 60 and special.card.train_photos_per_class == (20, 20, 20)
    assert special.card.test_photos == len(situation_photos(THREE, digits))


def test_the_cut_alone_is_the_root_restricted_to_the_classes(root, digits, cut_only):
    x = situation_data(THREE, digits).normalise(digits.x_test[situation_photos(THREE, digits)][:16])
    with torch.no_grad():
        ours, theirs = cut_only.model.forward_exits(x), root.forward_exits(x)
    for a, b in zip(ours, theirs):  # the same rows; a smaller matrix product may round the last bit otherwise
        assert torch.allclose(a, b[:, [3, 5, 8]], rtol=1e-6, atol=1e-5)
        assert torch.equal(a.argmax(1), b[:, [3, 5, 8]].argmax(1))


def test_fine_tuning_heads_changes_the_heads_and_nothing_else(root, special):
    state, before = special.model.state_dict(), root.state_dict()
    changed = {n for n in state if n in before and state[n].shape == before[n].shape
               and not torch.equal(state[n], before[n])}
    assert changed and all(n.startswith("exits.") for n in changed)


def test_fine_tuning_the_last_stage_leaves_the_first_three_alone(root, digits):
    config = CustomiseConfig(fine_tune="heads_and_last_stage", steps=2, batch_size=8, lr=0.05, photos=30)
    model = customise(root, digits, THREE, config, seed=0).model
    state, before = model.state_dict(), root.state_dict()
    changed = {n for n in state if state[n].shape == before[n].shape and not torch.equal(state[n], before[n])}
    assert any(n.startswith("stages.3.") for n in changed)
    assert all(n.startswith(("exits.", "stages.3.")) for n in changed)


def test_fine_tuning_the_classifiers_changes_the_linear_layers_alone_and_stores_a_few_kb(root, digits, tmp_path):
    config = CustomiseConfig(fine_tune="classifiers", steps=3, batch_size=16, lr=0.05, photos=30)
    model = customise(root, digits, THREE, config, seed=0)
    state, before = model.model.state_dict(), root.state_dict()
    changed = {n for n in state if state[n].shape != before[n].shape or not torch.equal(state[n], before[n])}
    assert changed == {f"exits.{k}.{t}" for k in range(4) for t in ("fc.weight", "fc.bias")}
    weights, _ = save_situation_model(model, tmp_path)
    assert weights.stat().st_size < 2 * 3 * (128 + 128 + 128 + 512 + 4) + 2_000
    assert _same(load_situation_model(weights, root).model, model.model)


def test_the_cards_accuracy_is_a_fresh_evaluation_on_the_situations_test_photos(special, digits):
    photos = situation_photos(THREE, digits)
    labels = {3: 0, 5: 1, 8: 2}
    y = torch.tensor([labels[int(v)] for v in digits.y_test[photos]])
    with torch.no_grad():
        outs = special.model.forward_exits(digits.normalise(digits.x_test[photos]))
    fresh = tuple(int((o.argmax(1) == y).sum()) / len(y) for o in outs)
    assert special.card.exit_accuracy == pytest.approx(fresh, abs=1e-12)


def test_the_root_is_never_changed(root, digits):
    before = state_sha256(root)
    customise(root, digits, THREE, CustomiseConfig(steps=1, batch_size=4, photos=9), seed=0)
    assert state_sha256(root) == before


# Fair comparison -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def comparison(root, special, digits):
    return compare_with_generic(root, special, digits, THREE)


def test_the_restricted_generic_answer_is_the_largest_logit_among_the_situations_classes(root, digits, special,
                                                                                         comparison):
    photos = situation_photos(THREE, digits)
    classes = [3, 5, 8]
    with torch.no_grad():
        outs = root.forward_exits(digits.normalise(digits.x_test[photos]))
    for k, logits in enumerate(outs, start=1):
        hits_restricted = hits_plain = 0
        for row, label in zip(logits.tolist(), digits.y_test[photos].tolist()):
            best = classes[0]
            for c in classes[1:]:  # by hand: the largest of the situation's logits, first one on a tie
                if row[c] > row[best]:
                    best = c
            hits_restricted += best == label
            hits_plain += max(range(len(row)), key=lambda c: (row[c], -c)) == label
        row = comparison.exit(k)
        assert row.generic_restricted_accuracy == pytest.approx(hits_restricted / len(photos), abs=1e-12)
        assert row.generic_accuracy == pytest.approx(hits_plain / len(photos), abs=1e-12)
        assert row.specialised_accuracy == pytest.approx(special.card.exit_accuracy[k - 1], abs=1e-12)


def test_before_fine_tuning_the_situation_model_ties_the_restricted_root_exactly(root, digits, cut_only):
    result = compare_with_generic(root, cut_only, digits, THREE)
    for row in result.exits:
        assert row.specialised_accuracy == row.generic_restricted_accuracy
        assert (row.over_restricted.mean, row.over_restricted.low, row.over_restricted.high) == (0.0, 0.0, 0.0)
        assert row.verdict == "tie"
    assert result.wins() == ()
    assert "the situation model is level at exits 1 (+0.0), 2 (+0.0), 3 (+0.0), 4 (+0.0);" in result.summary()


def test_sizes_and_macs_are_the_depth_sub_models(root, digits, comparison):
    in_features = [head.fc.in_features for head in root.exits]
    for k, row in enumerate(comparison.exits, start=1):
        generic = generate(root, digits, SubModelSpec(depth=k), evaluate=False).card
        assert (row.generic_bits, row.generic_macs) == (generic.total_bits, generic.device_macs)
        dropped = 7 * in_features[k - 1]  # seven of the root's ten rows are not sent
        assert row.generic_macs - row.specialised_macs == dropped
        assert 0 <= row.generic_bits - row.specialised_bits - 32 * (dropped + 7) <= 8 * 8
        assert 0 < row.update_bits < row.specialised_bits


def test_the_update_for_the_last_exit_is_its_linear_layer_alone(root, digits, comparison, cut_only):
    # exit 4's head is a linear layer: cut only or fine-tuned, the same two tensors differ from the generic one's
    assert comparison.exit(4).update_bits == compare_with_generic(root, cut_only, digits, THREE).exit(4).update_bits
    assert comparison.exit(4).update_bits < 32 * (3 * 512 + 3) + 8 * 400


def test_paired_difference_by_hand():
    a = np.array([1, 1, 0, 1, 0, 1])
    b = np.array([0, 1, 0, 0, 0, 1])
    d = paired_difference(a, b)  # differences 1, 0, 0, 1, 0, 0: mean 1/3, sd sqrt(4/15)
    half = 1.959963984540054 * np.sqrt(4 / 15) / np.sqrt(6)
    assert (d.mean, d.low, d.high) == pytest.approx((1 / 3, 1 / 3 - half, 1 / 3 + half))
    assert d.verdict == "tie"
    assert paired_difference(np.ones(50), np.r_[np.zeros(20), np.ones(30)]).verdict == "wins"
    assert paired_difference(np.zeros(50), np.r_[np.ones(20), np.zeros(30)]).verdict == "loses"


# Persistence -----------------------------------------------------------------------------------------------------

def test_save_and_load_round_trip_bit_exact(root, special, tmp_path):
    weights, card_path = save_situation_model(special, tmp_path)
    assert weights.name == "resnet18_digits-sorting_office.safetensors"
    record = json.loads(card_path.read_text())
    assert record["weights_bytes"] == weights.stat().st_size
    loaded = load_situation_model(weights, root)
    assert isinstance(loaded, SituationModel)
    assert _same(loaded.model, special.model)
    assert loaded.card == special.card
    assert loaded.situation == THREE


def test_the_file_holds_only_what_customisation_made(root, special, tmp_path):
    from safetensors.torch import load_file

    weights, _ = save_situation_model(special, tmp_path)
    names = sorted(load_file(str(weights)))
    assert names == stored_names(special) and all(n.startswith("exits.") for n in names)
    head_parameters = sum(p.numel() for p in special.model.exits.parameters())
    assert weights.stat().st_size < 2 * head_parameters + 20_000  # fp16 values and a header


def test_saving_twice_gives_the_same_bytes(special, tmp_path):
    first, _ = save_situation_model(special, tmp_path / "a")
    second, _ = save_situation_model(special, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()


def test_a_damaged_weight_file_is_reported_by_name(root, special, tmp_path):
    weights, _ = save_situation_model(special, tmp_path)
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x10
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"{weights.name}' is damaged: sha256"):
        load_situation_model(weights, root)
    weights.write_bytes(bytes(data[:100]))
    with pytest.raises(ValueError, match=f"{weights.name}' is damaged"):
        load_situation_model(weights, root)
    weights.unlink()
    with pytest.raises(ValueError, match=f"{weights.name}' is missing"):
        load_situation_model(weights, root)


def test_a_damaged_card_is_reported_by_name(root, special, tmp_path):
    _, card_path = save_situation_model(special, tmp_path)
    card_path.write_text(card_path.read_text()[:50])
    with pytest.raises(ValueError, match=f"card '.*{card_path.name}' is damaged"):
        load_situation_model(card_path, root)


def test_a_file_whose_hash_matches_but_is_not_safetensors_is_refused(root, special, tmp_path):
    import hashlib

    weights, card_path = save_situation_model(special, tmp_path)
    junk = b"\xff" * 64
    weights.write_bytes(junk)
    record = json.loads(card_path.read_text())
    record["weights_sha256"] = hashlib.sha256(junk).hexdigest()
    card_path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=f"{weights.name}' is damaged"):
        load_situation_model(weights, root)


def test_another_root_is_refused(root, special, tmp_path):
    weights, _ = save_situation_model(special, tmp_path)
    other = copy.deepcopy(root)
    with torch.no_grad():
        other.stem[0].weight[0, 0, 0, 0] += 1.0
    with pytest.raises(ValueError, match="root is not the root of situation model"):
        load_situation_model(weights, other)


# Bad arguments ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"fine_tune": "everything"}, "fine_tune='everything' is not one of"),
    ({"steps": -1}, "steps=-1 is outside"),
    ({"steps": 2.0}, "steps=2.0 must be an integer"),
    ({"batch_size": 0}, "batch_size=0 is outside"),
    ({"lr": 0.0}, "lr=0.0 is outside"),
    ({"photos": 0}, "photos=0 is outside"),
    ({"augment": 1}, "augment=1 must be True or False"),
    ({"dtype": "int8"}, "dtype='int8' is not one of"),
])
def test_a_bad_config_is_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CustomiseConfig(**kwargs)


def test_bad_customise_arguments_are_refused_by_name(root, digits):
    with pytest.raises(ValueError, match="situation='road'.*not in data set 'digits'"):
        customise(root, digits, "road", QUICK, 0)
    with pytest.raises(ValueError, match="situation='beach' is not one of"):
        customise(root, digits, "beach", QUICK, 0)
    with pytest.raises(ValueError, match="config=.*must be a CustomiseConfig"):
        customise(root, digits, THREE, {"steps": 3}, 0)
    with pytest.raises(ValueError, match="seed=-1 is outside"):
        customise(root, digits, THREE, QUICK, -1)
    with pytest.raises(ValueError, match="root=str must be a BackboneNet"):
        customise("resnet18", digits, THREE, QUICK, 0)
    with pytest.raises(ValueError, match=r"photos=5000 is outside the allowed range \[3, "):
        customise(root, digits, THREE, CustomiseConfig(photos=5000), 0)
    with pytest.raises(ValueError, match="labels=\\[3, 3\\] must name at least two different classes"):
        cut(root, [3, 3])


def test_a_comparison_of_another_situation_is_refused(root, digits, special):
    other = Situation("other office", ("3", "5"), DIGITS_ROOT)
    with pytest.raises(ValueError, match="situation='other office'.*is not the situation model's"):
        compare_with_generic(root, special, digits, other)
    with pytest.raises(ValueError, match="situation_model=str must be a SituationModel"):
        compare_with_generic(root, "model", digits, THREE)
    other_root = copy.deepcopy(root)
    with torch.no_grad():
        other_root.exits[3].fc.bias[0] += 1.0
    with pytest.raises(ValueError, match="root is not the root the situation model was customised from"):
        compare_with_generic(other_root, special, digits, THREE)


# The build command -----------------------------------------------------------------------------------------------

def _build_command():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "build_situation_models.py"
    spec = importlib.util.spec_from_file_location("build_situation_models", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_the_build_command_writes_a_loadable_situation_model(root, tmp_path, capsys):
    main = _build_command()
    assert main(["--situation", "post office", "--out", str(tmp_path), "--steps", "2", "--batch-size", "8"]) == 0
    loaded = load_situation_model(tmp_path / "resnet18_digits-post_office", root)
    assert loaded.card.situation == "post office" and loaded.card.config.steps == 2
    assert "post office" in capsys.readouterr().out


def test_the_build_command_names_an_unknown_situation(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _build_command()(["--situation", "beach", "--out", str(tmp_path)])
    assert "'beach'" in capsys.readouterr().err

import re
import json

import pytest
import torch

from core.model.evaluate import accuracy, exit_accuracies
from core.model.models import (build_model, count_parameters, device_model, load_checkpoint, root_parameter_count,
                         save_checkpoint, server_model)


def test_resnet18_parameter_counts_match_torchvision_topology():
    m = build_model("resnet18", 10, 3)
    # torchvision ResNet-18 with a 10-class head has 11,181,642 parameters; the CIFAR stem (3x3 instead of
    # 7x7 conv) removes 64 x 3 x (49 - 9) = 7,680 of them.
    assert root_parameter_count(m) == 11_181_642 - 7_680
    assert count_parameters(m) > root_parameter_count(m)  # plus the three exits


def test_forward_gives_logits_for_every_exit_without_nan():
    m = build_model("resnet18", 10, 1).eval()
    outs = m.forward_exits(torch.randn(4, 1, 8, 8))
    assert [tuple(o.shape) for o in outs] == [(4, 10)] * 4
    assert all(torch.isfinite(o).all() for o in outs)


def test_shipped_model_reaches_its_card_accuracy(root_and_card, digits):
    root, card = root_and_card
    assert card.test_accuracy >= 0.97
    assert accuracy(root, digits, "test") == pytest.approx(card.test_accuracy, abs=1e-6)
    assert exit_accuracies(root, digits) == pytest.approx(list(card.exit_test_accuracy), abs=1e-6)
    # the command it was trained with (the module was core.train before core was grouped into packages)
    assert re.match(r"python -m core(\.model)?\.train --", card.command), card.command


def test_split_models_compose_to_the_root(root, digits):
    x, _ = next(digits.batches("test", 16))
    for k in (1, 2, 3):
        dev, srv = device_model(root, k), server_model(root, k)
        assert torch.allclose(srv(dev.features(x)), root(x), atol=1e-5)


def test_checkpoint_round_trip_and_damage(tmp_path, root_and_card):
    root, card = root_and_card
    path, card_path = save_checkpoint(root, card, tmp_path / "m")
    again, card2 = load_checkpoint(path)
    assert card2 == card
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), root.state_dict().values()))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="damaged"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")
    card_path.write_text(json.dumps({"arch": "resnet18"}))
    with pytest.raises(ValueError, match="missing fields"):
        load_checkpoint(path)


def test_checkpoint_of_another_shape_is_rejected(tmp_path, root_and_card):
    _, card = root_and_card
    other = build_model("resnet18", 3, 1)
    import dataclasses

    path, _ = save_checkpoint(other, dataclasses.replace(card, classes=("a", "b", "c")), tmp_path / "x")
    card_path = path.with_suffix(".json")
    data = json.loads(card_path.read_text())
    data["classes"] = [str(i) for i in range(10)]
    card_path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="shape"):
        load_checkpoint(path)

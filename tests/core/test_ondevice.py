"""On-device customisation (issue 22, paper Sec. 5): the device fine-tunes the head of its downloaded sub-model on
a few labelled photos of its own. On the digits root's exit-2 sub-model with a three-digit situation and a few
steps, so every test takes seconds."""
import math

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from core.compress.combine import SubModelSpec, generate
from core.model.evaluate import predictions
from core.network.dsi import HARDWARE_PRESETS
from core.situation.ondevice import OnDeviceConfig, customise_on_device, customised, cut_head, head_inputs, limit
from core.situation.situations import (DIGITS_ROOT, Situation, class_labels, noisy_camera, situation_data,
                                       situation_photos)

THREE = Situation("sorting office", ("3", "5", "8"), DIGITS_ROOT, "three digits that look alike")
QUICK = OnDeviceConfig(photos_per_class=5, steps=12, checkpoints=(3, 6), batch_size=8, lr=0.05)


@pytest.fixture(scope="module")
def downloaded(root, digits):
    """The generic exit-2 sub-model as the device receives it (all ten digits)."""
    return generate(root, digits, SubModelSpec(depth=2), evaluate=False)


@pytest.fixture(scope="module")
def task(digits):
    return situation_data(THREE, digits)


@pytest.fixture(scope="module")
def start(downloaded, digits):
    """The downloaded sub-model with its exit cut to the situation's three digits."""
    return cut_head(downloaded.module, class_labels(THREE, digits))


@pytest.fixture(scope="module")
def run(start, task):
    return customise_on_device(start, task, QUICK, seed=0)


def _independent(module, task) -> float:
    """The project's own evaluator on the whole module (photo by photo through every layer): correct / photos."""
    return int((predictions(module, task, "test") == task.y_test).sum()) / len(task.y_test)


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_the_same_seed_gives_the_same_numbers_and_another_seed_other_photos(start, task, run):
    again = customise_on_device(start, task, QUICK, seed=0)
    assert again == run  # every field that is a number: accuracies, counts, bits, MACs, time estimate
    assert all(torch.equal(again.weights[k], run.weights[k]) for k in run.weights)
    other = customise_on_device(start, task, QUICK, seed=1)
    assert not all(torch.equal(other.weights[k], run.weights[k]) for k in run.weights)


def test_the_gain_is_measured_on_the_situations_own_test_photos(start, task, run, digits):
    """0 steps is the cut sub-model as an independent evaluation scores it on the situation's test photos, and the
    last point is the customised sub-model's accuracy there, evaluated the same independent way."""
    assert run.test_photos == len(situation_photos(THREE, digits)) == len(task.y_test)
    assert run.steps == (0, 3, 6, 12)
    assert run.accuracy[0] == _independent(start, task)
    assert run.accuracy[-1] == _independent(customised(start, run), task)
    assert run.gain == run.accuracy[-1] - run.accuracy[0] == run.gain_at(12)


def test_a_point_of_the_curve_is_a_run_stopped_there(start, task, run):
    """A constant learning rate: the model after 6 steps of a 12-step run is the 6-step run's."""
    short = customise_on_device(start, task, OnDeviceConfig(photos_per_class=5, steps=6, batch_size=8, lr=0.05),
                                seed=0)
    assert short.accuracy[-1] == run.accuracy_at(6)


def test_the_downloaded_sub_model_is_never_changed(downloaded, start, task):
    before, before_start = _state(downloaded.module), _state(start)
    customise_on_device(start, task, OnDeviceConfig(photos_per_class=3, steps=5, fine_tune="head"), seed=0)
    assert all(torch.equal(v, downloaded.module.state_dict()[k]) for k, v in before.items())
    assert all(torch.equal(v, start.state_dict()[k]) for k, v in before_start.items())


def test_the_whole_head_trains_more_parameters_than_its_last_layer(start, task, run):
    head = customise_on_device(start, task, OnDeviceConfig(photos_per_class=5, steps=4, fine_tune="head"), seed=0)
    fc = start.head.fc
    assert run.trained_parameters == fc.weight.numel() + fc.bias.numel() == 3 * (fc.in_features + 1)
    assert head.trained_parameters == sum(p.numel() for p in start.head.parameters()) > run.trained_parameters
    assert run.update_bits == 32 * run.trained_parameters
    assert head.accuracy[0] == run.accuracy[0]  # the same sub-model as downloaded, either way


def test_the_time_estimate_is_three_times_the_forward_macs_per_photo_per_step(start, task, run):
    """Forward multiply-adds counted by torch's own FLOP counter (2 FLOPs each), the smartphone's fp32 rate from
    its source (the A17 Pro's GPU: 2.15 TFLOPS)."""
    with FlopCounterMode(display=False) as counter:
        start(torch.zeros(1, *task.input_shape))
    macs = counter.get_total_flops() // 2
    rate = 2.15e12 / 2
    per_step = min(QUICK.batch_size, QUICK.photos_per_class * 3)
    assert run.macs_per_photo == macs
    assert run.photos_per_step == per_step == 8 and run.train_photos == 15
    assert math.isclose(run.device_seconds, 3 * macs * per_step * QUICK.steps / rate, rel_tol=1e-12)
    wearable = customise_on_device(start, task, QUICK, seed=0, hardware=HARDWARE_PRESETS["wearable"])
    # The wearable has no fp32 rate of its own: its headline (0.1 TOPS at 8 bits) applies.
    assert math.isclose(wearable.device_seconds, 3 * macs * per_step * QUICK.steps / (0.1e12 / 2), rel_tol=1e-12)


def test_given_features_give_the_same_run(start, task, run):
    features = head_inputs(start, task, "classifier")
    assert customise_on_device(start, task, QUICK, seed=0, features=features) == run
    with pytest.raises(ValueError, match=r"fine_tune='head'.*head_inputs"):
        customise_on_device(start, task, OnDeviceConfig(steps=2, fine_tune="head"), seed=0, features=features)


def test_a_test_photo_subset_is_a_fixed_draw(start, task):
    a = head_inputs(start, task, "classifier", test_photos=40)
    b = head_inputs(start, task, "classifier", test_photos=40)
    assert len(a) == 40 and a.photos == b.photos and list(a.photos) == sorted(set(a.photos))


def test_a_noisier_camera_changes_the_photos_and_keeps_the_labels(digits):
    noisy = noisy_camera(digits, 0.1, 0)
    assert torch.equal(noisy.y_train, digits.y_train) and torch.equal(noisy.y_test, digits.y_test)
    assert not torch.equal(noisy.x_train, digits.x_train) and not torch.equal(noisy.x_test, digits.x_test)


def test_where_customisation_cannot_help_is_said_plainly():
    assert "2-bit codes without quantisation-aware training" in limit(SubModelSpec(bits=2))
    assert limit(SubModelSpec(bits=2, qat_steps=50)) == ""
    assert "keep 2%" in limit(SubModelSpec(keep_ratio=0.02, retrain_steps=0))
    assert limit(SubModelSpec(keep_ratio=0.02, retrain_steps=100)) == ""
    assert limit(SubModelSpec(keep_ratio=0.1, retrain_steps=0)) == ""  # measured: the head wins most of it back
    assert limit(SubModelSpec(bits=4)) == ""


@pytest.mark.parametrize("kwargs, match", [
    (dict(photos_per_class=0), r"photos_per_class=0 is outside the allowed range \[1, inf\]"),
    (dict(steps=-1), r"steps=-1 is outside the allowed range \[0, 100000\]"),
    (dict(steps=2.0), r"steps=2\.0 must be an integer"),
    (dict(fine_tune="stages"), r"fine_tune='stages'.*classifier.*head"),
    (dict(steps=10, checkpoints=(5, 11)), r"checkpoints=11 is outside the allowed range \[0, 10\]"),
    (dict(lr=0.0), r"lr=0\.0 is outside the allowed range \(0\.0, 10\.0\]"),
    (dict(test_photos=0), r"test_photos=0 is outside the allowed range \[1, inf\]"),
])
def test_a_bad_config_is_named_with_its_value_and_what_is_allowed(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OnDeviceConfig(**kwargs)


def test_bad_arguments_are_named(start, downloaded, task, digits):
    per_class = np.bincount(task.y_train.numpy()).min()
    with pytest.raises(ValueError, match=rf"photos_per_class=999 is more than the {per_class} training photos of "
                                         rf"class .*allowed: 1 to {per_class}"):
        customise_on_device(start, task, OnDeviceConfig(photos_per_class=999, steps=1), seed=0)
    with pytest.raises(ValueError, match=r"start answers among 10 classes but data=.* has 3: cut its head"):
        customise_on_device(downloaded, task, QUICK, seed=0)
    with pytest.raises(ValueError, match=r"hardware='toaster'.*smartphone"):
        customise_on_device(start, task, QUICK, seed=0, hardware="toaster")
    with pytest.raises(ValueError, match=r"seed=-1 is outside the allowed range \[0, inf\]"):
        customise_on_device(start, task, QUICK, seed=-1)
    with pytest.raises(ValueError, match=r"config=.*must be an OnDeviceConfig"):
        customise_on_device(start, task, {"steps": 3}, seed=0)
    with pytest.raises(ValueError, match=r"labels=\[3, 3\] must name at least two different classes"):
        cut_head(downloaded.module, [3, 3])
    with pytest.raises(ValueError, match=r"steps=7 was not measured; measured: \[0, 3, 6, 12\]"):
        customise_on_device(start, task, QUICK, seed=0).accuracy_at(7)

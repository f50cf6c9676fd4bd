"""The int8 twin of an integer-coded sub-model: its weights are exactly the received codes, it follows every
download and restore of the working copy, and it predicts what the fake-quantised float model predicts on
nearly every image (the stated tolerance: >= 98.5 %, clean and after downloads)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.compress.combine import SubModelSpec, generate
from core.link.int8 import calibration_images, int8_problem
from core.link.reliability import EstimateConfig, clean_correctness, iter_estimates, trial_rng
from core.link.working import WorkingCopy, correctness, download

pytestmark = pytest.mark.skipif("onednn" not in torch.backends.quantized.supported_engines,
                                reason="this PyTorch build has no oneDNN int8 engine")


@pytest.fixture(scope="module")
def data(digits):
    return digits


@pytest.fixture(scope="module")
def four_bit(digits_four_bit):
    return digits_four_bit


@pytest.fixture(scope="module")
def twin(four_bit, data):
    return WorkingCopy(four_bit, "int8", calibration_images(data))


def _float_weights(working, names) -> dict:
    """The working copy's float weights (row-major) of the layers ``names``."""
    layers = dict(working.module.named_modules())
    return {name: layers[name].weight.detach().contiguous() for name in names}


def _same_weights(working) -> bool:
    got = working.int8.kernel_weights()
    want = _float_weights(working, got)
    assert set(got) == {n for n, m in working.module.named_modules()
                        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))}
    return all(torch.allclose(got[n], want[n], rtol=1e-6, atol=0) for n in want)


def test_the_twin_holds_exactly_the_sub_models_codes(twin):
    assert twin.arithmetic == "int8" and twin.evaluator is twin.int8.model
    assert _same_weights(twin)


@pytest.mark.parametrize("ber, protection", [(1e-2, "none"), (3e-3, "sanitise")])
def test_after_a_download_the_twin_holds_the_received_codes_and_after_restore_the_clean_ones(twin, data, ber,
                                                                                             protection):
    clean_pred = correctness(twin.evaluator, data)
    arrival = download(twin.payload, ber, protection, np.random.default_rng(3))
    assert arrival.flips > 0
    with twin.received(arrival) as model:
        assert model is twin.evaluator and not twin.int8.is_clean
        assert _same_weights(twin)  # every received code, flipped or not, is in the int8 kernels
        hit = correctness(model, data)
    assert twin.is_clean and twin.int8.is_clean and _same_weights(twin)
    assert np.array_equal(correctness(twin.evaluator, data), clean_pred)
    assert not np.array_equal(hit, clean_pred)  # the download did change something the twin saw


def test_int8_predicts_what_the_fake_quantised_model_predicts_within_the_stated_tolerance(four_bit, twin, data):
    plain = WorkingCopy(four_bit)
    x = data.normalise(data.x_test)
    with torch.inference_mode():
        same = [float((plain.module(x).argmax(1) == twin.evaluator(x).argmax(1)).float().mean())]
        for i in range(3):
            arrival = download(four_bit.payload, 1e-2, "none", trial_rng(21, i))
            with plain.received(arrival) as f, twin.received(arrival) as q:
                same.append(float((f(x).argmax(1) == q(x).argmax(1)).float().mean()))
    assert min(same) >= 0.985, same


def test_an_estimate_with_int8_arithmetic_is_the_int8_networks_accuracy(four_bit, twin, data):
    n = len(data.y_test)
    clean = clean_correctness(twin.evaluator, data)
    config = EstimateConfig(images_per_trial=n, target_half_width=0.5, min_trials=2, max_trials=2)
    result = list(iter_estimates(four_bit, data, 1e-2, "none", config, seed=5, working=twin))[-1]
    assert result.clean_accuracy == pytest.approx(clean.mean())
    assert len(result.paired) == 2  # both trials are checked below
    for trial in result.paired:  # whole-split trials: each estimate is that download's exact int8 accuracy
        arrival = download(four_bit.payload, 1e-2, "none", trial_rng(5, trial.index))
        with twin.received(arrival) as model:
            assert trial.estimate == pytest.approx(correctness(model, data).mean())
    assert twin.is_clean


def test_only_integer_coded_sub_models_get_int8_arithmetic(root, data):
    fp32 = generate(root, data, SubModelSpec(bits=32), evaluate=False)
    assert "sent as 32-bit floats" in int8_problem(fp32.payload, fp32.module)
    with pytest.raises(ValueError, match="int8 kernels: layer 'stem.0': its weights are sent as 32-bit floats"):
        WorkingCopy(fp32, "int8", calibration_images(data))
    with pytest.raises(ValueError, match=r"arithmetic='int4' is not allowed: use one of \['float', 'int8'\]"):
        WorkingCopy(fp32, "int4")
    with pytest.raises(ValueError, match="calibration=None"):
        WorkingCopy(generate(root, data, SubModelSpec(bits=8), evaluate=False), "int8")

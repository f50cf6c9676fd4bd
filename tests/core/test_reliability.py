"""Accuracy under BER on the default model: bit-identical at BER 0, reproducible, never touching the original."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import core.link.reliability as reliability
from core.compress.combine import SubModelSpec, generate
from core.model.data import load_digits
from core.model.evaluate import accuracy
from core.model.models import load_default
from core.link.reliability import WorkingCopy, accuracy_under_ber, iter_trials

LIMIT = 120  # test images per evaluation: keeps the suite fast on 2 cores


@pytest.fixture(scope="module")
def data():
    return load_digits()


@pytest.fixture(scope="module")
def root():
    return load_default()[0]


@pytest.fixture(scope="module")
def fp32(root, data):
    return generate(root, data, SubModelSpec(bits=32), evaluate=False)


@pytest.fixture(scope="module")
def four_bit(root, data):
    return generate(root, data, SubModelSpec(bits=4), evaluate=False)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _bit_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].view(torch.uint8) if a[k].is_floating_point() else a[k],
                                                    b[k].view(torch.uint8) if b[k].is_floating_point() else b[k])
                                        for k in a)


def test_ber_zero_received_model_is_bit_identical(fp32, data):
    working = WorkingCopy(fp32)
    assert _bit_equal(_snapshot(working.module), _snapshot(fp32.module))
    trial = next(iter_trials(fp32, data, 0.0, trials=1, limit=LIMIT, working=working))
    assert trial.flips == 0
    assert _bit_equal(_snapshot(working.module), _snapshot(fp32.module))
    assert trial.accuracy == accuracy(fp32.module, data, "test", limit=LIMIT)


def test_trials_restore_the_copy_and_never_touch_the_submodel(four_bit, data):
    before = _snapshot(four_bit.module)
    working = WorkingCopy(four_bit)
    results = list(iter_trials(four_bit, data, 1e-2, "none", trials=2, limit=LIMIT, working=working))
    assert all(r.flips > 0 for r in results)
    assert working.is_clean and _bit_equal(_snapshot(working.module), before)
    assert _bit_equal(_snapshot(four_bit.module), before)


def test_no_deep_copy_per_trial(four_bit, data, monkeypatch):
    working = WorkingCopy(four_bit)

    def forbidden(*args, **kwargs):
        raise AssertionError("a trial deep-copied the model")

    monkeypatch.setattr(reliability.copy, "deepcopy", forbidden)
    list(iter_trials(four_bit, data, 1e-3, trials=2, limit=LIMIT, working=working))


def test_same_seed_gives_the_same_accuracies(fp32, data):
    working = WorkingCopy(fp32)
    a = accuracy_under_ber(fp32, data, 1e-5, "none", trials=3, seed=5, limit=LIMIT, working=working)
    b = accuracy_under_ber(fp32, data, 1e-5, "none", trials=3, seed=5, limit=LIMIT, working=working)
    assert a.trials == b.trials and a.mean_flips == b.mean_flips
    # Trial i depends on (seed, i) only: asking for fewer trials gives a prefix of the same results.
    two = accuracy_under_ber(fp32, data, 1e-5, "none", trials=2, seed=5, limit=LIMIT, working=working)
    assert two.trials == a.trials[:2]


def test_trials_stream_as_they_finish(four_bit, data):
    stream = iter_trials(four_bit, data, 1e-3, trials=3, seed=1, limit=LIMIT)
    first = next(stream)
    assert first.index == 0 and 0.0 <= first.accuracy <= 1.0
    assert [r.index for r in stream] == [1, 2]


def test_result_has_mean_spread_and_interval(four_bit, data):
    res = accuracy_under_ber(four_bit, data, 1e-2, "sanitise", trials=3, seed=2, limit=LIMIT)
    assert len(res.trials) == 3
    assert res.mean == pytest.approx(np.mean(res.trials))
    assert res.std == pytest.approx(np.std(res.trials, ddof=1))
    assert res.ci95[0] <= res.mean <= res.ci95[1]
    assert res.mean_flips > 0 and res.lossy_bits == four_bit.payload.payload_bits


def test_fp32_without_protection_falls_to_near_chance_while_4bit_codes_keep_most(fp32, four_bit, data):
    clean32 = accuracy(fp32.module, data, "test", limit=LIMIT)
    clean4 = accuracy(four_bit.module, data, "test", limit=LIMIT)
    raw = accuracy_under_ber(fp32, data, 1e-3, "none", trials=2, seed=0, limit=LIMIT)
    assert clean32 > 0.9 and raw.mean < 0.25, (clean32, raw.trials)
    # Only the integer codes travel over the lossy link here (float tensors, if any, ride the reliable one).
    floats = [r.name for r in four_bit.payload.records if r.is_float]
    codes = accuracy_under_ber(four_bit, data, 1e-3, "none", trials=2, seed=0, limit=LIMIT, reliable=floats)
    assert codes.mean >= clean4 - 0.05, (clean4, codes.trials)


def test_uep_keeps_fp32_accuracy_at_ber_1e3(fp32, data):
    clean = accuracy(fp32.module, data, "test", limit=LIMIT)
    res = accuracy_under_ber(fp32, data, 1e-3, "uep", trials=2, seed=0, limit=LIMIT)
    assert res.mean >= clean - 0.03 and res.reliable_bits >= 9 * fp32.payload.payload_bits // 32


@pytest.mark.parametrize("kwargs, match", [
    (dict(ber=0.7), "ber=0.7"), (dict(ber=-1e-3), "ber"), (dict(trials=0), "trials=0"),
    (dict(protection="fec"), "protection='fec'"), (dict(seed=-1), "seed=-1")])
def test_bad_input_is_refused(four_bit, data, kwargs, match):
    args = dict(ber=1e-3, protection="none", trials=1, seed=0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        accuracy_under_ber(four_bit, data, limit=LIMIT, **args)


def test_payload_that_does_not_match_the_model_is_refused(fp32, root, data):
    shallow = generate(root, data, SubModelSpec(depth=1), evaluate=False)
    with pytest.raises(ValueError, match="payload"):
        WorkingCopy(dataclasses.replace(shallow, payload=fp32.payload))

"""The working copy that downloads corrupt in place: its channels-last weights hold exactly what arrived, in the
payload's order, and it predicts what a plain copy of the received model predicts, to the bit."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from core.compress.combine import SubModelSpec, generate
from core.compress.payload import decode
from core.link.working import WorkingCopy, correctness, download
from core.model.data import load_digits
from core.model.models import load_digits_root


@pytest.fixture(scope="module")
def data():
    return load_digits()


@pytest.fixture(scope="module")
def four_bit(data):
    return generate(load_digits_root()[0], data, SubModelSpec(bits=4), evaluate=False)


def _plain_received(sub, arrival) -> torch.nn.Module:
    """A contiguous deep copy of the sub-model with the arrival written the obvious way (row-major positions)."""
    module = copy.deepcopy(sub.module).eval()
    state = module.state_dict()
    clean = decode(sub.payload)
    for name, values in clean.items():
        state[name].copy_(values.reshape(state[name].shape))
    for name, update in arrival.tensors.items():
        flat = state[name].view(-1)
        if isinstance(update, tuple):
            index, values = update
            flat[torch.as_tensor(np.asarray(index, dtype=np.int64))] = torch.as_tensor(np.asarray(values))
        else:
            flat.copy_(torch.as_tensor(np.asarray(update, dtype=np.float32)).reshape(-1))
    return module


def test_convolution_weights_are_channels_last_and_hold_the_payload(four_bit):
    working = WorkingCopy(four_bit)
    convs = [m for m in working.module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    state = working.module.state_dict()
    for name, values in decode(four_bit.payload).items():
        assert torch.equal(state[name], values.reshape(state[name].shape)), name


@pytest.mark.parametrize("ber, protection", [(1e-2, "none"), (1e-3, "sanitise")])
def test_received_weights_and_predictions_equal_a_plain_copy_of_the_download(four_bit, data, ber, protection):
    working = WorkingCopy(four_bit)
    arrival = download(four_bit.payload, ber, protection, np.random.default_rng(11))
    assert arrival.flips > 0
    plain = _plain_received(four_bit, arrival)
    with working.received(arrival) as module:
        got = module.state_dict()
        for name, tensor in plain.state_dict().items():
            assert torch.equal(got[name], tensor), name
        assert np.array_equal(correctness(module, data), correctness(plain, data))
    assert working.is_clean
    for name, values in decode(four_bit.payload).items():  # restored in memory order too
        assert torch.equal(working.module.state_dict()[name], values.reshape(values.shape)), name


def test_a_whole_tensor_write_is_read_in_payload_order(four_bit):
    working = WorkingCopy(four_bit)
    name = next(n for n, t in working.module.state_dict().items() if t.dim() == 4 and t.shape[2] > 1)
    shape = tuple(working.module.state_dict()[name].shape)
    values = np.arange(np.prod(shape), dtype=np.float32)
    working.write({name: values})
    assert torch.equal(working.module.state_dict()[name], torch.from_numpy(values).reshape(shape))
    working.restore()
    assert working.is_clean

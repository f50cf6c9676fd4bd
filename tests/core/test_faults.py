"""One flipped bit (core.link.faults): bit 30 of an fp32 weight below 2 multiplies it by 2^128, on a copy only."""
import pytest
import torch

from core.link.faults import flip_one_bit


def test_top_exponent_flip_blows_up_one_weight_and_never_touches_the_module(root, digits):
    before = {k: v.clone() for k, v in root.state_dict().items()}
    flip = flip_one_bit(root, digits, bit=30)
    assert flip.tensor == next(n for n, p in root.named_parameters() if p.dim() > 1)
    assert abs(flip.weight_before) < 2 and flip.weight_after == pytest.approx(flip.weight_before * 2.0 ** 128)
    assert flip.clean_accuracy > 0.9 and flip.flipped_accuracy < flip.clean_accuracy
    assert all(torch.equal(before[k], v) for k, v in root.state_dict().items())


def test_flipping_the_lowest_mantissa_bit_changes_nothing_visible(root, digits):
    flip = flip_one_bit(root, digits, bit=0)
    assert flip.weight_after == pytest.approx(flip.weight_before, rel=1e-6)
    assert flip.flipped_accuracy == flip.clean_accuracy


@pytest.mark.parametrize("kwargs, match", [(dict(bit=32), "bit=32"), (dict(tensor="nope"), "tensor='nope'"),
                                           (dict(position=-1), "position=-1")])
def test_bad_input_is_refused_by_name(root, digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        flip_one_bit(root, digits, **kwargs)

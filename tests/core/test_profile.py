"""Per-layer profile of a sub-model: what the Sub-models page draws for a chosen library entry."""
import pytest

from core.compress.combine import SubModelSpec, generate
from core.compress.common import weight_names
from core.compress.profile import layer_profile


@pytest.fixture(scope="module")
def pruned_4bit(root, digits):
    return generate(root, digits, SubModelSpec(depth=2, keep_ratio=0.25, bits=4, retrain_steps=0), 0, evaluate=False)


def test_profile_lists_every_weight_tensor_with_its_bits(pruned_4bit):
    prof = layer_profile(pruned_4bit)
    assert list(prof["layer"]) == [n.removesuffix(".weight") for n in weight_names(pruned_4bit.module)]
    assert set(prof["bits"]) == {4}
    assert prof["weights"].sum() == sum(p.numel() for n, p in pruned_4bit.module.named_parameters()
                                        if n in set(weight_names(pruned_4bit.module)))


def test_pruned_model_keeps_about_the_asked_share_and_the_root_keeps_all(pruned_4bit, root, digits):
    prof = layer_profile(pruned_4bit)
    kept = (prof["kept"] * prof["weights"]).sum() / prof["weights"].sum()
    assert kept == pytest.approx(0.25, abs=0.01)  # global pruning: the share is over all weights together
    dense = layer_profile(generate(root, digits, SubModelSpec(depth=1, bits=32), 0, evaluate=False))
    assert (dense["kept"] > 0.99).all() and set(dense["bits"]) == {32}

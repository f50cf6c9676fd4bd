"""Depth, parameter and bit level sub-models of the shipped root model: the properties a user relies on."""
import numpy as np
import pytest
import torch

from core.compress.combine import SubModelSpec, generate, root_bits
from core.compress.common import weight_names
from core.compress.depth import early_exit, split_table
from core.compress.progressive import nested_masks, received_upgrade
from core.compress.prune import magnitude_masks
from core.compress.quantize import allocate_bits, codes_for, fake_quantise, layer_sensitivity
from core.model.models import device_model
from core.compress.payload import TensorFormat, channel_scales, decode, encode


# ---------- depth level ----------

def test_exit_k_submodel_runs_only_the_first_k_stages(root, digits):
    calls = []
    sub = device_model(root, 2)
    hooks = [s.register_forward_hook(lambda m, i, o, k=k: calls.append(k)) for k, s in enumerate(root.stages)]
    try:
        x, _ = next(digits.batches("test", 8))
        out = sub(x)
    finally:
        for h in hooks:
            h.remove()
    assert calls == []  # the sub-model holds copies: the root's stages are never run
    assert sub.depth == 2 and len(list(sub.stages)) == 2
    assert torch.allclose(out, root.exits[1](root.features(x, 2)), atol=1e-6)


def test_split_table_shows_downlink_uplink_tradeoff(root, digits):
    rows = split_table(root, digits, feature_bits=8)
    downloads = [r.download_bits for r in rows]
    uplinks = [r.uplink_bits_per_sample for r in rows]
    assert downloads == sorted(downloads) and uplinks == sorted(uplinks, reverse=True)
    assert rows[-1].server_macs == 0 and rows[0].server_macs > rows[1].server_macs
    assert all(r.server_accuracy >= 0.97 for r in rows)


def test_confident_early_exit_trades_uplink_for_accuracy(root, digits):
    everything_local = early_exit(root, digits, 1, 0.0)
    cautious = early_exit(root, digits, 1, 0.999)
    assert everything_local.device_share == 1.0 and everything_local.mean_uplink_bits == 0
    assert cautious.device_share < 1.0 and cautious.mean_uplink_bits > 0
    assert cautious.accuracy >= everything_local.accuracy
    with pytest.raises(ValueError, match="threshold=1.5"):
        early_exit(root, digits, 1, 1.5)
    with pytest.raises(ValueError, match="depth=5"):
        early_exit(root, digits, 5, 0.5)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_early_exit_outcomes_give_what_a_per_image_decision_gives(root, digits, depth):
    """Reference: decide each image on its own (device if confident, else server from its 8-bit features)."""
    from core.compress.depth import early_exit_outcomes, quantise_features

    outcomes = early_exit_outcomes(root, digits, depth, 8)
    x, y = next(digits.batches("test", 100_000))
    with torch.no_grad():
        feats = root.features(x, depth)
        local = root.exits[depth - 1](feats)
        conf = torch.softmax(local, 1).amax(1)
        f = quantise_features(feats, 8)
        for stage in root.stages[depth:]:
            f = stage(f)
        server = root.exits[-1](f).argmax(1)
    for threshold in (0.0, 0.5, 0.9, 0.999, 1.0):
        confident = conf >= threshold
        pred = torch.where(confident, local.argmax(1), server)
        got = outcomes.at(threshold)
        assert abs(got.accuracy - float((pred == y).float().mean())) <= 1 / len(y)
        assert abs(got.device_share - float(confident.float().mean())) <= 1 / len(y)
        assert got.mean_uplink_bits == pytest.approx(float((~confident).float().mean()) * feats[0].numel() * 8,
                                                     abs=feats[0].numel() * 8 / len(y))
    with pytest.raises(ValueError, match="threshold=-0.1"):
        outcomes.at(-0.1)
    assert not outcomes.confidence.flags.writeable  # shared by the page cache: read-only


def test_the_library_split_table_matches_a_measured_one(root, digits, tmp_path):
    """The pages read the split table from the shipped library's depth entries instead of a pass over the images."""
    import shutil

    from core.model.models import ASSETS
    from core.network.library import open_library
    from core.network.select import library_split_points

    shutil.copytree(ASSETS / "library" / "resnet18_digits", tmp_path / "lib")
    from_library = library_split_points(open_library(tmp_path / "lib")).set_index("depth")
    for r in split_table(root, digits, feature_bits=8):
        row = from_library.loc[r.depth]
        assert (row.download_bits, row.device_macs, row.server_macs) == (r.download_bits, r.device_macs,
                                                                          r.server_macs)
        assert abs(row.exit_accuracy - r.exit_accuracy) <= 1 / 359
        if r.depth < 4:  # at exit 4 the device answers alone: nothing goes up (the library says 0 bits)
            assert row.uplink_bits_per_sample == r.uplink_bits_per_sample
            assert abs(row.server_accuracy - r.server_accuracy) <= 1 / 359
        else:
            assert row.uplink_bits_per_sample == 0 and row.server_accuracy == row.exit_accuracy


# ---------- parameter level ----------

@pytest.mark.parametrize("scope", ["global", "layer"])
def test_pruning_keeps_exactly_the_asked_share(root, scope):
    sub = device_model(root, 4)
    masks = magnitude_masks(sub, 0.2, scope)
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    if scope == "global":
        assert abs(kept - round(0.2 * total)) <= len(masks)  # exact up to the one-weight-per-layer floor
    else:
        assert all(int(m.sum()) == max(1, round(0.2 * m.numel())) for m in masks.values())


def test_global_pruning_keeps_the_largest_weights(root):
    sub = device_model(root, 4)
    masks = magnitude_masks(sub, 0.1)
    params = dict(sub.named_parameters())
    kept = torch.cat([params[n].abs()[m] for n, m in masks.items()])
    dropped = torch.cat([params[n].abs()[~m] for n, m in masks.items()])
    assert kept.min() >= dropped.max() - 1e-7 or (kept < dropped.max()).sum() <= len(masks)


def test_retraining_keeps_pruned_weights_at_zero_and_recovers_accuracy(root, digits):
    spec = SubModelSpec(keep_ratio=0.05, retrain_steps=40)
    sub = generate(root, digits, spec, seed=0)
    density = sub.card.layer_density
    total = sum(dict(sub.module.named_parameters())[n].numel() for n in density)
    nonzero = sum(int((dict(sub.module.named_parameters())[n] != 0).sum()) for n in density)
    assert nonzero <= round(0.05 * total) + len(density)
    assert sub.card.accuracy > sub.card.accuracy_before_retrain
    assert sub.card.accuracy >= 0.9


def test_pruning_rejects_keep_ratio_outside_unit_interval(root):
    sub = device_model(root, 1)
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match=f"keep_ratio={bad}"):
            magnitude_masks(sub, bad)
    with pytest.raises(ValueError, match="scope='local'"):
        magnitude_masks(sub, 0.5, "local")


def test_nested_keep_sets_contain_each_other(root):
    sub = device_model(root, 4)
    levels = nested_masks(sub, (0.05, 0.2, 0.6))
    for small, large in zip(levels, levels[1:]):
        assert all(bool((small[n] & ~large[n]).sum() == 0) for n in small)
    with pytest.raises(ValueError, match="strictly increasing"):
        nested_masks(sub, (0.5, 0.2))


def test_progressive_upgrade_rebuilds_the_larger_level_exactly(root):
    sub = device_model(root, 2)
    small, large = nested_masks(sub, (0.1, 0.3))
    from core.compress.common import transmitted_state
    from core.compress.prune import apply_masks
    import copy

    s_state = transmitted_state(apply_masks(copy.deepcopy(sub), small))
    l_state = transmitted_state(apply_masks(copy.deepcopy(sub), large))
    rebuilt = received_upgrade(s_state, l_state, small, large)
    assert all(torch.equal(rebuilt[n], l_state[n]) for n in l_state)


# ---------- bit level ----------

@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_each_channel_has_at_most_2_to_the_b_codes(root, bits):
    w = dict(root.named_parameters())["stages.1.0.conv1.weight"]
    codes = codes_for(w, bits)
    assert codes.min() >= -(2 ** (bits - 1)) and codes.max() < 2 ** (bits - 1)
    assert max(len(np.unique(c)) for c in codes) <= 2 ** bits


def test_quantisation_error_falls_with_more_bits(root):
    w = dict(root.named_parameters())["stages.2.0.conv2.weight"].detach()
    sqnr = []
    for b in (2, 4, 6, 8, 16):
        err = w - fake_quantise(w, b)
        sqnr.append(float(10 * torch.log10(w.pow(2).sum() / err.pow(2).sum())))
    assert sqnr == sorted(sqnr) and sqnr[3] > 40  # 8-bit: about 6 dB a bit


def test_uniform_4_bit_model_keeps_its_accuracy_and_is_an_eighth_of_fp32(root, digits):
    sub = generate(root, digits, SubModelSpec(bits=4))
    assert sub.card.accuracy >= 0.97
    assert 12.5 <= sub.card.size_pct_of_root <= 14.0  # codes + fp32 BN tensors + scales + topology


def test_mixed_precision_fits_budget_and_beats_uniform_at_same_size(root, digits):
    sub = device_model(root, 4)
    sens = layer_sensitivity(sub, digits, bits=(2, 3, 4))
    sizes = dict(zip(sens.layers, sens.sizes))
    budget = 3 * sum(sens.sizes)
    alloc = allocate_bits(sens, budget)
    assert sum(sizes[n] * b for n, b in alloc.items()) <= budget
    assert len(set(alloc.values())) > 1
    mixed = generate(root, digits, SubModelSpec(bits_map=tuple(alloc.items())))
    uniform = generate(root, digits, SubModelSpec(bits=3))
    assert mixed.card.bits_by_part["values"] <= uniform.card.bits_by_part["values"]
    assert mixed.card.accuracy >= uniform.card.accuracy
    with pytest.raises(ValueError, match="budget_bits"):
        allocate_bits(sens, sum(sens.sizes))


@pytest.mark.parametrize("bad", [1, 9, 12, 33, 2.5])
def test_bits_outside_allowed_set_are_rejected(bad):
    with pytest.raises(ValueError, match=f"bits={bad}"):
        SubModelSpec(bits=bad)


# ---------- payload and combination ----------

def test_sparse_encoding_is_smaller_than_dense_at_high_sparsity(root):
    w = dict(root.named_parameters())["stages.3.1.conv2.weight"].detach()
    mask = (w.abs() >= w.abs().flatten().quantile(0.9)).numpy()
    dense = encode({"w": w}, {"w": TensorFormat(32)}).bits_by_part()["payload"]
    sparse_payload = encode({"w": w * torch.from_numpy(mask)}, {"w": TensorFormat(32, mask=mask)})
    assert sparse_payload.bits_by_part()["payload"] < 0.2 * dense
    assert sparse_payload.records[0].encoding in ("bitmap", "relative")
    assert torch.equal(decode(sparse_payload)["w"], w * torch.from_numpy(mask))


def test_relative_indices_bridge_long_gaps_with_padding():
    # a dense run of 2,000 weights then one weight far away: short indices plus padding entries win
    w = torch.zeros(20000)
    w[:2000] = torch.linspace(-1, 1, 2000) + 0.001
    w[19999] = 4.0
    mask = (w != 0).numpy()
    p = encode({"w": w}, {"w": TensorFormat(8, scales=channel_scales(w.numpy(), 8), mask=mask)})
    rec = p.records[0]
    assert rec.encoding == "relative" and rec.index_bits < 8 and rec.entries > rec.nnz
    assert p.bits_by_part()["payload"] == rec.entries * (8 + rec.index_bits) < 20000 + rec.nnz * 8
    assert torch.allclose(decode(p)["w"], w, atol=4 / 127 / 2 + 1e-6)


def test_generation_is_seeded_and_never_mutates_the_root(root, digits):
    before = {k: v.clone() for k, v in root.state_dict().items()}
    spec = SubModelSpec(depth=3, keep_ratio=0.3, bits=4, retrain_steps=10)
    a, b = generate(root, digits, spec, seed=7), generate(root, digits, spec, seed=7)
    assert all(np.array_equal(x.words, y.words) for x, y in zip(a.payload.segments, b.payload.segments))
    assert a.card.accuracy == b.card.accuracy
    assert all(torch.equal(before[k], v) for k, v in root.state_dict().items())


def test_combined_card_counts_every_part(root, digits):
    sub = generate(root, digits, SubModelSpec(depth=2, keep_ratio=0.5, bits=6, retrain_steps=5))
    card = sub.card
    parts = card.bits_by_part
    assert card.technique == "combined" and card.depth == 2
    assert parts["total"] == parts["values"] + parts["index"] + parts["scales"] + parts["ranges"] + parts["topology"]
    assert card.total_bits < root_bits(root) / 10
    assert card.effective_macs < card.device_macs and card.uplink_bits_per_sample == 128 * 4 * 4 * 8
    assert set(card.layer_bits) == set(weight_names(sub.module)) and set(card.layer_bits.values()) == {6}


def test_integer_coded_submodels_fold_batchnorm_without_changing_predictions(root, digits):
    from core.compress.common import fold_batchnorm
    import copy

    sub = device_model(root, 4)
    folded = fold_batchnorm(copy.deepcopy(sub))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x, _ = next(digits.batches("test", 64))
    assert torch.allclose(folded(x), sub(x), atol=1e-4)
    coded = generate(root, digits, SubModelSpec(bits=4))
    assert all(r.bits in (4, 8) for r in coded.payload.records)  # no float word is left on the lossy link


# ---------- argument checks: every bad value is named with what is allowed ----------

@pytest.mark.parametrize("kwargs, match", [
    (dict(keep_ratio="0.5"), "keep_ratio='0.5' must be a number"),
    (dict(keep_ratio=True), "keep_ratio=True must be a number"),
    (dict(keep_ratio=0.0), r"keep_ratio=0.0 is outside the allowed range \(0.0, 1.0\]"),
    (dict(depth=2.0), "depth=2.0 must be an integer"),
    (dict(depth=True), "depth=True must be an integer"),
    (dict(depth=5), r"depth=5 is outside the allowed range \[1, 4\]"),
    (dict(bits="4"), "bits='4' is not allowed"),
    (dict(bits=True), "bits=True is not allowed"),
    (dict(prune_scope=None), "prune_scope=None is not one of"),
    (dict(retrain_steps=10.0), "retrain_steps=10.0 must be an integer"),
    (dict(retrain_steps=-1), "retrain_steps=-1 is outside"),
    (dict(qat_steps="5"), "qat_steps='5' must be an integer"),
    (dict(mixed_budget_bits=1e6), "mixed_budget_bits=1000000.0 must be an integer"),
    (dict(bits_map={"stem.0.weight": 4}), "bits_map=.* must be a tuple of .layer name, bits. pairs"),
    (dict(bits_map=(("stem.0.weight", 4.5),)), r"bits_map\['stem.0.weight'\]=4.5 is not allowed"),
    (dict(bits_map=(("stem.0.weight", 4), ("stem.0.weight", 8))), "'stem.0.weight' is named twice"),
    (dict(bits_map=("stem.0.weight", 4)), r"bits_map\[0\]='stem.0.weight' must be a \(layer name, bits\) pair"),
    (dict(bits_map=(("stem.0.weight", 4),), mixed_budget_bits=10_000), "bits_map and mixed_budget_bits"),
    (dict(small_bits=8.0), "small_bits=8.0 must be an integer"),
    (dict(small_bits=True), "small_bits=True must be an integer"),
    (dict(small_bits=4), r"small_bits=4 is not one of \[8, 16, 32\]"),
    (dict(fold_bn=1), "fold_bn=1 must be True or False"),
    (dict(fold_bn="no"), "fold_bn='no' must be True or False"),
])
def test_every_submodel_spec_field_is_checked_by_type_and_range(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SubModelSpec(**kwargs)


def test_a_good_spec_from_numpy_values_is_accepted():
    """Values read from a table (numpy integers and floats) are numbers like any other."""
    spec = SubModelSpec(depth=np.int64(2), keep_ratio=np.float64(0.5), bits=np.int64(4), retrain_steps=np.int64(3),
                        small_bits=np.int64(16), bits_map=(("stem.0.weight", 4),), fold_bn=np.bool_(False))
    assert spec.keep_ratio == 0.5 and spec.small_width == 16


def test_generate_names_a_bad_spec_seed_or_evaluate_flag(root, digits):
    with pytest.raises(ValueError, match="spec=.* must be a SubModelSpec, not dict"):
        generate(root, digits, {"bits": 4})
    with pytest.raises(ValueError, match="seed='1' must be an integer"):
        generate(root, digits, SubModelSpec(depth=1), seed="1")
    with pytest.raises(ValueError, match="evaluate='no' must be True or False"):
        generate(root, digits, SubModelSpec(depth=1), evaluate="no")


def test_pruning_and_quantisation_entry_points_name_their_bad_arguments(root, digits):
    from core.compress.progressive import progressive_family
    from core.compress.prune import recalibrate_bn, retrain, train_nested
    from core.compress.quantize import Sensitivity, qat_finetune

    sub = device_model(root, 1)
    masks = magnitude_masks(sub, 0.5)
    with pytest.raises(ValueError, match="keep_ratio='0.5' must be a number"):
        magnitude_masks(sub, "0.5")
    with pytest.raises(ValueError, match="layer_ratios=.* must be a dict"):
        magnitude_masks(sub, 0.5, layer_ratios=[("stem.0.weight", 0.5)])
    with pytest.raises(ValueError, match="seed='0' must be an integer"):
        retrain(sub, masks, digits, 1, seed="0")
    with pytest.raises(ValueError, match="lr=0 is outside"):
        retrain(sub, masks, digits, 1, seed=0, lr=0)
    with pytest.raises(ValueError, match="seed=1.5 must be an integer"):
        train_nested(sub, nested_masks(sub, (0.5,)), digits, 1, seed=1.5)
    with pytest.raises(ValueError, match="seed=None must be an integer"):
        recalibrate_bn(sub, digits, seed=None)
    with pytest.raises(ValueError, match="batches=0 is outside"):
        recalibrate_bn(sub, digits, batches=0)
    with pytest.raises(ValueError, match="seed='7' must be an integer"):
        qat_finetune(sub, digits, {"stem.0.weight": 4}, 1, seed="7")
    with pytest.raises(ValueError, match="seed=-1 is outside"):
        progressive_family(root, digits, keep_ratios=(0.5, 1.0), steps=1, seed=-1, depth=1)
    with pytest.raises(ValueError, match="limit=0 is outside"):
        layer_sensitivity(sub, digits, limit=0)
    w = dict(sub.named_parameters())["stem.0.weight"]
    with pytest.raises(ValueError, match="bits=4.5 is not allowed"):
        codes_for(w, 4.5)
    with pytest.raises(ValueError, match="bits=16: 16-bit floats have no integer codes"):
        codes_for(w, 16)
    sens = Sensitivity(("a",), (10,), (2, 4), np.zeros((1, 2)), 0.0)
    with pytest.raises(ValueError, match="budget_bits='40' must be an integer"):
        allocate_bits(sens, "40")
    assert allocate_bits(sens, 40) == {"a": 4}


# ---------- uplinked features: the widths a split point can send ----------

@pytest.mark.parametrize("bad", [1, 9, 12, 33, 4.5, 8.0, True, "8", None])
def test_feature_widths_outside_codes_2_to_8_fp16_and_fp32_are_refused(bad):
    from core.compress.depth import quantise_features

    with pytest.raises(ValueError, match=rf"bits={bad!r} is not allowed: use integer codes 2..8, 16 \(fp16\) or "
                                         r"32 \(fp32\)".replace("'", ".")):
        quantise_features(torch.rand(2, 3, 4, 4), bad)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_feature_codes_have_at_most_2_to_the_b_levels_per_sample_within_half_a_step(bits):
    from core.compress.depth import quantise_features

    f = torch.relu(torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(bits)))
    q = quantise_features(f, bits)
    top = f.flatten(1).amax(1)
    for i in range(len(f)):
        assert len(torch.unique(q[i])) <= 2 ** bits
        assert float((q[i] - f[i]).abs().max()) <= float(top[i]) / (2 ** bits - 1) / 2 + 1e-6


def test_fp16_and_fp32_features_are_sent_as_floats():
    from core.compress.depth import quantise_features

    f = torch.rand(2, 3, 4, 4)
    assert torch.equal(quantise_features(f, 32), f)
    assert torch.equal(quantise_features(f, 16), f.half().float())
    with pytest.raises(ValueError, match="f: expected a batch of features"):
        quantise_features(torch.rand(5), 8)


@pytest.mark.parametrize("bad", [8.0, 33, 1])
def test_split_table_and_early_exit_name_a_bad_feature_width(root, digits, bad):
    from core.compress.depth import early_exit_outcomes

    with pytest.raises(ValueError, match=f"feature_bits={bad!r} is not allowed"):
        split_table(root, digits, feature_bits=bad)
    with pytest.raises(ValueError, match=f"feature_bits={bad!r} is not allowed"):
        early_exit_outcomes(root, digits, 1, feature_bits=bad)

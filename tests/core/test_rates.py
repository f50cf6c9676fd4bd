"""Rate requirements: the paper's Fig. 4 statements checked by arithmetic, presets and argument errors."""
import re

import numpy as np
import pytest

from core.network.rates import (APPLICATIONS, PAPER_APPLICATIONS, PAPER_MODELS, REFERENCE_RATES, ROOT_MODELS,
                                PAPER_STATEMENTS, fig4_table, fit_table, max_fraction_that_fits, parameter_table,
                                required_rate, root_params, statement_table, torchvision_parameters)

GBPS, TBPS = 1e9, 1e12
BOTH_COUNTS = pytest.mark.parametrize("counts", ["paper", "counted"])


def test_torchvision_counts_match_the_known_architectures():
    assert torchvision_parameters("resnet50") == 25_557_032
    assert torchvision_parameters("resnet50", include_head=False) == 23_508_032
    assert torchvision_parameters("vgg16") == 138_357_544
    assert torchvision_parameters("vgg16", include_head=False) == 134_260_544
    assert torchvision_parameters("vit_l_16") == 304_326_632
    assert torchvision_parameters("vit_l_32") == 306_535_400


def test_paper_rounded_counts_match_the_counted_variants_within_rounding():
    table = parameter_table().set_index("model")
    assert abs(table.loc["ResNet-50", "counted_params_without_head"] - 23e6) < 0.51e6
    assert abs(table.loc["VGG-16", "counted_params_without_head"] - 135e6) < 1e6
    assert abs(table.loc["ViT-L/32", "counted_params"] - 307e6) < 0.5e6
    assert list(table["paper_params"]) == [m.paper_params for m in ROOT_MODELS.values()]


@BOTH_COUNTS
def test_resnet50_fits_the_user_experienced_rate_at_1s_for_any_size(counts):
    df = fig4_table(models=["ResNet-50"], applications=["image recognition"], counts=counts)
    assert (df["required_rate_bps"] <= 1 * GBPS).all()
    assert max_fraction_that_fits("ResNet-50", 1.0, 1 * GBPS, counts=counts) == 1.0


@BOTH_COUNTS
def test_vgg16_must_drop_about_80_percent_of_its_bits_at_1s(counts):
    """The paper says 80 %; the arithmetic gives 77 % (4.32 Gbit against 1 Gbit), which rounds to its statement."""
    drop = 1 - max_fraction_that_fits("VGG-16", 1.0, 1 * GBPS, counts=counts)
    assert 0.75 <= drop <= 0.80
    assert drop == pytest.approx(1 - 1 / 4.32, abs=0.01)


def test_full_vit_large_needs_about_10_gbps_at_1s():
    """307e6 parameters x 32 bits = 9.82 Gbit, so 9.8 Gb/s, the paper's 'up to 10 Gb/s'."""
    bits = root_params("ViT-L/32") * 32
    assert required_rate(bits, 1.0) == pytest.approx(9.824 * GBPS)
    assert max_fraction_that_fits("ViT-L/32", 1.0, 1 * GBPS) < 0.11


def test_at_200ms_the_user_experienced_rate_carries_resnet50_up_to_about_30_percent():
    """Paper: 'except for ResNet compressed to about 30 %'. The largest fraction that fits is 27 % (0.2 s x 1 Gb/s /
    736 Mbit); it does not hold that VGG-16 and ViT-L never fit: they fit below 5 % and 2 % of their bits."""
    resnet = max_fraction_that_fits("ResNet-50", 0.2, 1 * GBPS)
    assert resnet == pytest.approx(0.2717, abs=1e-3)
    assert max_fraction_that_fits("ResNet-50", 0.2, 1 * GBPS, counts="counted") == pytest.approx(0.245, abs=1e-3)
    assert max_fraction_that_fits("VGG-16", 0.2, 1 * GBPS) < 0.05
    assert max_fraction_that_fits("ViT-L/32", 0.2, 1 * GBPS) < 0.03


@BOTH_COUNTS
def test_at_1ms_the_peak_rate_carries_only_the_full_resnet(counts):
    """Full models: ResNet-50 needs 736 (counted: 818) Gb/s, under 1 Tb/s; VGG-16 4.3 and ViT-L 9.8 Tb/s do not fit.
    Compressed they do: VGG-16 up to 23 % and ViT-L up to 10 % of their bits."""
    full = fig4_table(applications=["tactile"], fractions=[1.0], counts=counts).set_index("model")
    assert full.loc["ResNet-50", "required_rate_bps"] <= 1 * TBPS
    assert full.loc["VGG-16", "required_rate_bps"] > 4 * TBPS
    assert full.loc["ViT-L/32", "required_rate_bps"] > 9 * TBPS
    assert max_fraction_that_fits("VGG-16", 1e-3, 1 * TBPS, counts=counts) < 0.24


def test_fig4_table_columns_and_arithmetic():
    df = fig4_table()
    assert list(df.columns) == ["model", "application", "latency_s", "fraction", "params", "bits",
                                "required_rate_bps"]
    assert len(df) == len(PAPER_MODELS) * len(PAPER_APPLICATIONS) * 50
    assert df["fraction"].min() == pytest.approx(0.02) and df["fraction"].max() == pytest.approx(1.0)
    np.testing.assert_allclose(df["bits"], df["fraction"] * df["params"] * 32)
    np.testing.assert_allclose(df["required_rate_bps"], df["bits"] / df["latency_s"])


def test_bits_per_param_scales_the_rate():
    fp32 = fig4_table(models=["ResNet-50"], applications=["video call"], fractions=[0.5])
    int4 = fig4_table(models=["ResNet-50"], applications=["video call"], fractions=[0.5], bits_per_param=4)
    assert int4["required_rate_bps"].iloc[0] == pytest.approx(fp32["required_rate_bps"].iloc[0] / 8)


def test_3gpp_presets_are_self_consistent():
    for key in ("3GPP image recognition", "3GPP speech recognition"):
        ref = REFERENCE_RATES[key]
        assert required_rate(ref.kpi.model_bytes * 8, ref.kpi.latency_s) == pytest.approx(ref.rate_bps, rel=0.01)
        assert APPLICATIONS[key].latency_s == ref.kpi.latency_s


def test_presets_carry_a_source_and_a_valid_range():
    assert REFERENCE_RATES["user-experienced"].rate_bps == 1 * GBPS
    assert REFERENCE_RATES["peak"].rate_bps == 1 * TBPS
    for ref in REFERENCE_RATES.values():
        assert ref.source and 0 < ref.low_bps <= ref.high_bps
    assert [APPLICATIONS[a].latency_s for a in PAPER_APPLICATIONS] == [1.0, 0.2, 1e-3]
    assert all(a.source for a in APPLICATIONS.values())


def test_required_rate_is_vectorised():
    np.testing.assert_allclose(required_rate(np.array([1e6, 2e6]), 0.5), [2e6, 4e6])


@pytest.mark.parametrize("call, names", [
    (lambda: required_rate(-1, 1.0), "bits=-1"),
    (lambda: required_rate(1e6, 0), "latency_s=0"),
    (lambda: required_rate([1e6, -5], 1.0), "bits[1]"),
    (lambda: max_fraction_that_fits("ResNet-50", 1.0, -1e9), "rate_bps="),
    (lambda: max_fraction_that_fits("AlexNet", 1.0, 1e9), "model='AlexNet'"),
    (lambda: fig4_table(counts="guessed"), "counts='guessed'"),
    (lambda: fig4_table(fractions=[0.0, 0.5]), "fractions[0]"),
    (lambda: fig4_table(fractions=[1.5]), "fractions[0]"),
    (lambda: fig4_table(applications=["gaming"]), "applications='gaming'"),
    (lambda: fig4_table(bits_per_param=0), "bits_per_param=0"),
    (lambda: torchvision_parameters("resnet18"), "arch='resnet18'"),
    (lambda: fig4_table(budgets=[("mine", 0.0)]), "latency_s=0"),
    (lambda: fit_table(["VGG-16"], [("x", 1.0)], 1e9, bits_per_param=0), "bits_per_param=0"),
    (lambda: fit_table(["VGG-16"], [1.0], 1e9), "budgets item 1.0"),
])
def test_bad_input_names_the_argument(call, names):
    with pytest.raises(ValueError, match=re.escape(names)):
        call()


def test_a_users_own_budget_is_drawn_like_an_application():
    table = fig4_table(["VGG-16"], ["video call"], [0.5, 1.0], budgets=[("mine, 50 ms", 0.05)])
    mine = table[table["application"] == "mine, 50 ms"]
    video = table[table["application"] == "video call"]
    np.testing.assert_allclose(mine["required_rate_bps"].to_numpy(), video["required_rate_bps"].to_numpy() * 4)
    np.testing.assert_allclose(mine["required_rate_bps"].iloc[-1], 135e6 * 32 / 0.05)


def test_fit_table_gives_the_largest_share_and_the_rate_the_whole_model_needs():
    table = fit_table(["VGG-16", "ResNet-50"], [("image recognition", 1.0), ("tactile", 1e-3)], GBPS)
    vgg = table.set_index(["model", "application"]).loc["VGG-16", "image recognition"]
    assert vgg["max_fraction"] == pytest.approx(GBPS / (135e6 * 32))
    assert vgg["max_Mbit"] == pytest.approx(1000.0) and not vgg["whole_model_fits"]
    assert vgg["full_model_rate_bps"] == pytest.approx(135e6 * 32)
    resnet = table.set_index(["model", "application"]).loc["ResNet-50", "image recognition"]
    assert resnet["max_fraction"] == 1.0 and resnet["whole_model_fits"]


def test_paper_statements_beside_the_arithmetic():
    table = statement_table()
    assert len(table) == len(PAPER_STATEMENTS)
    vgg = table[table["statement"].str.contains("VGG-16 needs about 80")].iloc[0]
    assert vgg["paper_share"] == pytest.approx(GBPS / (135e6 * 32))  # about 23 %: "about 80 % removed" holds
    tactile_vgg = table[table["statement"].str.contains("not for VGG-16")].iloc[0]
    assert tactile_vgg["paper_share"] < 1.0
    eight_bit = statement_table(bits_per_param=8).set_index("statement").loc[vgg["statement"]]
    assert eight_bit["your_share"] == pytest.approx(4 * vgg["paper_share"])  # 92.6 %: still under 1
    assert eight_bit["paper_share"] == pytest.approx(vgg["paper_share"])  # the paper's column stays put

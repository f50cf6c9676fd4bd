"""Rate requirements of in-situ model downloading (paper Fig. 4): required rate R = sub-model bits / latency budget.

Root-model sizes are the paper's rounded numbers or counted from torchvision architectures built on the meta device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from core.link.link_budget import check_range_array
from core.validation import check_choice, check_int, check_range

PAPER = "Huang et al., 'In-situ model downloading to realize versatile edge AI in 6G mobile networks', Sec. 4, Fig. 4"
TS_22_261 = "3GPP TS 22.261 sec. 7.10 (from TR 22.874), AI/ML model download KPIs"
M_2160 = "ITU-R M.2160 (IMT-2030 framework), example targets"
PAPER_APPS = PAPER + ", citing 3GPP TR 22.874"


@dataclass(frozen=True)
class RootModel:
    """A root model of Fig. 4: its torchvision builder, the paper's rounded parameter count and how they relate."""
    name: str
    arch: str
    paper_params: int
    note: str


# The classifier layer of each architecture, so that counts "without the head" can be reproduced.
_HEADS = {"resnet50": "fc", "vgg16": "classifier.6", "vit_l_16": "heads", "vit_l_32": "heads"}

ROOT_MODELS: dict[str, RootModel] = {
    "ResNet-50": RootModel("ResNet-50", "resnet50", 23_000_000,
                           "paper's 23 M matches torchvision without its final fc (23,508,032)"),
    "VGG-16": RootModel("VGG-16", "vgg16", 135_000_000,
                        "paper's 135 M matches torchvision without its last classifier layer (134,260,544)"),
    "ViT-L/16": RootModel("ViT-L/16", "vit_l_16", 307_000_000,
                          "paper says 'ViT-Large, 307 M' without a patch size; torchvision ViT-L/16 has 304 M"),
    "ViT-L/32": RootModel("ViT-L/32", "vit_l_32", 307_000_000,
                          "paper's 307 M matches torchvision ViT-L/32 with its head (306,535,400)"),
}
# The three root models the paper plots; ViT-L/32 is the variant whose count matches the paper's 307 M.
PAPER_MODELS = ("ResNet-50", "VGG-16", "ViT-L/32")


@dataclass(frozen=True)
class DownloadKPI:
    """A 3GPP AI/ML model-download KPI: a model of ``model_bytes`` delivered within ``latency_s`` at ``rate_bps``.
    Each is both an application (its latency budget) and a reference rate, built from this one table."""
    name: str
    model_bytes: float
    latency_s: float
    rate_bps: float


DOWNLOAD_KPIS: tuple[DownloadKPI, ...] = (DownloadKPI("3GPP image recognition", 138e6, 1.0, 1.1e9),
                                          DownloadKPI("3GPP speech recognition", 80e6, 1.0, 640e6))


@dataclass(frozen=True)
class ApplicationPreset:
    """An application with its over-the-air download latency budget (seconds)."""
    name: str
    latency_s: float
    source: str


APPLICATIONS: dict[str, ApplicationPreset] = {
    "image recognition": ApplicationPreset("image recognition", 1.0, PAPER_APPS),
    "video call": ApplicationPreset("video call", 0.2, PAPER_APPS),
    "tactile": ApplicationPreset("tactile", 1e-3, PAPER_APPS),
    **{k.name: ApplicationPreset(k.name, k.latency_s, TS_22_261) for k in DOWNLOAD_KPIS},
    # Not a budget of the paper or of 3GPP: a real-time road-scene recogniser in a car, given the paper's
    # real-time (video call) budget of 200 ms, stated as the assumption it is.
    "auto-navigation": ApplicationPreset("auto-navigation", 0.2,
                                         "assumption: the paper's real-time budget of 200 ms (its video call "
                                         "example) for a car's road-scene recogniser"),
}
PAPER_APPLICATIONS = ("image recognition", "video call", "tactile")


@dataclass(frozen=True)
class ReferenceRate:
    """A reference downlink rate in bit/s; a range [low_bps, high_bps] where the source gives one, and the
    download KPI it comes from, if any."""
    name: str
    low_bps: float
    high_bps: float
    source: str
    kpi: DownloadKPI | None = None

    @property
    def rate_bps(self) -> float:
        """The rate to compare against: the low end, so that a model that fits here fits across the range."""
        return self.low_bps


REFERENCE_RATES: dict[str, ReferenceRate] = {
    "user-experienced": ReferenceRate("6G user-experienced rate", 1e9, 1e9, PAPER),
    "peak": ReferenceRate("6G peak rate", 1e12, 1e12, PAPER),
    **{k.name: ReferenceRate(f"{k.name} model download", k.rate_bps, k.rate_bps, TS_22_261, k)
       for k in DOWNLOAD_KPIS},
    "IMT-2030 peak": ReferenceRate("IMT-2030 peak rate", 50e9, 200e9, M_2160),
    "IMT-2030 user-experienced": ReferenceRate("IMT-2030 user-experienced rate", 300e6, 500e6, M_2160),
}

COUNTS = ("paper", "counted")


@lru_cache(maxsize=None)
def torchvision_parameters(arch: str, include_head: bool = True) -> int:
    """Number of parameters of a torchvision architecture, built without weights on the meta device (no memory, ~0.1 s)."""
    check_choice("arch", arch, _HEADS)
    # Imported here so that the rest of the engine (and the app's start-up) does not pay for torch on import.
    import torch
    import torchvision

    from core.model.models import count_parameters

    with torch.device("meta"):
        model = getattr(torchvision.models, arch)(weights=None)
    total = count_parameters(model)
    if not include_head:
        total -= count_parameters(model.get_submodule(_HEADS[arch]))
    return int(total)


def root_params(model: str, counts: str = "paper", include_head: bool = True) -> int:
    """Parameter count of a root model: the paper's rounded number or the torchvision count."""
    check_choice("model", model, ROOT_MODELS)
    check_choice("counts", counts, COUNTS)
    root = ROOT_MODELS[model]
    return root.paper_params if counts == "paper" else torchvision_parameters(root.arch, include_head)


def parameter_table() -> pd.DataFrame:
    """Each root model's paper count beside its torchvision counts with and without the classifier head."""
    rows = [{"model": m.name, "arch": m.arch, "paper_params": m.paper_params,
             "counted_params": torchvision_parameters(m.arch, True),
             "counted_params_without_head": torchvision_parameters(m.arch, False), "note": m.note}
            for m in ROOT_MODELS.values()]
    return pd.DataFrame(rows)


def required_rate(bits, latency_s):
    """Required downlink rate in bit/s to deliver ``bits`` within ``latency_s`` seconds: R = bits / T."""
    b = check_range_array("bits", bits, 0.0)
    t = check_range_array("latency_s", latency_s, 0.0, lo_open=True)
    rate = b / t
    return float(rate) if np.ndim(bits) == 0 and np.ndim(latency_s) == 0 else rate


def fig4_table(models=PAPER_MODELS, applications=PAPER_APPLICATIONS, fractions=None,
               bits_per_param: int = 32, counts: str = "paper", include_head: bool = True,
               budgets: tuple[tuple[str, float], ...] = ()) -> pd.DataFrame:
    """Required rate for each root model, application and sub-model size (fraction of the root model's bits).

    ``budgets``: extra (label, latency budget in s) pairs drawn like applications (e.g. a user's own budget).
    Columns: model, application, latency_s, fraction, params (of the root model), bits, required_rate_bps.
    """
    if fractions is None:
        fractions = np.linspace(0.02, 1.0, 50)
    frac = np.atleast_1d(check_range_array("fractions", fractions, 0.0, 1.0, lo_open=True))
    bpp = check_int("bits_per_param", bits_per_param, 1, 64)
    for application in applications:
        check_choice("applications", application, APPLICATIONS)
    pairs = [(a, APPLICATIONS[a].latency_s) for a in applications] + _check_budgets(budgets)
    frames = []
    for model in models:
        params = root_params(model, counts, include_head)
        for application, latency in pairs:
            bits = frac * params * bpp
            frames.append(pd.DataFrame({
                "model": model, "application": application, "latency_s": latency, "fraction": frac,
                "params": params, "bits": bits, "required_rate_bps": bits / latency}))
    if not frames:
        return pd.DataFrame(columns=["model", "application", "latency_s", "fraction", "params", "bits",
                                     "required_rate_bps"])
    return pd.concat(frames, ignore_index=True)


def _check_budgets(budgets) -> list[tuple[str, float]]:
    out = []
    for item in budgets:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)):
            raise ValueError(f"budgets item {item!r} must be a (label, latency_s) pair")
        out.append((item[0], check_range("latency_s", item[1], 0.0, lo_open=True)))
    return out


def max_fraction_that_fits(model: str, latency_s: float, rate_bps: float, bits_per_param: int = 32,
                           counts: str = "paper", include_head: bool = True) -> float:
    """Largest fraction of a root model's bits that a link of ``rate_bps`` delivers within ``latency_s``, capped at 1."""
    latency = check_range("latency_s", latency_s, 0.0, lo_open=True)
    rate = check_range("rate_bps", rate_bps, 0.0, lo_open=True)
    bpp = check_int("bits_per_param", bits_per_param, 1, 64)
    total_bits = root_params(model, counts, include_head) * bpp
    if math.isinf(rate * latency):
        return 1.0
    return min(1.0, rate * latency / total_bits)


def fit_table(models, budgets, rate_bps: float, bits_per_param: int = 32, counts: str = "paper",
              include_head: bool = True) -> pd.DataFrame:
    """Largest share of each root model that ``rate_bps`` delivers within each (label, latency budget s) of
    ``budgets``. Columns: model, application, latency_s, root_Mbit, max_fraction, max_Mbit, whole_model_fits,
    full_model_rate_bps (the rate the whole root model would need)."""
    rows = []
    for model in models:
        bits = root_params(model, counts, include_head) * check_int("bits_per_param", bits_per_param, 1, 64)
        for application, latency_s in _check_budgets(budgets):
            share = max_fraction_that_fits(model, latency_s, rate_bps, bits_per_param, counts, include_head)
            rows.append({"model": model, "application": application, "latency_s": latency_s,
                         "root_Mbit": bits / 1e6, "max_fraction": share, "max_Mbit": share * bits / 1e6,
                         "whole_model_fits": share >= 1.0, "full_model_rate_bps": bits / latency_s})
    return pd.DataFrame(rows, columns=["model", "application", "latency_s", "root_Mbit", "max_fraction", "max_Mbit",
                                       "whole_model_fits", "full_model_rate_bps"])


@dataclass(frozen=True)
class PaperStatement:
    """A statement of the paper's Sec. 4 about Fig. 4, with what it implies about the largest share that fits."""
    text: str
    model: str
    application: str
    rate: str          # a key of REFERENCE_RATES
    implies: str


PAPER_STATEMENTS: tuple[PaperStatement, ...] = (
    PaperStatement("Image recognition: ResNet-50 fits the 1 Gb/s user-experienced rate for any sub-model size",
                   "ResNet-50", "image recognition", "user-experienced", "100 %"),
    PaperStatement("Image recognition: VGG-16 needs about 80 % of its bits removed", "VGG-16", "image recognition",
                   "user-experienced", "about 20 %"),
    PaperStatement("Image recognition: ViT-Large needs up to 10 Gb/s for the full model", "ViT-L/32",
                   "image recognition", "user-experienced", "10 %"),
    PaperStatement("Video call: 1 Gb/s only suffices for ResNet compressed to about 30 %", "ResNet-50", "video call",
                   "user-experienced", "about 30 %"),
    PaperStatement("Tactile: the peak rate suffices only for a small model like ResNet", "ResNet-50", "tactile",
                   "peak", "100 %"),
    PaperStatement("Tactile: ...but not for VGG-16", "VGG-16", "tactile", "peak", "under 100 %"),
)


def statement_table(bits_per_param: int = 32, counts: str = "paper", include_head: bool = True) -> pd.DataFrame:
    """Each of the paper's Fig. 4 statements beside the arithmetic: under the paper's assumptions (its rounded
    counts, 32 bits per parameter) and under the given ones. Shares are fractions; rates in bit/s."""
    rows = []
    for st in PAPER_STATEMENTS:
        rate = REFERENCE_RATES[st.rate].rate_bps
        budget = ((st.application, APPLICATIONS[st.application].latency_s),)
        paper = fit_table((st.model,), budget, rate).iloc[0]
        yours = fit_table((st.model,), budget, rate, bits_per_param, counts, include_head).iloc[0]
        rows.append({"statement": st.text, "implies": st.implies, "rate_bps": rate,
                     "paper_share": paper["max_fraction"], "paper_full_rate_bps": paper["full_model_rate_bps"],
                     "your_share": yours["max_fraction"], "your_full_rate_bps": yours["full_model_rate_bps"]})
    return pd.DataFrame(rows)

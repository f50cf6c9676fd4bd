"""The registry of receiver protections (core.link.protections): one table that every other module reads."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.compress.payload import TensorRecord
from core.link.protections import PROTECTION_NAMES, PROTECTIONS, check_protection, protect_values

PROJECT = Path(__file__).resolve().parents[2]


def _record(vmin=-1.0, vmax=1.0):
    return TensorRecord("w", (5,), 32, "dense", 0, 5, 5, vmin, vmax)


def test_registry_lists_the_four_protections_in_display_order():
    assert PROTECTION_NAMES == ("none", "sanitise", "clamp", "uep")
    assert all(p.label and p.description and p.reliable_parts for p in PROTECTIONS.values())


def test_sanitise_zeroes_and_clamp_clips_what_lies_outside_the_range():
    values = np.array([0.5, 3.0, -np.inf, np.nan, 0.0], dtype=np.float32)
    sanitised, nonfinite, replaced = protect_values(_record(), values, "sanitise")
    assert nonfinite == 2 and replaced == 3
    assert sanitised.tolist() == [0.5, 0.0, 0.0, 0.0, 0.0]
    clamped, _, _ = protect_values(_record(), values, "clamp")
    assert clamped.tolist() == [0.5, 1.0, -1.0, 0.0, 0.0]
    untouched, _, replaced = protect_values(_record(), values, "none")
    assert untouched is values and replaced == 0


def test_unknown_protection_is_refused_with_the_registered_names():
    with pytest.raises(ValueError, match=r"protection='fec' is not one of \['none', 'sanitise', 'clamp', 'uep'\]"):
        check_protection("fec")


FIFTH = r'''
import json
import numpy as np
from core.link.protections import Protection, register_protection

def halve(record, values):            # a made-up protection: the receiver halves values outside the range
    out = values.copy()
    outside = ~np.isfinite(out) | (np.abs(out) > max(abs(record.vmin), abs(record.vmax)))
    out[outside] = 0.0
    return out, int(outside.sum())

register_protection(Protection("halve", "halve", "test only", "the sign bit of every word", halve,
                               lambda kind, width, uep_bits, index_reliable: 1 if kind == "values" else 0))

from app.settings import Settings, protection_names
from core.experiments import Fig3Config
from core.link.bsc import corrupt, receive
from core.network.library.config import LibraryConfig
from core.network.select import select  # noqa: F401  (its check reads the registry)
from core.compress.payload import TensorFormat, encode
import torch

payload = encode({"w": torch.linspace(-1, 1, 4096)}, {"w": TensorFormat(bits=32)})
hit = corrupt(payload, 1e-2, np.random.default_rng(0), "halve")
got = receive(payload, hit)
print(json.dumps({
    "settings": list(protection_names()), "settings_accepts": Settings(protection="halve").protection,
    "fig3": list(Fig3Config().protections), "library": list(LibraryConfig().protections),
    "reliable_bits": hit.reliable_bits, "lossy_bits": hit.lossy_bits}))
'''


def test_a_fifth_protection_registered_in_one_place_reaches_every_module_that_lists_protections():
    out = subprocess.run([sys.executable, "-c", FIFTH], cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    for where in ("settings", "fig3", "library"):
        assert seen[where][-1] == "halve", (where, seen[where])
    assert seen["settings_accepts"] == "halve"
    # Its sender side acts too: one bit of every 32-bit word travels reliably.
    assert seen["reliable_bits"] == 4096 and seen["lossy_bits"] == 4096 * 31

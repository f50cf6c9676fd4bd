"""core.model.roots: a checkpoint that cannot serve as a root model is named with its reason and never offered;
``--root`` resolves a file stem or a path."""
from __future__ import annotations

import shutil

import pytest

from core.model.models import DIGITS_CHECKPOINT
from core.model.roots import checkpoint_problem, resolve_checkpoint, scan_checkpoints


def _copy_root(folder, stem: str):
    path = folder / f"{stem}.safetensors"
    shutil.copy(DIGITS_CHECKPOINT, path)
    shutil.copy(DIGITS_CHECKPOINT.with_suffix(".json"), path.with_suffix(".json"))
    return path


def test_a_truncated_checkpoint_is_named_with_its_reason_and_not_offered(tmp_path):
    good = _copy_root(tmp_path, "good")
    cut = _copy_root(tmp_path, "cut")
    cut.write_bytes(cut.read_bytes()[:1000])
    assert checkpoint_problem(good) == ""
    assert "weights file is damaged" in checkpoint_problem(cut)
    usable, unusable = scan_checkpoints([tmp_path])
    assert good in usable.values() and cut not in usable.values()
    assert list(unusable) == [str(cut)] and "damaged" in unusable[str(cut)]


def test_root_argument_resolves_a_path_or_a_file_stem_and_names_an_unusable_one(tmp_path, monkeypatch):
    monkeypatch.setenv("INSITU_MODELS", str(tmp_path))
    good = _copy_root(tmp_path, "mine")
    assert resolve_checkpoint(str(good)) == good
    assert resolve_checkpoint("mine") == good
    assert resolve_checkpoint("resnet18_digits") == DIGITS_CHECKPOINT
    (tmp_path / "broken.json").write_text("{}")
    (tmp_path / "broken.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match=r"root='broken'.*broken \(model card broken.json is damaged"):
        resolve_checkpoint("broken")

"""Fixtures of the app tests: a tiny AI library built once per test session."""
import pytest


@pytest.fixture(scope="session")
def tiny_library(tmp_path_factory, digits):
    from core.network.library import LibraryConfig, build_library
    from core.model.models import DIGITS_CHECKPOINT

    folder = tmp_path_factory.mktemp("library")
    config = LibraryConfig(depths=(2, 4), keep_ratios=(1.0,), bits=(32, 8), retrain_steps=0, ber_grid=(1e-4, 1e-3),
                           protections=("none", "sanitise"), trials=1)
    build_library(DIGITS_CHECKPOINT, digits, folder, config, progress=False)
    return folder

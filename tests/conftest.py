"""Shared fixtures: the shipped default root model and the digits data, loaded once per test session."""
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def root_and_card():
    from core.models import load_default

    return load_default()


@pytest.fixture(scope="session")
def root(root_and_card):
    return root_and_card[0]


@pytest.fixture(scope="session")
def digits():
    from core.data import load_digits

    return load_digits()


@pytest.fixture(scope="session")
def cifar_tarball():
    path = SHARED / "data" / "cifar10-jpg.tar.gz"
    if not path.is_file():
        pytest.skip("../shared/data/cifar10-jpg.tar.gz is absent")
    return path

"""Shared fixtures: the small shipped root (ResNet-18 on digits) and its data, loaded once per test session."""
import os
from pathlib import Path

import pytest

# The suite runs on the small digits root unless a test names the CIFAR-10 default (tests/app/test_cifar_default.py
# and the browser test of the first page do): set before any test imports core.model.models.
os.environ.setdefault("INSITU_DEFAULT_ROOT", "resnet18_digits")

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def root_and_card():
    from core.model.models import load_digits_root

    return load_digits_root()


@pytest.fixture(scope="session")
def root(root_and_card):
    return root_and_card[0]


@pytest.fixture(scope="session")
def digits():
    from core.model.data import load_digits

    return load_digits()


@pytest.fixture(scope="session")
def digits_four_bit(root, digits):
    """The digits root's 4-bit sub-model (weights and biases as integer codes), never evaluated."""
    from core.compress.combine import SubModelSpec, generate

    return generate(root, digits, SubModelSpec(bits=4), evaluate=False)


@pytest.fixture(scope="session")
def cifar_tarball():
    path = SHARED / "data" / "cifar10-jpg.tar.gz"
    if not path.is_file():
        pytest.skip("../shared/data/cifar10-jpg.tar.gz is absent")
    return path


@pytest.fixture(scope="session")
def tiny_image_folder(tmp_path_factory):
    """A two-class image folder (train/<class>, test/<class>) of 12x12 noisy dark and light pictures."""
    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    for split, per in (("train", 12), ("test", 4)):
        for c, shade in (("dark", 40), ("light", 210)):
            (root / split / c).mkdir(parents=True)
            for i in range(per):
                pixels = np.clip(rng.normal(shade, 30, (12, 12, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / c / f"{i}.png")
    return root

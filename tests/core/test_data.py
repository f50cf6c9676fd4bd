import tarfile

import numpy as np
import pytest
import torch

from core.model.data import load_dataset, load_digits, load_image_folder


def test_digits_split_is_seeded_stratified_and_disjoint():
    a, b = load_digits(split_seed=3), load_digits(split_seed=3)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_train, b.y_train)
    assert len(a.y_train) + len(a.y_val) + len(a.y_test) == 1797
    counts = np.bincount(a.y_test.numpy(), minlength=10)
    assert counts.min() >= 34 and counts.max() <= 38  # every class about 20 % of its ~180 images
    other = load_digits(split_seed=4)
    assert not torch.equal(a.y_test, other.y_test)


def test_normalised_training_data_has_zero_mean_unit_std(digits):
    x = digits.normalise(digits.x_train)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3


def test_unknown_dataset_and_missing_dir_are_named():
    with pytest.raises(ValueError, match="dataset='imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="data_dir"):
        load_dataset("cifar10")


def _write_folder(root, classes=("cat", "dog"), per=4, size=(12, 12)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for c in classes:
            (root / split / c).mkdir(parents=True)
            for i in range(per):
                Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")


def test_image_folder_layout_is_read_with_its_classes(tmp_path):
    _write_folder(tmp_path, per=10)
    d = load_image_folder(tmp_path)
    assert d.classes == ("cat", "dog") and d.input_shape == (3, 12, 12)
    assert len(d.y_test) == 20 and len(d.y_train) + len(d.y_val) == 20


def test_image_folder_with_different_test_classes_is_rejected(tmp_path):
    _write_folder(tmp_path)
    (tmp_path / "test" / "dog").rename(tmp_path / "test" / "bird")
    with pytest.raises(ValueError, match="test classes"):
        load_image_folder(tmp_path)


def test_real_cifar10_jpegs_load_as_an_image_folder(cifar_tarball, tmp_path):
    wanted, taken = {}, []
    with tarfile.open(cifar_tarball) as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 4 and parts[2] in ("airplane", "cat", "ship"):
                key = (parts[1], parts[2])
                if wanted.get(key, 0) < 6:
                    wanted[key] = wanted.get(key, 0) + 1
                    taken.append(member)
            if len(taken) == 36:
                break
        tar.extractall(tmp_path, members=taken, filter="data")
    d = load_dataset("cifar10", tmp_path / "cifar10")
    assert d.classes == ("airplane", "cat", "ship")
    assert d.input_shape == (3, 32, 32) and d.x_train.dtype == torch.uint8

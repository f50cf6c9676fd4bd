"""Image packs: the shipped photos are the original JPEG files byte for byte, decoded to the same pixels."""
import hashlib
import json

import numpy as np
import pytest
import torch

from core.model.models import ASSETS
from core.model.pack import _read, jpeg_files, load_pack, pack_info, write_pack

SHIPPED_PACK = ASSETS / "cifar10_pack.safetensors"


@pytest.fixture(scope="module")
def jpeg_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(2)
    for split, per in (("train", 10), ("test", 6)):
        for c in ("cat", "dog", "ship"):
            (root / split / c).mkdir(parents=True)
            for i in range(per):
                Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
                    root / split / c / f"{i:04d}.jpg", quality=75)
    return root


def test_a_pack_rebuilds_every_file_byte_for_byte(jpeg_folder, tmp_path):
    out = write_pack(jpeg_folder, tmp_path / "p", train_images=6, seed=0, name="toy")
    tensors, meta = _read(out)
    files = sorted((jpeg_folder / "test").rglob("*.jpg"))
    assert [f.read_bytes() for f in files] == jpeg_files(tensors, "test")
    assert len(jpeg_files(tensors, "train")) == 6  # stratified: two per class
    assert tensors["train_labels"].bincount().tolist() == [2, 2, 2]
    assert json.loads(meta["sha256"])["test"] == hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()
    assert len(tensors["header"]) > 100  # the shared JFIF header is stored once


def test_a_pack_decodes_to_the_pixels_pil_gives(jpeg_folder, tmp_path):
    from PIL import Image

    out = write_pack(jpeg_folder, tmp_path / "p", train_images=6)
    data = load_pack(out, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    first = sorted((jpeg_folder / "test").rglob("*.jpg"))[0]
    pil = torch.from_numpy(np.array(Image.open(first).convert("RGB"))).permute(2, 0, 1)
    assert torch.equal(data.x_test[0], pil)
    assert data.classes == ("cat", "dog", "ship") and len(data.y_test) == 18
    assert data.mean == (0.5, 0.5, 0.5)  # normalised as the root was trained, not by the subset's statistics


def test_a_damaged_pack_is_named(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="bad.safetensors.*damaged"):
        load_pack(bad, (0.5,), (0.5,))
    with pytest.raises(ValueError, match="does not exist"):
        load_pack(tmp_path / "missing.safetensors", (0.5,), (0.5,))


@pytest.mark.skipif(not SHIPPED_PACK.is_file(), reason="the CIFAR-10 pack is not in assets/")
def test_the_shipped_cifar10_pack_is_compact_and_complete():
    info = pack_info(SHIPPED_PACK)
    assert SHIPPED_PACK.stat().st_size <= 10e6
    assert info.counts == {"train": 5000, "test": 10000}
    tensors, _ = _read(SHIPPED_PACK)
    assert tensors["test_labels"].bincount().tolist() == [1000] * 10
    assert info.classes[0] == "airplane" and len(info.classes) == 10


def test_the_pack_matches_the_shared_photos(cifar_tarball, tmp_path):
    """The shipped test photos are the shared data set's files (skips without ../shared)."""
    import tarfile

    if not SHIPPED_PACK.is_file():
        pytest.skip("the CIFAR-10 pack is not in assets/")
    files = {}
    with tarfile.open(cifar_tarball, "r|gz") as tar:  # one sequential pass (random access re-reads the gzip)
        for m in tar:
            if m.isfile() and "/test/" in m.name:
                files[m.name] = tar.extractfile(m).read()
    digest = hashlib.sha256(b"".join(files[name] for name in sorted(files))).hexdigest()
    _, meta = _read(SHIPPED_PACK)
    assert json.loads(meta["sha256"])["test"] == digest

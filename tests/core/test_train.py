"""The training command end to end on a tiny image folder: checkpoint, card, seeded repeatability."""
import pytest
import torch

from core.model.models import load_checkpoint
from core.model.train import TrainConfig, main


def test_training_command_writes_a_loadable_checkpoint_and_card(tiny_image_folder, tmp_path):
    out = tmp_path / "m"
    assert main(["--dataset", "folder", "--data-dir", str(tiny_image_folder), "--epochs", "2", "--batch-size", "8",
                 "--out", str(out)]) == 0
    model, card = load_checkpoint(out)
    assert card.dataset == "folder" and card.classes == ("dark", "light") and card.input_shape == (3, 12, 12)
    assert card.command.startswith("python -m core.model.train --dataset folder")
    assert len(card.exit_test_accuracy) == 4
    assert model(torch.zeros(1, 3, 12, 12)).shape == (1, 2)


def test_training_learns_the_task(tiny_image_folder, tmp_path):
    """Dark against light pictures: any working training run separates them; chance is 50 % on 8 test images.
    Enough steps (36) for the BatchNorm running statistics used at test time to settle."""
    out = tmp_path / "learned"
    main(["--dataset", "folder", "--data-dir", str(tiny_image_folder), "--epochs", "12", "--batch-size", "8",
          "--width", "0.25", "--seed", "0", "--out", str(out)])
    _, card = load_checkpoint(out)
    assert card.test_accuracy >= 0.875, f"test accuracy {card.test_accuracy:.0%}: the model did not learn"


def test_same_seed_gives_the_same_weights(tiny_image_folder, tmp_path):
    for name in ("a", "b"):
        main(["--dataset", "folder", "--data-dir", str(tiny_image_folder), "--epochs", "1", "--batch-size", "8", "--seed", "3",
              "--dtype", "float32", "--out", str(tmp_path / name)])
    a, _ = load_checkpoint(tmp_path / "a")
    b, _ = load_checkpoint(tmp_path / "b")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_bad_training_arguments_are_named():
    with pytest.raises(ValueError, match="batch_size=0"):
        TrainConfig(batch_size=0)
    with pytest.raises(SystemExit):
        main(["--dataset", "cifar10"])  # no --data-dir: argparse reports the error and exits

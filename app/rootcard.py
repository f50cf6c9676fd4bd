"""The root model's card as every page shows it: ours beside the paper's ResNet-18 (11.69 M parameters)."""
from __future__ import annotations

import streamlit as st

from core.model.models import PAPER_ROOT_PARAMETERS

DATASET_WORDS = {"cifar10": "CIFAR-10 photos (32x32, 10 classes)", "digits": "handwritten digits (8x8, 10 classes)",
                 "cifar100": "CIFAR-100 photos (32x32, 100 classes)", "folder": "your own image folder"}


def dataset_words(card) -> str:
    return DATASET_WORDS.get(card.dataset, card.dataset)


def root_card(card) -> None:
    """Four metrics: the network and its width, parameters against the paper's, accuracy per exit, test images."""
    width = getattr(card, "width", 1.0)
    c1, c2, c3, c4 = st.columns(4)
    # A short value (a metric truncates a long one with an ellipsis); the width goes in the line below it.
    c1.metric("Root model", "ResNet-18", f"{width:g}x width" if width != 1.0 else "full width", delta_color="off",
              delta_arrow="off", help=f"Trained by the project's own command: {card.command}")
    c2.metric("Parameters (without the extra exits)", f"{card.root_parameters / 1e6:.2f} M",
              f"paper's ResNet-18: {PAPER_ROOT_PARAMETERS / 1e6:.2f} M", delta_color="off", delta_arrow="off",
              help="The paper's ResNet-18 has an ImageNet stem and a 1000-class head; ours a small-image stem, a "
                   "10-class head and the width shown. With the three early exits: "
                   f"{card.parameters / 1e6:.2f} M.")
    exits = " / ".join(f"{a:.1%}" for a in card.exit_test_accuracy)
    c3.metric("Test accuracy (last exit)", f"{card.test_accuracy:.1%}", f"exits 1-4: {exits}", delta_color="off",
              delta_arrow="off")
    c4.metric("Test images", f"{card.extra.get('test_samples', '?'):,}" if isinstance(
        card.extra.get("test_samples"), int) else "?", dataset_words(card), delta_color="off", delta_arrow="off")

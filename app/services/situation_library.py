"""Situation models and their AI libraries, loaded once per process and shared read-only: the model a place's
situation needs (core.situation.library), opened on the shipped root it was customised from."""
from __future__ import annotations

import streamlit as st

from app import units
from app.services import roots
from core.model.models import SHIPPED_ROOTS


def is_situation(name: str) -> bool:
    """Whether ``name`` (an area's context) is a situation with a model in this project."""
    from core.situation.situations import SITUATIONS

    return name in SITUATIONS


def root_name(situation: str) -> str:
    """The display name of the shipped root a situation's classes belong to (ValueError for an unknown one)."""
    from core.situation.situations import situation as lookup

    stem = lookup(situation).root
    for name, path in SHIPPED_ROOTS.items():
        if path.stem == stem:
            return name
    raise ValueError(f"situation={situation!r} belongs to root {stem!r}, which is not a shipped root")


def situation_stamp(situation: str) -> float:
    """Modification time of the situation model's card (0 without one): part of the keys below, so a rebuilt
    situation model is read again."""
    from core.situation.library import model_path

    card = model_path(situation).with_suffix(".json")
    return card.stat().st_mtime if card.is_file() else 0.0


@st.cache_resource(show_spinner="Loading the situation model…", max_entries=16)
def situation_model(situation: str, stamp: float = 0.0):
    """The shipped situation model (read-only: its parameters need no gradients and are never changed)."""
    from core.situation.library import load_shipped

    root, _ = roots.root_model(root_name(situation))
    model = load_shipped(situation, root)
    for p in model.model.parameters():
        p.requires_grad_(False)
    return model


@st.cache_resource(show_spinner="Opening the situation's AI library…", max_entries=16)
def _library(situation: str, stamp: float, catalog_stamp: float):
    from core.situation.library import open_situation_library

    return open_situation_library(situation, situation_model(situation, stamp))


def library_or_none(situation: str):
    """(library, problem): the situation's own library (its shipped catalog copied on first use), or None and why
    in words (a missing or damaged file is named, never raised)."""
    from core.situation.library import ensure_situation_library

    try:
        folder = ensure_situation_library(situation)
        catalog = folder / "catalog.sqlite"
        if not catalog.is_file():
            return None, f"No AI library for the {situation} model at {units.path(folder)} yet."
        return _library(situation, situation_stamp(situation), catalog.stat().st_mtime), ""
    except OSError as err:
        return None, f"The {situation} model's AI library could not be read: {err.strerror or err}."
    except ValueError as err:
        return None, str(err)


def libraries(contexts) -> tuple[dict, dict]:
    """(context -> library, context -> problem) for the contexts that name a registered situation."""
    from core.situation.situations import SITUATIONS

    found, problems = {}, {}
    for c in contexts:
        if c not in SITUATIONS:
            problems[c] = f"{c!r} is not a situation this project has a model for"
            continue
        lib, problem = library_or_none(c)
        if lib is None:
            problems[c] = problem
        else:
            found[c] = lib
    return found, problems


def stamps(contexts) -> tuple:
    """Plain values that change when any of the contexts' situation models or catalogs change (cache keys)."""
    from core.situation.library import library_folder
    from core.situation.situations import SITUATIONS

    out = []
    for c in contexts:
        if c in SITUATIONS:
            catalog = library_folder(c) / "catalog.sqlite"
            out.append((c, situation_stamp(c), catalog.stat().st_mtime if catalog.is_file() else 0.0))
    return tuple(out)


def situation_cards(root_stem: str | None = None):
    """The shipped situation models' cards as a table (one row per situation and exit), read from their JSON cards
    without loading any weights: classes, photos scored on, the situation model's accuracy per exit and the generic
    root's accuracy restricted to the same classes on the same photos. ``root_stem`` keeps one root's situations.
    Returns (table, problems: situation -> why its card could not be read)."""
    import pandas as pd

    from core.situation.library import model_path
    from core.situation.situations import SITUATIONS
    from core.situation.store import read_card

    rows, problems = [], {}
    for name, sit in SITUATIONS.items():
        if root_stem is not None and sit.root != root_stem:
            continue
        try:
            card = read_card(model_path(name))
        except ValueError as err:
            problems[name] = str(err)
            continue
        generic = card.generic_exit_accuracy or (float("nan"),) * len(card.exit_accuracy)
        for k, (own, gen) in enumerate(zip(card.exit_accuracy, generic), start=1):
            rows.append({"situation": name, "classes": ", ".join(card.classes), "n_classes": len(card.classes),
                         "exit": k, "test_photos": card.test_photos, "train_photos": card.train_photos,
                         "steps": card.config.steps, "situation_model": float(own), "generic_restricted": float(gen),
                         "chance": 1.0 / len(card.classes)})
    return pd.DataFrame(rows), problems


def situations_of(model: str) -> list[str]:
    """The situations whose classes belong to the root model ``model`` (a display name), in registry order."""
    from app.services.keys import checkpoint_path
    from core.situation.situations import SITUATIONS

    stem = checkpoint_path(model).stem
    return [name for name, sit in SITUATIONS.items() if sit.root == stem]

"""Sub-models as pages use them: generated from a spec or loaded from a library entry, shared read-only, and
named by a SubModelRef (the sub-models the Live page offers, and the local copy its packet view falls back to)."""
from __future__ import annotations

import streamlit as st

from app.services import ai_library, roots
from app.services.keys import SubModelRef
from core.compress.combine import SubModel, SubModelSpec, generate
from core.model.models import DEFAULT_MODEL_NAME

# The sub-models the Live page offers besides the library's choices (label -> spec).
LIVE_SPECS: dict[str, SubModelSpec] = {
    "Root model, fp32": SubModelSpec(),
    "Bit level: fp16": SubModelSpec(bits=16),
    "Bit level: 8-bit codes": SubModelSpec(bits=8),
    "Bit level: 4-bit codes": SubModelSpec(bits=4),
    "Bit level: 2-bit codes + 50 QAT steps": SubModelSpec(bits=2, qat_steps=50),
    "Depth level: exit 2": SubModelSpec(depth=2),
    "Parameter level: keep 10 %, re-trained": SubModelSpec(keep_ratio=0.1, retrain_steps=100),
    "Combined: exit 3, keep 25 %, 4-bit": SubModelSpec(depth=3, keep_ratio=0.25, bits=4, retrain_steps=50),
}


@st.cache_resource(show_spinner="Generating the sub-model…", max_entries=64)
def submodel(spec: SubModelSpec, seed: int = 0, model: str = DEFAULT_MODEL_NAME) -> SubModel:
    root, _ = roots.root_model(model)
    return generate(root, roots.dataset(model), spec, seed)


@st.cache_resource(show_spinner="Loading the library entry (the first use of a shipped entry regenerates its "
                                 "weights from the root, checked against the catalog: up to a minute)…",
                    max_entries=16)
def library_submodel(_lib, lib_key: str, entry_id: int, model: str = DEFAULT_MODEL_NAME):
    """(SubModel, note): a library entry (weights checked against their sha256), shared read-only; ``note`` says
    when its regenerated weights could not be kept on disk (a read-only library folder) and are used from memory."""
    from core.network.library.shipped import load_entry_noting

    root, _ = roots.root_model(model)
    return load_entry_noting(_lib, int(entry_id), root, roots.dataset(model))


def live_submodel(ref: SubModelRef, model: str = DEFAULT_MODEL_NAME) -> SubModel:
    """The sub-model ``ref`` names: generated (seed 0) or loaded from the root model's library."""
    return live_submodel_noting(ref, model)[0]


def live_submodel_noting(ref: SubModelRef, model: str = DEFAULT_MODEL_NAME) -> tuple[SubModel, str]:
    """(sub-model, note) for ``ref``; the note is "" unless a library entry could not be kept on disk."""
    if ref.kind == "spec":
        return submodel(ref.spec, 0, model), ""
    lib, problem = ai_library.library_or_none(model)
    if lib is None:
        raise ValueError(f"{ref.label} asked for, but {problem}")
    return library_submodel(lib, ref.lib_key, ref.entry_id, model)


def live_fallback(sub: SubModel) -> SubModelRef:
    """The local model the packet view falls back to: the 4-bit sub-model of the same depth."""
    return SubModelRef.generated(SubModelSpec(depth=sub.spec.depth, bits=4))

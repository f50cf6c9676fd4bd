"""Building the AI library from the dashboard, with a progress bar (the command line does the same)."""
from __future__ import annotations

import streamlit as st

from core.network.library import LibraryConfig, build_library


def build_button(path, model: str) -> None:
    """A button that builds (or completes) the library of root model ``model`` at ``path``, with progress."""
    config = LibraryConfig()
    total = len(config.specs())
    if not st.button(f"Build the AI library ({total} sub-models)", type="primary"):
        return
    from app import services

    bar = st.progress(0.0, text="Starting…")
    done = [0]

    def on_entry(key: str, index: int) -> None:
        done[0] += 1
        bar.progress(min(1.0, done[0] / total), text=f"{done[0]} of {total}: {key}")

    from app.settings import model_choices

    build_library(model_choices()[model], services.dataset(model), path, config, progress=False,
                  on_entry=on_entry)
    bar.empty()
    st.rerun()

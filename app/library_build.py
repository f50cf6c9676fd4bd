"""Building the AI library from the dashboard, with a progress bar (the command line does the same).

With $INSITU_RAY_ADDRESS set the build runs on that Ray cluster (``local``: a Ray started on this machine) and
the page says so; otherwise in the server's process. A cluster address where no Ray answers (tried within seconds
when the button is pressed) is named with how to start Ray, and the build runs in the server's process instead. A
library folder that cannot be built into (an empty or foreign catalog) is reported by name, never as a traceback.
"""
from __future__ import annotations

import streamlit as st

from core.network.library import LibraryConfig, build_library
from core.sweep import LOCAL, RAY_ADDRESS_ENV, SERIAL, Executor, RayUnreachable, check_reachable

NOTICE_KEY = "library_build_notice"   # said again after the rerun that shows the built library


def build_button(path, model: str, label: str = "Build the AI library") -> None:
    """A button that builds (or completes, or repairs) the library of root model ``model`` at ``path``."""
    config = LibraryConfig()
    total = len(config.specs())
    try:
        executor = Executor.from_env()
    except ValueError as err:
        st.error(f"INSITU_RAY_ADDRESS is not usable: {err}")
        return
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.toast(notice, icon="⚠️", duration="long")
    where = executor.describe()
    st.caption(f"Builds run {where}." + ("" if executor.backend == "ray" else
                                        " Set the environment variable `INSITU_RAY_ADDRESS` to a Ray cluster's address to build there."))
    if not st.button(f"{label} ({total} sub-models, {where})", type="primary"):
        return
    from app import services
    from app.settings import model_choices

    import time

    from app import glossary, units

    notice = None
    if executor.ray not in (None, LOCAL):   # a cluster: ray.init would wait for minutes where no Ray answers
        try:
            with st.spinner(f"Trying the Ray cluster at {executor.ray}…"):
                check_reachable(executor, RAY_ADDRESS_ENV)
        except RayUnreachable as err:
            notice = f"The library was built in this process, not on Ray: {err}"
            st.warning(f"{err} Building in this process instead.")
            executor = SERIAL
        except ValueError as err:   # e.g. ray is not installed: says how to install it
            st.error(f"The library could not be built: {err}")
            return
    bar = st.progress(0.0, text="Starting…")
    started, last = time.monotonic(), [""]

    def on_entry(key: str, done: int) -> None:  # the latest sub-model, in words
        last[0] = glossary.entry_words(key)

    def on_progress(phase: str, done: int, cells: int) -> None:
        what = glossary.PHASE_WORDS.get(phase, phase) + (f" ({last[0]} done)" if phase == "sub-models" and last[0]
                                                         else "")
        bar.progress(min(1.0, done / max(cells, 1)),
                     text=units.progress_text(what, done, max(cells, 1), time.monotonic() - started))

    try:
        build_library(model_choices()[model], services.dataset(model), path, config, progress=on_progress,
                      on_entry=on_entry, executor=executor)
    except ValueError as err:
        bar.empty()
        st.error(f"The library could not be built: {err}")
        return
    bar.empty()
    if notice:
        st.session_state[NOTICE_KEY] = notice
    st.rerun()

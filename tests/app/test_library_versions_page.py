"""AppTest of library versions (issue 23, part 3): the AI library page shows each improved version beside the
entry it was improved from (accuracy clean and at the BERs, size, how it was made, fingerprint), or says there are
none and gives the command; the Live accuracy page offers the version and sends it over the link."""
import dataclasses
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
PARENT = "d2-r1-b8-s0"


@pytest.fixture(scope="module")
def versioned(tmp_path_factory, tiny_library, root, digits):
    """A copy of the tiny library (never the shared one) with version 2 of its exit-2 8-bit entry."""
    from core.compress.common import transmitted_state
    from core.network.library import open_library
    from core.network.library.versions import METHOD_FEDERATED, Provenance, store_version

    folder = tmp_path_factory.mktemp("versioned") / "lib"
    shutil.copytree(tiny_library, folder)
    lib = open_library(folder)
    entry = lib.load_submodel(int(lib.entries().set_index("key").loc[PARENT, "id"]))
    state = {k: v.float() * 1.01 for k, v in transmitted_state(entry.module).items()}
    provenance = Provenance(method=METHOD_FEDERATED, parent=PARENT, devices=4, rounds=2, local_steps=5,
                            batch_size=32, lr=0.005, update_bits=8, split="by_class", alpha=None,
                            classes_per_device=2, seed=3, flwr_version="1.42.0", accuracy_per_round=(0.9, 0.91, 0.93),
                            test_images=359, seconds=40.0)
    report = store_version(folder, PARENT, entry, state, provenance, root, digits,
                           config=dataclasses.replace(lib.config, protections=("none",)))
    return folder, report


def _library_page(monkeypatch, folder) -> AppTest:
    monkeypatch.setenv("INSITU_LIBRARY", str(folder))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/library.py").run()
    assert not at.exception, at.exception
    return at


def test_the_library_page_shows_a_version_beside_its_parent(monkeypatch, versioned):
    folder, report = versioned
    at = _library_page(monkeypatch, folder)
    assert any(h.value.startswith("Versions") for h in at.subheader)
    table = next(d.value for d in at.dataframe if "fingerprint (sha256)" in d.value.columns)  # headers in words
    assert list(table["role"]) == ["improved from", "improved version"]
    assert list(table["version"]) == [1, 2] and table["download (Mbit)"].nunique() == 1
    assert {"accuracy", "accuracy with server finishing", "BER 10⁻⁴", "BER 10⁻³"} <= set(table.columns)
    assert table["BER 10⁻³"].notna().all()
    assert table["fingerprint (sha256)"].iloc[1] == report.file_sha256[:16] + "…"
    words = [c.value for c in at.caption if c.value.startswith("Improved from")]
    assert len(words) == 1 and "exit 2, 8-bit" in words[0] and "the training photos of 2 classes" in words[0]
    assert "90.0%, 91.0%, 93.0%" in words[0]
    from tests.app.test_plain_language import SCIENTIFIC, SNAKE, visible

    labels, prose, _ = visible(at)  # plain words, as on every page: no code names, no 1e-3
    assert not [t for t in labels + prose if SNAKE.search(t) or SCIENTIFIC.search(t)]


def test_the_library_page_says_there_are_no_versions_and_how_to_make_one(monkeypatch, tiny_library):
    at = _library_page(monkeypatch, tiny_library)
    note = next(i.value for i in at.info if "no improved versions" in i.value)
    assert "`python -m core.network.library improve --root resnet18_digits --library" in note
    assert "--entry d2-r1-b8-s0" in note  # a real entry of this library: the smallest with integer codes


def test_the_live_page_offers_the_version_and_sends_it_over_the_link(monkeypatch, versioned):
    folder, _ = versioned
    monkeypatch.setenv("INSITU_LIBRARY", str(folder))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py").run()
    assert not at.exception, at.exception
    offered = [o for o in at.selectbox(key="live_choice").options if o.startswith("Improved version")]
    assert offered == ["Improved version from the AI library: exit 2, 8-bit, improved (version 2)"]
    at.selectbox(key="live_choice").select(offered[0])
    at.number_input(key="live_trials").set_value(2).run()
    assert not at.exception, at.exception
    estimate = next(m for m in at.metric if m.label == "Accuracy under this link")
    assert "over 2 trial(s) of 128 images" in estimate.delta
    assert any("improved (version 2)" in c.value for c in at.caption if c.value.startswith("Root model"))

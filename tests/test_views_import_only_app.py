"""Pages draw; the service layer talks to the engine: no page under app/views/ imports core (or anything of the
project but app.*), so every engine call goes through app.services and its caches."""
import ast
from pathlib import Path

import pytest

VIEWS = Path(__file__).resolve().parents[1] / "app" / "views"
PROJECT_PACKAGES = {"core", "app", "bench", "scripts", "tests"}


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


@pytest.mark.parametrize("view", sorted(VIEWS.glob("*.py")), ids=lambda p: p.name)
def test_view_imports_only_app_modules(view):
    project = [n for n in imported_modules(view) if n.startswith(".") or n.split(".")[0] in PROJECT_PACKAGES]
    offenders = [n for n in project if n.split(".")[0] != "app"]
    assert offenders == [], f"{view.name} imports {offenders}: go through app.services instead"


def test_the_scan_finds_a_core_import(tmp_path):
    page = tmp_path / "page.py"
    page.write_text("import streamlit as st\nfrom app import services\ndef f():\n    from core.link import ber\n")
    assert "core.link" in imported_modules(page)

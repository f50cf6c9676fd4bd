"""Fig. 3's figure is drawn outside the engine: ``python scripts/fig3.py OUT`` turns the table that
``python -m core.experiments fig3 --out OUT`` wrote into a self-contained fig3.html."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

PROJECT = Path(__file__).resolve().parents[1]
SCRIPT = PROJECT / "scripts" / "fig3.py"


def _script():
    spec = importlib.util.spec_from_file_location("fig3_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table(folder: Path) -> Path:
    rows = [dict(family=f, label=f"{f} {i}", ber=ber, protection=p, size_pct=s, accuracy=a, ci95_low=a - 0.02,
                 ci95_high=a + 0.02, trials=1 if ber == 0 else 3)
            for f in ("depth", "parameter", "bit") for i, (s, a) in enumerate([(20.0, 0.8), (100.0, 0.95)])
            for ber, p in ((0.0, "-"), (1e-3, "none"))]
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "fig3.csv", index=False)
    return folder


def test_the_script_draws_fig3_html_beside_the_table(tmp_path):
    out = _table(tmp_path / "fig3")
    done = subprocess.run([sys.executable, str(SCRIPT), str(out)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    html = (out / "fig3.html").read_text()
    assert "Fig. 3 reproduced" in html and "(c) bit level" in html
    assert 'src="https://cdn.plot.ly' not in html and len(html) > 1_000_000  # plotly.js embedded: opens offline


def test_a_missing_or_incomplete_table_is_named(tmp_path):
    script = _script()
    with pytest.raises(ValueError, match="table=.*nowhere.*no Fig. 3 table"):
        script.write_fig3_html(tmp_path / "nowhere")
    pd.DataFrame({"family": ["bit"]}).to_csv(tmp_path / "fig3.csv", index=False)
    with pytest.raises(ValueError, match="lacks columns"):
        script.write_fig3_html(tmp_path / "fig3.csv", tmp_path / "other.html")
    assert not (tmp_path / "other.html").exists()

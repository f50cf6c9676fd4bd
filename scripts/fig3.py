"""Draw the paper's Fig. 3 (an interactive three-panel ``fig3.html``) from the table that the engine measured.

    python -m core.experiments fig3 --root resnet18_cifar10 --out out/fig3_cifar10   # writes fig3.csv
    python scripts/fig3.py out/fig3_cifar10                                          # writes fig3.html beside it

The engine (core/) computes and never draws; the figure is the dashboard's own chart code (app.charts.fig3), so the
file and the app show the same figure.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def table_path(table: str | Path) -> Path:
    """``table`` itself, or ``fig3.csv`` inside it when it is a folder (the ``--out`` of core.experiments fig3)."""
    path = Path(table)
    path = path / "fig3.csv" if path.is_dir() else path
    if not path.is_file():
        raise ValueError(f"table={str(table)!r}: no Fig. 3 table there (expected fig3.csv, written by "
                         "python -m core.experiments fig3 --out FOLDER)")
    return path


def write_fig3_html(table: str | Path, html: str | Path | None = None) -> Path:
    """Read the Fig. 3 table and write its figure as a self-contained HTML file (default: fig3.html beside it)."""
    import pandas as pd

    from app.charts import fig3_figure, figure_html

    path = table_path(table)
    out = path.with_name("fig3.html") if html is None else Path(html)
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"table={str(path)!r} is not a readable CSV table: {err}") from None
    text = figure_html(fig3_figure(df))  # fig3_figure names any missing column
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/fig3.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", help="fig3.csv, or the folder that holds it")
    parser.add_argument("--html", default=None, help="where to write the figure (default: fig3.html beside the table)")
    args = parser.parse_args(argv)
    try:
        out = write_fig3_html(args.table, args.html)
    except ValueError as err:
        parser.error(str(err))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

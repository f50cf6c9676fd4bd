"""Build situation models: each registered situation's root customised to its classes from the shipped training
photos (core.situation.customise), written as safetensors + JSON card (core.situation.store).

    python scripts/build_situation_models.py [--situation NAME ...] [--out assets/situations]
        [--fine-tune heads] [--steps N] [--batch-size N] [--lr X] [--photos N] [--seed 0]

Without --situation every registered situation is built. Settings left out take CustomiseConfig's defaults.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROJECT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    from core.situation.customise import FINE_TUNED, CustomiseConfig, customise
    from core.situation.library import shipped_root
    from core.situation.situations import SITUATIONS
    from core.situation.store import save_situation_model
    from core.threads import PROCESS_THREADS, threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--situation", action="append", choices=list(SITUATIONS), metavar="NAME",
                        help=f"a registered situation (repeat for several; default: all of {list(SITUATIONS)})")
    parser.add_argument("--out", default=str(PROJECT / "assets" / "situations"), help="folder to write into")
    parser.add_argument("--fine-tune", choices=list(FINE_TUNED), default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--photos", type=int, default=None, help="training photos used (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refresh-cards", action="store_true",
                        help="keep the weights in --out; re-measure each card's accuracies (situation model and "
                             "the generic root restricted to its classes) on the situation's test photos")
    args = parser.parse_args(argv)
    if args.refresh_cards:
        return _refresh_cards(args)
    given = {"fine_tune": args.fine_tune, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
             "photos": args.photos}
    try:
        config = replace(CustomiseConfig(), **{k: v for k, v in given.items() if v is not None})
    except ValueError as err:
        parser.error(str(err))
    for name in args.situation or list(SITUATIONS):
        sit = SITUATIONS[name]
        root, data = shipped_root(sit.root)
        started = time.perf_counter()
        try:
            with threads(PROCESS_THREADS):  # fine-tuning rounds by thread count: the process's own, named in the card
                model = customise(root, data, sit, config, args.seed)
        except ValueError as err:
            parser.error(str(err))
        weights, card_path = save_situation_model(model, args.out)
        c = model.card
        print(f"{name}: {len(c.classes)} classes, {c.train_photos} training photos, {c.config.steps} steps "
              f"({c.config.fine_tune}); exits {' / '.join(f'{100 * a:.1f}' for a in c.exit_accuracy)} % on "
              f"{c.test_photos} test photos; wrote {weights} ({weights.stat().st_size:,} bytes) and "
              f"{card_path.name} in {time.perf_counter() - started:.1f} s", flush=True)
    return 0


def _refresh_cards(args) -> int:
    """Rewrite the cards of the situation models in --out with accuracies measured now (weights untouched)."""
    from dataclasses import replace as change

    from core.model.evaluate import exit_accuracies
    from core.situation.customise import SituationModel, cut
    from core.situation.library import load_shipped, shipped_root
    from core.situation.situations import SITUATIONS, class_labels, situation_data
    from core.situation.store import refresh_card

    for name in args.situation or list(SITUATIONS):
        sit = SITUATIONS[name]
        root, data = shipped_root(sit.root)
        model = load_shipped(name, root, args.out)
        sdata = situation_data(sit, data)
        card = change(model.card, exit_accuracy=tuple(exit_accuracies(model.model, sdata, "test")),
                      generic_exit_accuracy=tuple(exit_accuracies(cut(root, class_labels(sit, data)), sdata, "test")))
        path = refresh_card(SituationModel(model.situation, model.model, card), args.out)
        print(f"{name}: situation model {' / '.join(f'{100 * a:.1f}' for a in card.exit_accuracy)} %, generic "
              f"root restricted {' / '.join(f'{100 * a:.1f}' for a in card.generic_exit_accuracy)} % on "
              f"{card.test_photos} test photos; rewrote {path.name}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

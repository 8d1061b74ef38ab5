"""Keep a finished training run as an ensemble member: its weights and a card, in `members/`.

    python scripts/release/export_member.py outputs/member-s1 --name cnn-s1

Writes `members/NAME.safetensors` (the selected checkpoint's model, weights and `fer` metadata,
no pickle) and `members/NAME.json` (the command, epochs, wall time, hardware and the run's own
PublicTest / PrivateTest accuracy). A run started from another member
(`model.init_from=members/OTHER.safetensors`) records it as `init_from`, and its
`total_training_wall_time_s` adds the parent's. Runs and checkpoints are not kept between
sessions; these two files are, and `scripts/release/ship_model.py` builds the shipped ensemble
from them.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import sys
from pathlib import Path

import yaml

from fer.checkpoint import export_model
from fer.io import atomic_path, write_json
from fer.modelinfo import DEFAULT_MODEL, CheckpointError
from fer.runtime import hardware

MEMBERS = Path("members")


def training_facts(metrics: dict) -> dict:
    """What a card says of how a run trained, from its metrics.json."""
    return {
        "params": metrics["params"],
        "epochs": metrics["epochs"],
        "training_wall_time_s": metrics["wall_time_s"],
        "train_images_per_s": metrics["train_images_per_s"],
        "precision": metrics["precision"],
    }


def run_overrides(run_dir: Path) -> list[str]:
    """The command-line overrides a run was started with (its .hydra/overrides.yaml)."""
    return yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []


def parent_card(init: str, members: Path) -> dict | None:
    """The card of the kept member whose weights `init` holds: the file itself when its card
    is beside it, else a member in `members` with the same bytes (e.g. the shipped model)."""
    path = Path(init)
    if not path.is_file():
        return None
    for candidate in [path, *sorted(members.glob("*.safetensors"))]:
        card = candidate.with_suffix(".json")
        if card.is_file() and filecmp.cmp(candidate, path, shallow=False):
            return json.loads(card.read_text())
    return None


def lineage(run_dir: Path, own_time_s: float, members: Path = MEMBERS) -> dict:
    """`init_from` (the parent member's name) and the total training time, parent included, when
    the run started from a kept member's weights; the own time alone otherwise."""
    overrides = run_overrides(run_dir)
    init = next((o.split("=", 1)[1] for o in overrides if o.startswith("model.init_from=")), None)
    parent = parent_card(init, members) if init else None
    if parent is None:
        return {"init_from": init, "total_training_wall_time_s": own_time_s}
    total = parent.get("total_training_wall_time_s", parent["training_wall_time_s"])
    return {"init_from": parent["name"], "total_training_wall_time_s": own_time_s + total}


def run_command(run_dir: Path) -> str:
    """The train.py command that made the run (its overrides, less Hydra's and logging's)."""
    overrides = run_overrides(run_dir)
    skip = ("hydra.", "trainer.enable_", "logger=")
    return " ".join(["python train.py", *(o for o in overrides if not o.startswith(skip))])


def write_manifest(members: Path = MEMBERS, shipped: Path = DEFAULT_MODEL) -> Path:
    """`members/MANIFEST.md`: one row per kept member, from the cards beside the weights, with
    the shipped model's members marked; rewritten whenever a member is kept."""
    in_shipped: set[str] = set()
    card_path = shipped.parent / "card.json"
    if card_path.is_file():
        in_shipped = {m["name"] for m in json.loads(card_path.read_text()).get("members", [])}
    rows = []
    for card_file in sorted(members.glob("*.json")):
        card = json.loads(card_file.read_text())
        minutes = card.get("total_training_wall_time_s", card["training_wall_time_s"]) / 60
        rows.append(
            f"| {card['name']} | {'yes' if card['name'] in in_shipped else ''} | "
            f"{100 * card['val_accuracy']:.2f} | {card['epochs']} | {minutes:.0f} | "
            f"{card.get('init_from') or ''} | `{card['command']}` |"
        )
    text = "\n".join(
        [
            "# Kept ensemble members",
            "",
            "Each member is `NAME.safetensors` (weights and fer metadata, no pickle) and its",
            "card `NAME.json`, written by `scripts/release/export_member.py`;",
            "`scripts/release/ship_model.py` chooses the shipped ensemble among them on",
            "PublicTest. This table is rewritten from the cards each time a member is kept.",
            "Minutes include the member it started from; commands recorded before this folder",
            "was renamed from `models/` name `models/`.",
            "",
            "| member | in the shipped model | PublicTest % | epochs | minutes | started from "
            "| command |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    out = members / "MANIFEST.md"
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a completed training run directory")
    parser.add_argument("--name", required=True, help="member name (file stem in members/)")
    parser.add_argument("--out", type=Path, default=MEMBERS, help="folder (default members/)")
    args = parser.parse_args(argv)
    try:
        metrics = json.loads((args.run_dir / "metrics.json").read_text())
        if metrics.get("status") != "completed":
            raise CheckpointError(
                f"{args.run_dir}: run is {metrics.get('status')!r}, not completed"
            )
        weights = export_model(args.run_dir, args.out / f"{args.name}.safetensors")
        command = run_command(args.run_dir)
    except (OSError, CheckpointError, json.JSONDecodeError) as e:
        print(f"export_member: error: {e}", file=sys.stderr)
        return 1
    card = {
        "name": args.name,
        "command": command,
        **training_facts(metrics),
        **lineage(args.run_dir, metrics["wall_time_s"], args.out),
        # where it trained, as the run recorded it; runs from before that: this machine
        "hardware": metrics.get("hardware") or hardware(),
        # PublicTest, the selection split; PrivateTest is reported for the shipped choice only
        "val_accuracy": metrics["val"]["acc"],
    }
    write_json(args.out / f"{args.name}.json", card)
    write_manifest(args.out)
    print(
        f"wrote {weights} and {args.name}.json: PublicTest {card['val_accuracy']:.4f}, "
        f"{card['training_wall_time_s'] / 60:.1f} min"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Ensembles load and predict as single models do; checkpoints without framing still load."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fer import Predictor
from fer.checkpoint import export_ensemble, export_model, load_checkpoint
from fer.data.hdf5 import read_split
from fer.framing import FER2013, Framing
from fer.modelinfo import CheckpointError
from fer.models import build_model

from conftest import REPO, trained_run


@pytest.fixture(scope="module")
def members(shared_tiny_run, tmp_path_factory):
    """The tiny run's model and a second, differently initialised model with the same info."""
    root = tmp_path_factory.mktemp("members")
    first = export_model(shared_tiny_run, root / "a.safetensors")
    with safe_open(str(first), framework="pt") as f:
        metadata = f.metadata()
    info = json.loads(metadata["fer"])
    torch.manual_seed(1)
    other = build_model(info["model"])
    second = root / "b.safetensors"
    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(second), metadata)
    return first, second


def test_ensemble_probabilities_are_the_members_mean(members, tiny_h5, tmp_path):
    path = export_ensemble(list(members), tmp_path / "ensemble.safetensors")
    faces = read_split(tiny_h5, "PrivateTest")[0][:20]
    ensemble = Predictor.load(path)
    single = [Predictor.load(m).predict_faces(faces, tta="flip") for m in members]
    together = ensemble.predict_faces(faces, tta="flip")
    assert not np.allclose(single[0], single[1], atol=1e-3)  # the members differ
    np.testing.assert_allclose(together, np.mean(single, axis=0), atol=2e-3)
    assert ensemble.classes == Predictor.load(members[0]).classes
    assert ensemble.framing == FER2013


def test_fer_viz_draws_an_ensembles_first_member(members, tiny_h5, tmp_path, capsys):
    from fer.analysis.visualize import visualize

    path = export_ensemble(list(members), tmp_path / "ensemble.safetensors")
    out = tmp_path / "viz"
    figures = visualize(
        str(path), data=str(tiny_h5), out=str(out), per_class=1, tsne_samples=40, log_wandb=False
    )
    assert "ensemble of 2; showing its first member" in capsys.readouterr().out
    first = Predictor.load(members[0]).model
    convs = sum(1 for m in first.modules() if isinstance(m, torch.nn.Conv2d))
    assert sum(name.startswith("filters_") for name in figures) == convs
    assert figures["gradcam"].parent == out and figures["gradcam"].stat().st_size > 1000


def test_ensemble_refuses_members_framed_differently(members, tmp_path):
    first, _ = members
    with safe_open(str(first), framework="pt") as f:
        info = json.loads(f.metadata()["fer"])
        state = {k: f.get_tensor(k) for k in f.keys()}
    info["framing"] = Framing.from_margin(0.3).to_dict()
    other = tmp_path / "loose.safetensors"
    save_file(state, str(other), {"fer": json.dumps(info)})
    # framing alone differs: the error says how to give the ensemble one
    with pytest.raises(CheckpointError, match="give the ensemble one framing"):
        export_ensemble([first, other], tmp_path / "bad.safetensors")
    # A framing given for the ensemble replaces its members' (as ship_model gives FER2013's).
    shipped = export_ensemble([first, other], tmp_path / "ok.safetensors", framing=FER2013)
    assert Predictor.load(shipped).framing == FER2013


def test_checkpoint_without_framing_loads_with_fer2013s(tiny_run, tmp_path):
    checkpoint = load_checkpoint(tiny_run)
    assert checkpoint["fer"]["framing"] == FER2013.to_dict()  # new checkpoints store it
    del checkpoint["fer"]["framing"]  # as checkpoints written before framing existed
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)
    predictor = Predictor.load(old)
    assert predictor.framing == FER2013
    face = np.zeros((48, 48), np.uint8)
    assert predictor.predict_faces([face]).shape == (1, 7)


class Payload:
    """An object that pickle would rebuild by running code."""

    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_checkpoints_with_pickled_code_or_without_fer_metadata_are_refused(tmp_path, capsys):
    unsafe = tmp_path / "unsafe.ckpt"
    torch.save({"fer": {}, "state_dict": {}, "extra": Payload()}, unsafe)
    with pytest.raises(CheckpointError, match="not a readable weights-only checkpoint"):
        load_checkpoint(unsafe)
    assert "pickled code ran" not in capsys.readouterr().out
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(CheckpointError, match="not a fer checkpoint"):
        load_checkpoint(foreign)


def load_script(name: str) -> ModuleType:
    """scripts/NAME as a module (the scripts are not a package), to use its functions."""
    spec = importlib.util.spec_from_file_location(Path(name).stem, REPO / "scripts" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Ran(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def call_script(name: str, *args, capsys: pytest.CaptureFixture) -> Ran:
    """scripts/NAME's main(argv) in this process, as its command line runs it (no interpreter
    start and imports per call)."""
    capsys.readouterr()
    code = load_script(name).main([str(a) for a in args])
    return Ran(code, *capsys.readouterr())


def run_script(name: str, *args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_kept_members_ship_as_the_ensemble_selected_on_publictest(
    tiny_run, tiny_h5, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the scripts' default paths land here, not in the repository
    models = tmp_path / "models"
    assert (
        call_script(
            "release/export_member.py", tiny_run, "--name", "a", "--out", models, capsys=capsys
        ).returncode
        == 0
    )
    init = f"model.init_from={models / 'a.safetensors'}"
    child = trained_run(tiny_h5, tmp_path / "child", init, "seed=1", "trainer.max_epochs=1")
    result = call_script(
        "release/export_member.py", child, "--name", "b", "--out", models, capsys=capsys
    )
    assert result.returncode == 0, result.stderr
    a, b = (json.loads((models / f"{n}.json").read_text()) for n in "ab")
    assert b["init_from"] == "a"  # lineage: b started from a's weights, and its time includes a's
    manifest = (models / "MANIFEST.md").read_text().splitlines()  # rewritten as members are kept
    assert [line.split(" | ")[0] for line in manifest if line.startswith("| a |")] == ["| a"]
    assert any(line.startswith("| b |") and "| a |" in line for line in manifest)  # started from a
    assert b["hardware"] == json.loads((child / "metrics.json").read_text())["hardware"]
    assert b["total_training_wall_time_s"] == pytest.approx(
        a["training_wall_time_s"] + b["training_wall_time_s"]
    )

    out = tmp_path / "assets" / "default.safetensors"
    result = call_script(
        "release/ship_model.py",
        models / "a",
        models / "b",
        "--select",
        "--data",
        tiny_h5,
        "--out",
        out,
        "--timing-faces",
        20,
        capsys=capsys,
    )
    assert result.returncode == 0, result.stderr
    card = json.loads((out.parent / "card.json").read_text())
    scores = card["selection"]
    assert sorted(map(tuple, (s["members"] for s in scores))) == [("a",), ("a", "b"), ("b",)]
    best = scores[0]
    assert best["val_accuracy"] == max(s["val_accuracy"] for s in scores)
    assert [m["name"] for m in card["members"]] == best["members"]
    # the shipped file, evaluated fresh, scores what the selection measured for that subset
    assert card["val"]["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    assert card["test"]["n"] == len(read_split(tiny_h5, "PrivateTest")[1])
    text = (out.parent / "MODEL_CARD.md").read_text()
    # the card states the times it measured (their values are the benchmark scripts' business)
    assert f"Classifying one face takes {card['ms_per_face']:.2f} ms" in " ".join(text.split())
    assert all(name in text for name in best["members"])
    faces = read_split(tiny_h5, "PrivateTest")[0][:5]
    expected = np.mean(
        [Predictor.load(models / f"{n}.safetensors").predict_faces(faces) for n in best["members"]],
        axis=0,
    )
    shipped = Predictor.load(out)
    np.testing.assert_allclose(shipped.predict_faces(faces, tta="none"), expected, atol=2e-3)
    # the TTA with the best PublicTest accuracy is stored in the file and used by default
    val_tta = {card[k]["tta"]: card[k]["accuracy"] for k in ("val", "val_flip", "val_crops")}
    assert card["tta"] == max(val_tta, key=val_tta.get) == shipped.tta
    np.testing.assert_allclose(
        shipped.predict_faces(faces), shipped.predict_faces(faces, tta=card["tta"]), atol=1e-6
    )
    if card["tta"] != "none":
        assert f"({card['ms_per_face_tta']:.2f} ms with its {card['tta']} TTA)" in text
    # PrivateTest: evaluated once, for the final choice with its chosen TTA; no candidate
    assert card["test"]["tta"] == card["tta"] and card["privatetest_evaluations"] == 1
    assert not {"test_flip", "test_crops"} & set(card)
    assert not any("test_accuracy" in s for s in card["selection"])
    assert "evaluated for the shipped file\n  1 time, with its chosen TTA" in text
    members_header = next(line for line in text.splitlines() if line.startswith("| member |"))
    assert "PrivateTest" not in members_header
    # a shipped model cuts detected faces as FER2013 is framed: once, between box and landmarks
    assert shipped.framing == FER2013 and card["crops_per_detected_face"] == 1
    assert f"takes {card['ms_per_detected_face']:.2f} ms without TTA" in text
    # --max-members bounds the subsets tried (a time budget): one member, the better one alone;
    # --select-tta scores every subset with that TTA
    single = tmp_path / "single" / "default.safetensors"
    args = ["--select", "--max-members", 1, "--select-tta", "flip", "--data", tiny_h5]
    result = call_script(
        "release/ship_model.py", models / "a", models / "b", *args, "--out", single, capsys=capsys
    )
    assert result.returncode == 0, result.stderr
    single_card = json.loads((single.parent / "card.json").read_text())
    assert sorted(s["members"] for s in single_card["selection"]) == [["a"], ["b"]]
    assert [m["name"] for m in single_card["members"]] == single_card["selection"][0]["members"]
    val_faces, val_labels = read_split(tiny_h5, "PublicTest")
    for score in single_card["selection"]:
        member = Predictor.load(models / f"{score['members'][0]}.safetensors")
        flipped = member.predict_faces(val_faces, tta="flip").argmax(1) == val_labels
        assert score["tta"] == "flip"
        assert score["val_accuracy"] == pytest.approx(flipped.mean(), abs=1e-6)
    assert "each with flip TTA" in (single.parent / "MODEL_CARD.md").read_text()

    # --pipeline: subsets ranked by PublicTest and PublicTest through the pipeline, averaged
    faces, labels = read_split(tiny_h5, "PublicTest")
    found = np.arange(len(labels)) % 3 != 0  # a third of the faces missed
    moved = np.roll(faces, 3, axis=2)  # crops a few pixels off the frame, as detection cuts them
    crops = tmp_path / "val.crops.npz"
    save_crops = load_script("bench/bench_pipeline.py").save_crops
    rows = [{"index": i} for i in range(len(labels))]
    kept = {"pipeline": list(moved[found][:, None]), "placed": [faces]}  # as bench_pipeline
    save_crops(crops, "PublicTest", rows, labels, found, kept, FER2013)
    through = tmp_path / "through" / "default.safetensors"
    args = ["--select", "--pipeline", crops, "--data", tiny_h5, "--out", through, "--against", out]
    result = call_script("release/ship_model.py", models / "a", models / "b", *args, capsys=capsys)
    assert result.returncode == 0, result.stderr
    through_card = json.loads((through.parent / "card.json").read_text())
    ranked = through_card["selection"]
    for score in ranked:
        probs = [
            Predictor.load(models / f"{n}.safetensors").predict_faces(moved[found], tta="none")
            for n in score["members"]
        ]
        accuracy = (np.mean(probs, axis=0).argmax(1) == labels[found]).mean()
        assert score["pipeline_accuracy"] == pytest.approx(accuracy, abs=1e-6)
        assert score["score"] == pytest.approx((score["val_accuracy"] + accuracy) / 2)
    assert ranked[0]["score"] == max(s["score"] for s in ranked)
    assert "through the pipeline" in (through.parent / "MODEL_CARD.md").read_text()
    # ... and the new model is compared with --against's, each with its own TTA, on the same faces
    against = through_card["against"]
    for key, model in (("new", through), ("old", out)):
        predictor = Predictor.load(model)
        val = predictor.predict_faces(faces).argmax(1) == labels
        piped = predictor.predict_faces(moved[found], tta=predictor.tta).argmax(1) == labels[found]
        assert against["val"][key] == pytest.approx(val.mean(), abs=1e-6)
        assert against["pipeline"][key] == pytest.approx(piped.mean(), abs=1e-6)
    for key in ("val", "pipeline"):
        c = against[key]
        assert c["difference"] == pytest.approx(c["new"] - c["old"])
        assert c["low"] <= c["difference"] <= c["high"]
    assert through_card["val_pipeline"]["accuracy"] == against["pipeline"]["new"]
    assert against["tta"] == {"new": Predictor.load(through).tta, "old": Predictor.load(out).tta}
    assert "as used (each model's own TTA)" in result.stdout
    # --against means nothing without the pipeline's crops: refused, not ignored
    unpiped = ["--data", tiny_h5, "--out", through, "--against", out]
    refused = call_script("release/ship_model.py", models / "a", *unpiped, capsys=capsys)
    assert refused.returncode == 1 and "give --pipeline" in refused.stderr
    # crops of PrivateTest photos are refused: members are never chosen on PrivateTest
    save_crops(crops, "PrivateTest", rows, labels, found, kept, FER2013)
    refused = call_script("release/ship_model.py", models / "a", models / "b", *args, capsys=capsys)
    assert refused.returncode == 1 and "PublicTest only" in refused.stderr

    missing = run_script(
        "release/ship_model.py", models / "nope", "--data", tiny_h5, "--out", out, cwd=tmp_path
    )
    assert missing.returncode == 1 and "ship_model: error:" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_selection_reuses_each_members_cached_probabilities(tiny_run, tiny_h5, tmp_path, capsys):
    ship = load_script("release/ship_model.py")
    models = tmp_path / "models"
    exported = call_script(
        "release/export_member.py", tiny_run, "--name", "a", "--out", models, capsys=capsys
    )
    assert exported.returncode == 0, exported.stderr
    member = ship.Member(models / "a")
    faces, labels = read_split(tiny_h5, "PublicTest")
    cache = ship.ProbabilityCache(tmp_path / "cache")

    def predict(predictor, tta):
        return predictor.predict_faces(faces, tta)

    def fail(predictor, tta):
        raise AssertionError("computed although cached")

    computed = cache.probabilities(member, faces, "flip", predict)
    direct = Predictor.load(member.path).predict_faces(faces, "flip")
    np.testing.assert_allclose(computed, direct, atol=1e-6)
    assert len(list((tmp_path / "cache").glob("a-*.npy"))) == 1
    # a later run (a new cache on the same folder) reads the entry instead of computing it
    again = ship.ProbabilityCache(tmp_path / "cache").probabilities(member, faces, "flip", fail)
    np.testing.assert_array_equal(again, computed)
    # another TTA, other faces, or the member's file retrained are new entries, computed
    cache.probabilities(member, faces, "none", predict)
    cache.probabilities(member, faces[::-1].copy(), "flip", lambda p, t: p.predict_faces(faces, t))
    with safe_open(member.path, "pt") as f:
        metadata = f.metadata()
        state = {k: f.get_tensor(k) + 0.5 for k in f.keys()}
    save_file(state, str(member.path), metadata)
    changed = cache.probabilities(member, faces, "flip", predict)
    assert len(list((tmp_path / "cache").glob("a-*.npy"))) == 4
    assert not np.allclose(changed, computed)
    # the selection scores with cached probabilities as with fresh ones
    chosen, scores = ship.select_members([member], faces, labels, 1, tta="flip", cache=cache)
    assert chosen == [member]
    assert scores[0]["val_accuracy"] == pytest.approx((changed.argmax(1) == labels).mean())

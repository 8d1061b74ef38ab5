"""Ensembles load and predict as single models do; checkpoints without framing still load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fer import Predictor
from fer.checkpoint import CheckpointError, export_ensemble, export_model, load_checkpoint
from fer.data.hdf5 import read_split
from fer.framing import FER2013, Framing
from fer.models import build_model


@pytest.fixture(scope="module")
def members(tiny_run, tmp_path_factory):
    """The tiny run's model and a second, differently initialised model with the same info."""
    root = tmp_path_factory.mktemp("members")
    first = export_model(tiny_run, root / "a.safetensors")
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


def test_ensemble_refuses_members_framed_differently(members, tmp_path):
    first, _ = members
    with safe_open(str(first), framework="pt") as f:
        info = json.loads(f.metadata()["fer"])
        state = {k: f.get_tensor(k) for k in f.keys()}
    info["framing"] = Framing.from_margin(0.3).to_dict()
    other = tmp_path / "loose.safetensors"
    save_file(state, str(other), {"fer": json.dumps(info)})
    with pytest.raises(CheckpointError, match="framing"):
        export_ensemble([first, other], tmp_path / "bad.safetensors")


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

"""fer-export: one ONNX file per model (an ensemble as one graph) that onnxruntime runs to the
same probabilities as torch, with what a runtime needs in its metadata."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from fer.checkpoint import load_model
from fer.cli.export import main
from fer.data.hdf5 import read_split
from fer.inference.onnx_export import ExportError, export_onnx, read_metadata
from fer.modelinfo import DEFAULT_MODEL
from fer.preprocess import normalize


def onnx_probabilities(path, faces: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"pixels": faces[:, None].astype(np.float32)})[0]


def test_a_run_exports_with_a_dynamic_batch_and_its_metadata(tiny_run, tiny_h5, tmp_path):
    out = tmp_path / "run.onnx"
    faces = read_split(tiny_h5, "PublicTest")[0]
    result = export_onnx(tiny_run, out, faces[:32])
    assert result["max_difference"] <= 1e-4 and out.is_file()
    model, info = load_model(tiny_run)
    with torch.no_grad():
        expected = model(normalize(torch.from_numpy(faces), info.mean, info.std)).softmax(-1)
    for batch in (1, 5, len(faces)):  # any batch size: the first axis is dynamic
        got = onnx_probabilities(out, faces[:batch])
        np.testing.assert_allclose(got, expected[:batch].numpy(), atol=1e-4)
        np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
    meta = read_metadata(out)
    assert json.loads(meta["fer.classes"]) == list(info.classes)
    assert json.loads(meta["fer.input"])["size"] == info.input_size == 48
    assert json.loads(meta["fer.normalisation"]) == {"mean": info.mean, "std": info.std}
    assert meta["fer.tta"] == (info.tta or "none") and meta["fer.source"].endswith("best.ckpt")


def test_the_shipped_ensemble_exports_as_one_graph_with_its_card(tmp_path, capsys):
    out = tmp_path / "default.onnx"
    assert main(["-o", str(out), "--faces", "16"]) == 0
    assert "onnxruntime agrees with torch" in capsys.readouterr().out
    meta = read_metadata(out)
    card = json.loads(meta["fer.card"])
    assert len(card["members"]) == 3 and meta["fer.tta"] == card["tta"]
    assert json.loads(meta["fer.framing"]) is not None  # how to cut a detected face
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["pixels"]  # one graph, one input
    faces = np.random.default_rng(1).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    model, info = load_model(DEFAULT_MODEL)
    with torch.no_grad():
        expected = model(normalize(torch.from_numpy(faces), info.mean, info.std)).softmax(-1)
    np.testing.assert_allclose(onnx_probabilities(out, faces), expected.numpy(), atol=1e-4)


def test_a_failed_check_writes_nothing_and_errors_are_one_line(tiny_run, tmp_path, capsys):
    out = tmp_path / "strict.onnx"
    with pytest.raises(ExportError, match="not written"):
        export_onnx(tiny_run, out, tolerance=-1.0)  # no export can pass this
    assert not out.exists() and not list(tmp_path.glob(".strict.onnx*"))
    assert main(["--model", str(tmp_path / "missing"), "-o", str(out)]) == 1
    assert main(["--model", str(tiny_run), "-o", str(out), "--faces", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("fer-export: error:") for line in err)

"""fer-compare and fer-report on fabricated run directories; the logger choices."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from fer.analysis.compare import seed_table, swept_axes
from fer.analysis.report import MAX_FIGURES, prose_words, run_label
from fer.cli.compare import main
from fer.cli.report import main as report_main
from fer.run.loggers import build_loggers
from fer.run.naming import run_name
from fer.run.records import Run, find_runs, read_run


def fabricate(
    sweep,
    job,
    overrides,
    status="completed",
    val=0.5,
    test=0.5,
    params=1000,
    epochs=3,
    hardware=None,
):
    run = sweep / str(job)
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (run / ".hydra" / "config.yaml").write_text(
        "data: {path: x.h5, batch_size: 8, limit: null}\nmodel: {name: cnn, depth: 2}\n"
        "augment: {hflip: 0.5}\noptimizer: {name: sgd, lr: 0.1}\nscheduler: {name: cosine}\n"
        "trainer: {max_epochs: 3}\nloss: {label_smoothing: 0.0}\n"
    )
    if status is None:  # unfinished before metrics.json was written at all
        return run
    metrics = {"status": status, "overrides": overrides}
    if status == "completed":
        metric = lambda acc: {"acc": acc, "f1_macro": acc - 0.1, "precision": acc, "recall": acc}  # noqa: E731
        metrics |= {
            "val": metric(val),
            "test": metric(test),
            "params": params,
            "epochs": epochs,
            "wall_time_s": 9.5,
            "precision": "32-true",
        } | ({"hardware": hardware} if hardware else {})
        (run / "csv").mkdir()
        with (run / "csv" / "metrics.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", "step", "val/acc", "val/acc_best"])
            for e in range(epochs):
                w.writerow([e, e * 10, val - 0.05 * (epochs - 1 - e), val])
    elif status == "failed":
        metrics["error"] = "ValueError: unknown norm 'bogus'"
    (run / "metrics.json").write_text(json.dumps(metrics))
    return run


@pytest.fixture
def sweep(tmp_path):
    s = tmp_path / "multirun" / "2026-11-28" / "10-00-00"
    fabricate(s, 0, ["model.depth=2", "model.norm=batch", "data.path=x.h5"], val=0.40, test=0.70)
    fabricate(s, 1, ["model.depth=2", "model.norm=none", "data.path=x.h5"], val=0.35, test=0.36)
    fabricate(
        s,
        2,
        ["model.depth=4", "model.norm=batch", "data.path=x.h5"],
        val=0.55,
        test=0.50,
        params=9000,
    )
    fabricate(s, 3, ["model.depth=4", "model.norm=bogus", "data.path=x.h5"], status="failed")
    fabricate(s, 4, ["model.depth=6", "model.norm=batch", "data.path=x.h5"], status="running")
    fabricate(s, 5, ["model.depth=6", "model.norm=none", "data.path=x.h5"], status=None)
    return s


def test_compare_lists_every_run_and_picks_best_by_val(sweep, capsys):
    assert main([str(sweep)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:4] == [
        "run",
        "model.depth",
        "model.norm",
        "status",
    ]  # data.path is no axis
    assert [line.split()[0] for line in lines[1:7]] == [
        "2",
        "0",
        "1",
        "3",
        "4",
        "5",
    ]  # by val acc, then others
    assert "failed" in lines[4] and "running" in lines[5] and "running" in lines[6]
    assert (
        f"best by val acc (0.5500): {sweep / '2'}" in out
    )  # run 0 has the best *test* acc: not chosen
    rows = list(csv.reader((sweep / "comparison.csv").open()))
    assert len(rows) == 7 and {r[3] for r in rows[1:]} == {"completed", "failed", "running"}
    for name in ("accuracy_by_axis", "heatmap", "acc_vs_params", "val_curves"):
        assert (sweep / f"{name}.png").stat().st_size > 1000
    assert "| 2 | 4 | batch | completed | 0.5500" in (sweep / "comparison.md").read_text()


def test_seeds_are_aggregated_as_mean_and_std(tmp_path, capsys):
    s = tmp_path / "sweep"
    for job, (norm, seed, val) in enumerate(
        [("batch", 0, 0.5), ("batch", 1, 0.6), ("none", 0, 0.3), ("none", 1, 0.3)]
    ):
        fabricate(s, job, [f"model.norm={norm}", f"seed={seed}"], val=val, test=val)
    header, rows = seed_table(find_runs([str(s)]))
    assert header[:2] == ["model.norm", "seeds"]
    assert rows[0][:3] == ["batch", "2", "0.5500 ± 0.0500"] and rows[1][:3] == [
        "none",
        "2",
        "0.3000 ± 0.0000",
    ]
    assert main([str(s)]) == 0 and "mean ± std over seeds" in capsys.readouterr().out


def test_a_run_whose_hydra_files_carry_a_python_tag_is_listed_unreadable_not_compared(
    sweep, capsys
):
    tagged = sweep / "2" / ".hydra" / "config.yaml"  # the best run by val
    tagged.write_text("model: !!python/object/apply:os.system ['echo pwned']\n")
    broken = sweep / "1" / ".hydra" / "overrides.yaml"
    broken.write_text("- model.depth=2\n- [unclosed\n")
    assert main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "pwned" not in out
    rows = {Path(r[0]).name: r for r in csv.reader((sweep / "comparison.csv").open())}
    assert rows["2"][3] == "unreadable" and rows["1"][3] == "unreadable"
    assert f"best by val acc (0.4000): {sweep / '0'}" in out  # the next best readable run


def test_compare_errors(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 1
    assert main([str(tmp_path)]) == 1
    assert capsys.readouterr().err.count("fer-compare: error:") == 2


def test_report_links_only_existing_images(sweep, tmp_path):
    out = tmp_path / "report" / "REPORT.md"
    assert report_main([str(sweep), "-o", str(out)]) == 0
    text = out.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) >= 3 and all(os.path.exists(out.parent / link) for link in links)
    lines = text.splitlines()
    captions = [lines[i + 1] for i, line in enumerate(lines) if line.startswith("![")]
    assert all(c.startswith("_Figure ") for c in captions)  # every figure says what to see
    assert "Your observations" in text and "PrivateTest (test, reported once) | 0.5000" in text
    assert len(text.split()) < 1500


def test_report_over_a_studys_parts_has_a_section_each_and_one_chosen_model(sweep, tmp_path):
    part = tmp_path / "study" / "activation"
    fabricate(part, 0, ["model.activation=relu"], val=0.60, test=0.61, hardware="CPU A (2 cores)")
    fabricate(part, 1, ["model.activation=gelu"], val=0.62, test=0.58, hardware="CPU A (2 cores)")
    out = tmp_path / "study" / "REPORT.md"
    assert report_main([str(sweep), str(part), "-o", str(out)]) == 0
    text = out.read_text()
    # where the runs trained, from their records; the sweep's runs recorded none
    completed = sum(
        json.loads(m.read_text())["status"] == "completed" for m in sweep.glob("*/metrics.json")
    )
    assert (
        f"Hardware the runs trained on: CPU A (2 cores) (2 runs); not recorded ({completed} runs"
        in text
    )
    assert f"### {sweep.name}" in text and "### activation" in text
    provenance = text.split("| part | blocks (seeds) | commit | data (sha256) | host | precision |")
    (row,) = [r for r in provenance[1].splitlines() if r.startswith("| activation |")]
    assert row.count("not recorded ×2") == 4  # fabricated runs record no provenance
    assert (part / "comparison.md").is_file() and (sweep / "comparison.md").is_file()
    # the chosen model is the best by validation over both parts: gelu (val 0.62), not relu
    chosen = text.split("## 5. The final model")[1]
    assert "model.activation=gelu" in chosen and "| 0.5800 |" in chosen
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert all(os.path.exists(out.parent / link) for link in links)


def test_run_name_is_readable():
    assert (
        run_name(["model.depth=4", "model.norm=batch", "data.path=/x.h5", "logger=csv"])
        == "depth=4 norm=batch"
    )


def test_logger_choices(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert build_loggers({"name": "none"}, tmp_path, "n", None, {}) == []
    (csv_logger,) = build_loggers({"name": "csv"}, tmp_path, "n", None, {"seed": 1})
    csv_logger.save()
    assert (tmp_path / "csv" / "hparams.yaml").read_text().strip() == "seed: 1"
    loggers = build_loggers(
        {"name": "wandb", "project": "fer-test", "mode": "offline"},
        tmp_path,
        "depth=2",
        "g",
        {"seed": 1},
    )
    assert [type(lg).__name__ for lg in loggers] == ["CSVLogger", "WandbLogger"]
    run = loggers[1].experiment
    assert run.name == "depth=2" and run.group == "g" and run.config["seed"] == 1
    run.finish()
    assert list((tmp_path / "wandb").glob("offline-run-*"))
    with pytest.raises(ValueError, match="valid choices: csv, wandb, none"):
        build_loggers({"name": "tensorboard"}, tmp_path, "n", None, {})


def test_report_fills_notes_draws_confusion_from_predictions_and_shows_viz(sweep, tmp_path):
    import numpy as np

    from fer.run.predictions import write_predictions

    best = sweep / "2"  # the best by val: no figures, no weights kept, predictions saved
    labels = np.array([0, 0, 1, 3, 3, 6])
    probs = np.eye(7, dtype=np.float32)[[0, 1, 1, 3, 2, 6]]
    (best / "predictions").mkdir()
    write_predictions(
        best / "predictions" / "test.npz", np.arange(6), {"labels": labels, "probs": probs}
    )
    viz = tmp_path / "final" / "viz"
    viz.mkdir(parents=True)
    for name in ("filters_01", "emotion_activation_maps"):
        (viz / f"{name}.png").write_bytes(b"\x89PNG stand-in")
    notes = tmp_path / "notes.md"
    notes.write_text(
        "## Summary\nDepth matters most.\n\n## study\nBatch norm helps.\n"
        "## reflection\nMore seeds next time.\n"
    )
    out = tmp_path / "study" / "REPORT.md"
    argv = [str(sweep), "-o", str(out), "--notes", str(notes), "--viz", str(viz)]
    assert report_main(argv) == 0
    text = out.read_text()
    assert text.index("Depth matters most.") < text.index("## 1. Setup")
    assert "Batch norm helps." in text.split("## 2. The study")[1].split("## 3.")[0]
    assert "More seeds next time." in text.split("## 8. Reflections")[1]
    # filter sizes, architectures, final model, network, videos: not in the notes
    assert text.count("Your observations") == 5
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert all(os.path.exists(out.parent / link) for link in links)
    network = text.split("## 6. Inside the network")[1]
    assert "filters_01.png" in network and "emotion_activation_maps.png" in network
    assert (out.parent / "figures" / "confusion_matrix.png").stat().st_size > 1000
    assert "figures/confusion_matrix.png" in text.split("## 5. The final model")[1]


def test_report_refuses_unknown_note_sections_and_missing_viz(sweep, tmp_path, capsys):
    notes = tmp_path / "notes.md"
    notes.write_text("## Findings\ntext\n")
    out = tmp_path / "REPORT.md"
    assert report_main([str(sweep), "-o", str(out), "--notes", str(notes)]) == 1
    assert report_main([str(sweep), "-o", str(out), "--viz", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("fer-report: error:") for line in err)
    assert "'## Findings'" in err[0] and not out.exists()


def test_a_part_reads_its_baseline_runs_with_the_settings_they_do_not_name(tmp_path, capsys):
    """A one-at-a-time part names the grid's runs of the default as its baseline: they are read
    with it, their optimizer comes from their own config, the part's depth from its config."""
    grid, part = tmp_path / "study" / "grid", tmp_path / "study" / "optimizer"
    for seed, (val, test) in enumerate([(0.60, 0.61), (0.62, 0.63)]):
        run = fabricate(grid, f"d4-s{seed}", ["model.depth=4", f"seed={seed}"], val=val, test=test)
        (run / ".hydra" / "hydra.yaml").write_text(
            "hydra:\n  runtime:\n    choices: {optimizer: adamw, model: cnn}\n"
        )
    fabricate(grid, "d2-s0", ["model.depth=2", "seed=0"], val=0.45, test=0.46)
    for seed, val in enumerate([0.50, 0.52]):
        fabricate(part, f"sgd-s{seed}", ["optimizer=sgd", f"seed={seed}"], val=val, test=val)
    (part / "baseline.yaml").write_text('runs: ["../grid/d4-s*"]\n')

    runs = find_runs([str(part)])
    assert sorted(r.path.name for r in runs) == ["d4-s0", "d4-s1", "sgd-s0", "sgd-s1"]
    assert {r.path.name: r.axes["optimizer"] for r in runs}["d4-s1"] == "adamw"
    # fabricate's config.yaml says depth 2 for the sgd runs: read from it, not invented
    assert {r.axes["model.depth"] for r in runs if r.path.name.startswith("sgd")} == {"2"}
    header, rows = seed_table([r for r in runs if r.axes["model.depth"] == "4"])
    assert header[0] == "seeds" and rows[0][0] == "2"

    assert main([str(part)]) == 0
    out = capsys.readouterr().out
    assert f"best by val acc (0.6200): {grid / 'd4-s1'}" in out

    report = tmp_path / "study" / "REPORT.md"
    assert report_main([str(grid), str(part), "-o", str(report)]) == 0
    text = report.read_text()
    assert "(5 of 5 runs completed)" in text  # the shared runs count once
    appendix = (report.parent / "RUNS.md").read_text()
    assert (
        "| ../grid/d4-s1 | 4 | adamw | 1 |" in appendix.split("## optimizer")[1]
    )  # where it lives

    (part / "baseline.yaml").write_text('runs: ["../grid/d8-*"]\n')
    with pytest.raises(FileNotFoundError, match="names no run directory"):
        find_runs([str(part)])
    (part / "baseline.yaml").write_text("- ../grid/d4-s0\n")  # a list, not `runs: [...]`
    assert main([str(part)]) == 1
    assert "baseline.yaml: not `runs: [glob, ...]`" in capsys.readouterr().err


def test_keys_of_a_swept_group_are_axes_only_where_they_vary_within_an_option(tmp_path):
    """A family part compares the CNN with the ViT: the ViT's own depth (6) is part of choosing
    the ViT, not a depth axis; a depth that varies within the CNN's runs is one."""
    fam = [
        Run(tmp_path / f"{model}-{seed}", "completed", {"model": model, "model.depth": depth})
        for model, depth in (("cnn", "4"), ("vit", "6"))
        for seed in range(2)
    ]
    assert swept_axes(fam) == ["model"]
    deeper = Run(tmp_path / "cnn-deep", "completed", {"model": "cnn", "model.depth": "6"})
    assert swept_axes([*fam, deeper]) == ["model", "model.depth"]
    grid = [Run(tmp_path / d, "completed", {"model.depth": d}) for d in ("2", "4")]
    assert swept_axes(grid) == ["model.depth"]


def test_report_labels_a_run_with_axes_its_own_part_did_not_sweep(tmp_path):
    run = read_run(fabricate(tmp_path / "activation", 0, ["model.activation=gelu", "seed=0"]))
    label = run_label(run, ["model.activation", "model.depth", "model.width"])
    assert label == "model.activation=gelu, model.depth=2, model.width="


STUDY = Path(__file__).resolve().parents[1] / "docs" / "study"
QUESTIONS = (  # the assignment's questions, each under its own heading, in this order
    "## 1. Setup and methodology",
    "## 2. The study: architecture and training choices",
    "## 3. Filter sizes",
    "## 4. ViT, pretrained CNN and self-supervised representation",
    "## 5. The final model: accuracy, precision and recall",
    "## 6. Inside the network",
    "## 7. Real videos",
    "## 8. Reflections and lessons learnt",
)


def test_the_study_report_answers_every_question_within_the_word_limit():
    text = (STUDY / "REPORT.md").read_text()
    positions = [text.index(q) for q in QUESTIONS]
    assert positions == sorted(positions)
    assert "Your observations" not in text  # every section has its prose
    assert prose_words(text) <= 1500, prose_words(text)
    lines = text.splitlines()
    figures = [i for i, line in enumerate(lines) if line.startswith("![")]
    assert figures and all(lines[i + 1].startswith("_Figure ") for i in figures)
    assert len(figures) <= MAX_FIGURES and lines[figures[0]] == "![forest](forest.png)"
    assert "![accuracy_by_axis]" not in text  # the forest plot holds every part's differences
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text) + re.findall(r"\]\(([^)]+\.md)\)", text)
    assert all((STUDY / link).is_file() for link in links)


def test_rerunning_fer_report_reproduces_the_committed_study_report(tmp_path, monkeypatch):
    """The committed REPORT.md and RUNS.md are what fer-report makes from the committed runs,
    notes and final model (run in a copy: fer-report writes comparisons into the parts)."""
    header = (STUDY / "REPORT.md").read_text().splitlines()[2]
    parts = re.findall(r"`(docs/study/[^`]+)`", header)
    assert parts and all((STUDY.parent.parent / p).is_dir() for p in parts)
    ignored = shutil.ignore_patterns("wandb", "checkpoints", ".submitit", ".lock")
    shutil.copytree(STUDY, tmp_path / "docs" / "study", ignore=ignored)
    monkeypatch.chdir(tmp_path)
    argv = [*parts, "--notes", "docs/study/NOTES.md", "--final", "docs/study/final"]
    assert report_main([*argv, "-o", "docs/study/REPORT.md"]) == 0
    for name in ("REPORT.md", "RUNS.md"):
        assert (tmp_path / "docs" / "study" / name).read_text() == (STUDY / name).read_text()


def _with_provenance(run, commit="a" * 40, data="d" * 64, host="vm"):
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["provenance"] = {
        "commit": commit,
        "dirty": False,
        "data": {"content_sha256": data, "split_sizes": {}},
        "versions": {"torch": "2.14.1", "lightning": "2.6.6"},
        "host": host,
        "cpu": "AMD EPYC",
        "threads": 2,
        "precision": "bf16-mixed",
    }
    (run / "metrics.json").write_text(json.dumps(metrics))


def test_fer_compare_prints_the_blocks_and_provenance_and_refuses_mixed_data(tmp_path, capsys):
    sweep = tmp_path / "part"
    runs = [
        fabricate(sweep, j, [f"variant={v}", f"seed={s}"], val=0.6, test=0.6)
        for j, (v, s) in enumerate([("default", 0), ("sgd", 0), ("default", 1), ("sgd", 1)])
    ]
    for run in runs[:3]:
        _with_provenance(run, host="vm" if run is not runs[2] else "other")
    assert main([str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "blocks (seeds): 0, 1" in out
    assert "host: other (AMD EPYC, 2 threads) (1 runs); vm (AMD EPYC, 2 threads) (2 runs)" in out
    assert "<- warning: the runs differ" in out
    assert "1 of 4 completed runs record no provenance" in out
    _with_provenance(runs[3], data="e" * 64)  # one run trained on other data
    assert main([str(sweep)]) == 1
    captured = capsys.readouterr()
    assert "trained on different data" in captured.err and "--allow-mixed" in captured.err
    assert main([str(sweep), "--allow-mixed"]) == 0
    assert "compared anyway (--allow-mixed)" in capsys.readouterr().out

"""`fer-video`: emotions over time in videos or a webcam recording, about one frame a second."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from fer.cli.options import add_runtime, add_tta, finite, output_problem
from fer.fer2013 import CLASSES
from fer.run.records import best_run, find_runs


def resolve_model(model: str | None) -> str | None:
    """A sweep directory means its best run by validation accuracy (as fer-compare picks it)."""
    if model and Path(model).is_dir() and not (Path(model) / "checkpoints").is_dir():
        best = best_run(find_runs([model]))
        if best is None:
            raise ValueError(f"{model}: no completed run to take the best from")
        print(
            f"fer-video: using the best run of the sweep by val acc: {best.path}", file=sys.stderr
        )
        return str(best.path)
    return model


def read_labels(
    args: argparse.Namespace, videos: list[Path], classes: tuple[str, ...] = CLASSES
) -> dict[str, str]:
    """The true emotion of each video (--label for all, or --labels CSV), checked against the
    model's own classes (an 8-class model accepts `contempt`)."""
    if args.label:
        label = args.label.strip().lower()
        if label not in classes:
            raise ValueError(
                f"--label {args.label}: not one of the model's classes ({', '.join(classes)})"
            )
        return {str(v): label for v in videos}
    if not args.labels:
        return {}
    labels = {}
    with open(args.labels, newline="") as f:
        for row in csv.DictReader(f):
            labels[str(Path(row["video"]))] = row["label"].strip().lower()
    unknown = set(labels.values()) - set(classes)
    if unknown:
        raise ValueError(
            f"{args.labels}: unknown labels {sorted(unknown)}; the model's classes: "
            f"{', '.join(classes)}"
        )
    return labels


def record_camera(
    camera: int | str, seconds: float, out: Path, show: bool
) -> tuple[Path, float | None]:
    """Record `seconds` from a webcam, a stream URL or a file played at its own rate into
    OUT/camera-<time>.mp4 (the picture in a window with --show). Returns the recording and,
    when the source stopped giving frames before the time was up (closed, unplugged, a
    stream that stalled past OpenCV's read timeout, a file that ended), the seconds it gave."""
    import cv2

    from fer.inference.frames import VideoError, open_camera, video_rate_and_length  # cv2

    cap = open_camera(camera)
    rate, _ = video_rate_and_length(cap)
    paced = isinstance(camera, str) and Path(camera).is_file()  # a file plays like a camera
    ok, frame = cap.read()
    if not ok:
        cap.release()
        raise VideoError(f"camera {camera} gives no frames")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"camera-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
    partial = path.with_name(f".{path.stem}.part.mp4")
    writer = cv2.VideoWriter(
        str(partial), cv2.VideoWriter_fourcc(*"mp4v"), rate, frame.shape[1::-1]
    )
    start = time.monotonic()
    end, written = start + seconds, 0
    try:
        with tqdm(
            total=seconds,
            desc=f"camera {camera}"[:30],
            unit="s",
            bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s",
        ) as bar:
            while ok and time.monotonic() < end:
                writer.write(frame)
                written += 1
                if show:
                    cv2.imshow("fer-video (q to stop)", frame)
                    if cv2.waitKey(1) & 0xFF == ord("q"):
                        break
                bar.n = min(seconds - (end - time.monotonic()), seconds)
                bar.refresh()
                if paced:
                    time.sleep(max(start + written / rate - time.monotonic(), 0.0))
                ok, frame = cap.read()
    except cv2.error as e:  # --show without a display or a GUI-less OpenCV
        raise VideoError(f"cannot show the camera window ({str(e).splitlines()[-1]})") from None
    finally:
        writer.release()
        cap.release()
        if show:
            cv2.destroyAllWindows()
    partial.replace(path)
    return path, None if ok else round(time.monotonic() - start, 1)


def run_live(args: argparse.Namespace, predictor: Any, framing: Any) -> int:
    """--live: the camera in a window with each face's smoothed emotion; q quits, s saves."""
    # Deferred like main's: torch and OpenCV load once the arguments are known good.
    from fer.inference.frames import LiveSource
    from fer.inference.live import LiveSession, gui_problem, run_window

    problem = gui_problem()
    if problem:
        print(
            f"fer-video: error: --live needs a window: {problem}; use the browser's live view "
            "instead (fer-app, Webcam tab), or install a GUI OpenCV (pip install opencv-python)",
            file=sys.stderr,
        )
        return 1
    session = LiveSession(
        predictor,
        smoothing_s=args.smoothing,
        min_face_size=args.min_face,
        framing=framing,
        tta=args.tta or "none",
    )
    name = "camera" if isinstance(args.camera, int) else Path(str(args.camera)).stem
    with LiveSource(args.camera) as source:
        processed = run_window(
            session,
            source,
            args.out,
            name,
            on_save=lambda d: print(f"fer-video: saved the session to {d}", file=sys.stderr),
        )
    seconds = time.monotonic() - session.started
    print(f"fer-video: {processed} frames processed in {seconds:.1f} s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="fer-video",
        description="Emotions over time in videos: sample frames by timestamp, detect faces with "
        "MTCNN, track them, classify each, and write frames.csv, summary.json, timeline.png and "
        "annotated.mp4 per video into OUT/<video-name>/. A camera (webcam, stream URL or a file "
        "played as one) is recorded and analysed, or shown live in a window with --live.",
        epilog="examples: fer-video clip.mp4 --out results;  fer-video --camera 0 --seconds 10;  "
        "fer-video --camera 0 --live",
    )
    parser.add_argument(
        "videos", nargs="*", type=Path, help="video files (mp4, flv, avi, mov, webm ...)"
    )
    parser.add_argument(
        "--model",
        help="run directory, checkpoint, .safetensors, .onnx, or a sweep directory "
        "(its best run by val acc); default: the shipped model",
    )
    parser.add_argument(
        "--fps",
        type=finite,
        default=1.0,
        help="frames sampled per second of video (0: every frame)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("video_results"),
        help="output folder (default video_results)",
    )
    parser.add_argument("--no-video", action="store_true", help="do not write annotated.mp4")
    parser.add_argument(
        "--margin",
        type=finite,
        help="crop every face as the box grown by this fraction of its size on each side "
        "(default: the framing stored with the model, which matches its training faces)",
    )
    add_runtime(parser, shipped_on_onnx=True)
    add_tta(
        parser,
        "test-time augmentation of each face (default: the model's own choice, made on "
        "PublicTest: crops for the shipped model; --live: none, for speed)",
    )
    parser.add_argument(
        "--label",
        metavar="EMOTION",
        help="the true emotion of every video, one of the model's classes (FER2013's: "
        f"{', '.join(CLASSES)}): report accuracy",
    )
    parser.add_argument("--labels", help="CSV with columns video,label: report accuracy per video")
    parser.add_argument(
        "--camera",
        help="a webcam index (0), a stream URL (rtsp://, http://) or a video file played at its "
        "own rate as a camera would give it: recorded for --seconds and analysed, or with --live "
        "shown live",
    )
    parser.add_argument(
        "--seconds", type=finite, default=10.0, help="camera recording length (default 10)"
    )
    parser.add_argument(
        "--show", action="store_true", help="show the camera picture while recording"
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="with --camera: a window with each face's box, smoothed emotion, probability bars "
        "and a timeline of the last 30 s; q quits, s saves frames.csv, summary.json and "
        "timeline.png of the session into --out (the shipped model on torch unless --runtime "
        "onnx: faster per frame where the CPU has bf16)",
    )
    parser.add_argument(
        "--smoothing",
        type=finite,
        default=1.0,
        help="seconds over which each face's probabilities are averaged (0: off; default 1)",
    )
    parser.add_argument(
        "--min-face",
        type=int,
        default=40,
        help="--live: smallest face searched for, in pixels (default 40; smaller is slower)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="compile the network before the first frame (torch.compile: 10-20 s once, then "
        "about two thirds of the time a face takes on a CPU); for --live and long videos",
    )
    args = parser.parse_args(argv)
    if args.margin is not None and args.margin <= -0.5:
        parser.error("--margin must be greater than -0.5 (the crop needs a size)")
    if args.camera is None and not args.videos:
        parser.error("give video files or --camera N")
    if args.live and args.camera is None:
        parser.error("--live needs --camera (a webcam index, stream URL or video file)")
    if args.smoothing < 0:
        parser.error("--smoothing must be 0 (off) or positive")
    if args.min_face < 12:
        parser.error("--min-face must be at least 12 pixels (MTCNN's smallest window)")
    if args.fps < 0:
        parser.error("--fps must be 0 (every frame) or positive")
    if args.seconds <= 0:
        parser.error("--seconds must be positive (the camera recording's length)")

    # Deferred: torch and OpenCV load only once the arguments are known good (fast --help).
    from fer.framing import Framing
    from fer.inference.frames import camera_source
    from fer.inference.loading import ModelLoadError, load_predictor
    from fer.inference.video import VideoError, analyze_video
    from fer.modelinfo import CheckpointError

    if problem := output_problem(args.out, folder=True):
        print(f"fer-video: error: {problem}", file=sys.stderr)
        return 1
    framing = None if args.margin is None else Framing.from_margin(args.margin)
    try:
        if args.camera is not None:
            args.camera = camera_source(args.camera)
        # Files and recordings: a short job, start-up counts (fer.inference.loading); a live
        # view or a compiled network runs long enough for torch's faster kernels to count.
        short_job = not (args.live or args.compile)
        predictor = load_predictor(resolve_model(args.model), args.runtime, short_job)
        if args.compile and hasattr(predictor, "compile"):  # torch only
            compiled = predictor.compile(args.tta or ("none" if args.live else None))
            if compiled.compiled:
                print(f"fer-video: compiled in {compiled.compile_seconds:.0f} s", file=sys.stderr)
        if args.live:
            return run_live(args, predictor, framing)
        videos, short = list(args.videos), None
        if args.camera is not None:
            recording, short = record_camera(args.camera, args.seconds, args.out, args.show)
            videos.append(recording)
            if short is not None:
                print(
                    f"fer-video: warning: camera {args.camera} stopped giving frames after "
                    f"{short} of {args.seconds:g} s; what it gave is analysed",
                    file=sys.stderr,
                )
        labels = read_labels(args, videos, predictor.classes)
    except (CheckpointError, ModelLoadError, VideoError, ValueError, OSError) as e:
        print(f"fer-video: error: {e}", file=sys.stderr)
        return 1
    results, failed = [], 0
    for video in videos:
        bar = tqdm(total=100, desc=video.name[:30], unit="%", bar_format="{l_bar}{bar}| {elapsed}")
        try:
            summary = analyze_video(
                predictor,
                video,
                args.out / video.stem,
                args.fps,
                not args.no_video,
                framing,
                progress=lambda share, bar=bar: bar.update(round(share * 100) - bar.n),
                smoothing_s=args.smoothing,
                tta=args.tta,
            )
            bar.update(100 - bar.n)
            results.append(summary)
            if early := summary.get("ends_early"):
                tqdm.write(
                    f"fer-video: warning: {video} decodes only to {early['decoded_s']} s of the "
                    f"{early['stated_s']} s its container states (truncated or damaged file)",
                    file=sys.stderr,
                )
            if not summary["frames_with_face"]:
                tqdm.write(
                    f"fer-video: warning: no face found in {video} "
                    f"({summary['frames_sampled']} frames sampled; frames.csv shows the gaps)",
                    file=sys.stderr,
                )
        except VideoError as e:
            failed += 1
            tqdm.write(f"fer-video: error: {e}", file=sys.stderr)
        except OSError as e:  # the results cannot be written (a full disk, a folder removed)
            failed += 1
            tqdm.write(
                f"fer-video: error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr
            )
        finally:
            bar.close()
    if results:
        print(f"\n{'video':34} {'dominant':>9} {'coverage':>9} {'frames':>7} {'seconds':>8}")
        for s in results:
            name, dominant = Path(s["video"]).name[:34], s["dominant_emotion"] or "-"
            print(
                f"{name:34} {dominant:>9} {s['face_coverage']:>9.0%} {s['frames_sampled']:>7} "
                f"{s['seconds']:>8.2f}"
            )
        print(
            f"wrote {args.out}/<video>/frames.csv, summary.json, timeline.png"
            + ("" if args.no_video else ", annotated.mp4")
        )
    if labels and results:
        evaluate_labels(results, labels, args.out)
    return 1 if failed or not results or short is not None else 0


def evaluate_labels(results: list[dict], labels: dict[str, str], out: Path) -> None:
    """Clip accuracy (dominant emotion) and frame accuracy against the given labels."""
    clips, frame_hits, frame_total = [], 0, 0
    for s in results:
        truth = labels.get(s["video"])
        if truth is None:
            continue
        clips.append(s["dominant_emotion"] == truth)
        rows = list(csv.DictReader((out / Path(s["video"]).stem / "frames.csv").open()))
        frame_hits += sum(r["label"] == truth for r in rows if r["face_id"] != "")
        frame_total += sum(r["face_id"] != "" for r in rows)
    if clips:
        clip_acc, frame_acc = sum(clips) / len(clips), frame_hits / max(frame_total, 1)
        print(
            f"clip accuracy (dominant emotion): {sum(clips)}/{len(clips)} = {clip_acc:.0%}; "
            f"frame accuracy: {frame_hits}/{frame_total} = {frame_acc:.0%}"
        )


if __name__ == "__main__":
    sys.exit(main())

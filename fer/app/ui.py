"""The Gradio page: Image, Video, Webcam (snapshot, recording, live view) and Model tabs over
`fer.app.results` and `fer.app.live_view`.

Gradio because it serves a complete page from one Python process with upload, webcam capture,
progress and file download built in, and its front end ships inside the wheel: with analytics
off, system fonts and no share link, the page makes no request beyond the local server.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd  # a Gradio dependency

from fer.app.results import analyze_clip, analyze_photo, model_card
from fer.inference.classifier import FaceClassifier
from fer.inference.rows import header

# System fonts only: the default theme would fetch its font from Google's CDN.
THEME = gr.themes.Default(
    font=["ui-sans-serif", "system-ui", "sans-serif"],
    font_mono=["ui-monospace", "monospace"],
)
LIVE_JS = Path(__file__).with_name("live.js")
LIVE_HTML = """
<div class="fer-live">
  <div class="live-controls">
    <button id="live-start" class="lg primary">Start live view</button>
    <button id="live-stop" class="lg secondary" disabled>Stop</button>
    <label>smoothing <input id="live-smoothing" type="number" value="1" min="0" max="10"
      step="0.5" style="width:4em"> s</label>
    <label><input id="live-smoothed" type="checkbox" checked> show smoothed values</label>
    <button id="live-save" class="lg secondary">Save this session</button>
  </div>
  <div class="live-stage" style="position:relative;display:inline-block;max-width:100%">
    <video id="live-video" muted playsinline style="display:block;max-width:100%"></video>
    <canvas id="live-overlay" style="position:absolute;left:0;top:0;pointer-events:none">
    </canvas>
  </div>
  <canvas id="live-timeline" style="display:block;width:100%;height:80px"></canvas>
  <div id="live-stats">Press Start: the browser asks for the camera.</div>
  <div id="live-saved"></div>
</div>
"""
INTRO = (
    "# fer: facial emotion recognition\n"
    "Upload a photo or a clip, or use the webcam. Faces are found with MTCNN, cropped and "
    "classified into seven emotions by the loaded model; nothing leaves this machine."
)


def photo_input(**kwargs: Any) -> gr.Image:
    """A gr.Image whose unreadable uploads reach the app as a path, so the page can say what is
    wrong instead of failing inside Gradio's own decoding. (It wraps this instance's preprocess:
    a subclass would make Gradio write a .pyi stub beside this module.)"""
    image = gr.Image(**kwargs)
    decode = image.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return decode(payload)
        except Exception:  # not an image: analyze_photo reports it
            return str(payload.path) if payload is not None and payload.path else None

    image.preprocess = preprocess
    return image


def build_app(
    predictor: FaceClassifier,
    model: str | None,
    work_dir: Path | None = None,
    clean_sessions: bool = False,
) -> gr.Blocks:
    """The four-tab page; results are written under `work_dir` (a temporary folder by default),
    one folder per browser session; `clean_sessions`: a session's folder is removed when its
    page is closed."""
    work = Path(work_dir or tempfile.mkdtemp(prefix="fer-app-"))
    columns = header(predictor.classes)  # fer-predict's CSV columns

    def session_dir(request: gr.Request | None) -> Path:
        session = getattr(request, "session_hash", None) or "anonymous"
        return work / "".join(c for c in session if c.isalnum())[:32]

    def new_dir(request: gr.Request | None) -> Path:
        return session_dir(request) / uuid.uuid4().hex[:12]

    def on_unload(request: gr.Request) -> None:
        if clean_sessions:
            shutil.rmtree(session_dir(request), ignore_errors=True)

    def on_photo(path: str | None, request: gr.Request) -> tuple[Any, ...]:
        if not path:
            return "Upload or paste a photo.", None, None, pd.DataFrame(columns=columns), None
        result = analyze_photo(predictor, path, new_dir(request))
        table = pd.DataFrame(result.rows, columns=columns)
        return result.message, result.annotated, _str(result.chart), table, _str(result.csv)

    def on_clip(
        path: str | None,
        fps: float,
        request: gr.Request,
        progress: Any = gr.Progress(),  # noqa: B008 - how Gradio injects its progress bar
    ) -> tuple[Any, ...]:
        if not path:
            return "Upload or record a clip.", None, None, None, None, None
        progress(0.0, desc="analysing")
        result = analyze_clip(
            predictor,
            path,
            new_dir(request),
            fps=fps,
            progress=lambda f: progress(f, desc="analysing"),
        )
        mean = (result.summary or {}).get("mean_probability") or {}
        label = {k: v for k, v in mean.items() if v is not None} or None
        return (
            result.message,
            _str(result.timeline),
            label,
            _str(result.annotated),
            _str(result.frames_csv),
            result.summary,
        )

    card, confusion = model_card(model)
    with gr.Blocks(title="fer", analytics_enabled=False) as app:
        gr.Markdown(INTRO)
        with gr.Tab("Image"):
            photo, photo_outputs = _photo_tab(
                "photo",
                columns,
                sources=["upload", "clipboard"],
                label="Photo",
                elem_id="photo-input",
            )
            photo.change(on_photo, photo, photo_outputs)  # upload, paste and clear
        with gr.Tab("Video"):
            clip = gr.Video(sources=["upload"], label="Clip", elem_id="clip-input")
            fps = gr.Slider(0.5, 5, value=1, step=0.5, label="Sampled frames per second")
            run = gr.Button("Analyse", variant="primary", elem_id="clip-run")
            clip_outputs = _clip_outputs("clip")
            run.click(on_clip, [clip, fps], clip_outputs)
        with gr.Tab("Webcam"):
            gr.Markdown(
                "The browser's camera, live: each face's emotion over the picture as you move, "
                "smoothed over about a second (the setting), with the last 30 seconds below; "
                "*Save this session* writes frames.csv, summary.json and timeline.png as "
                "fer-video does for a clip. Or take a snapshot, or record a few seconds to "
                "analyse (the server needs no camera)."
            )
            gr.HTML(LIVE_HTML, js_on_load=LIVE_JS.read_text(), elem_id="live")
            snap, snap_outputs = _photo_tab("snap", columns, sources=["webcam"], label="Snapshot")
            snap.change(on_photo, snap, snap_outputs)
            recording = gr.Video(sources=["webcam"], label="Recording")
            cam_fps = gr.Slider(0.5, 5, value=1, step=0.5, label="Sampled frames per second")
            cam_run = gr.Button("Analyse the recording", variant="primary")
            cam_run.click(on_clip, [recording, cam_fps], _clip_outputs("cam"))
        with gr.Tab("Model"):
            gr.Markdown(card, elem_id="model-card")
            if confusion is not None:
                gr.Image(str(confusion), label="Confusion matrix (PrivateTest)", interactive=False)
        app.unload(on_unload)
    return app


def _str(path: Path | None) -> str | None:
    """Gradio's file outputs take str paths."""
    return None if path is None else str(path)


def _photo_tab(
    prefix: str, columns: list[str], **image: Any
) -> tuple[gr.Image, list[gr.components.Component]]:
    """A photo input beside the annotated photo, then the status, bars, table and CSV: the input
    and its outputs in `on_photo`'s order."""
    with gr.Row():
        photo = photo_input(type="filepath", **image)
        annotated = gr.Image(label="Faces", interactive=False, elem_id=f"{prefix}-output")
    status = gr.Markdown(elem_id=f"{prefix}-status")
    bars = gr.Image(label="Emotion probabilities per face", interactive=False)
    table = gr.Dataframe(
        pd.DataFrame(columns=columns), label="Per face (as fer-predict)", elem_id=f"{prefix}-table"
    )
    csv = gr.File(label="Download CSV")
    return photo, [status, annotated, bars, table, csv]


def _clip_outputs(prefix: str) -> list[gr.components.Component]:
    status = gr.Markdown(elem_id=f"{prefix}-status")
    with gr.Row():
        timeline = gr.Image(
            label="Emotions over time", interactive=False, elem_id=f"{prefix}-timeline"
        )
        mean = gr.Label(num_top_classes=7, label="Mean probability", elem_id=f"{prefix}-mean")
    annotated = gr.Video(
        label="Annotated (sampled frames)", interactive=False, elem_id=f"{prefix}-annotated"
    )
    frames = gr.File(label="frames.csv", elem_id=f"{prefix}-frames")
    summary = gr.JSON(label="summary.json", elem_id=f"{prefix}-summary")
    return [status, timeline, mean, annotated, frames, summary]

"""fer-app end to end: the real server on localhost, driven by headless Chromium (Playwright).

Chromium is Debian's (`make test` installs it; Playwright's own browser download needs a CDN).
The tests skip, saying why, only when no Chromium can be found. Screenshots are written outside
the repository, to $FER_TEST_OUTPUT (default: fer-test-output in the temporary directory), for
people to look at. Speed is measured by scripts/bench/bench_app.py, not asserted here.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from fer.app.results import analyze_clip, analyze_photo
from fer.fer2013 import CLASSES
from fer.inference.predictor import Predictor

from conftest import REPO, SHARED, make_camera_video, make_clip

SCREENSHOTS = Path(
    os.environ.get("FER_TEST_OUTPUT", Path(tempfile.gettempdir()) / "fer-test-output")
)
UPLOAD_LIMIT_MB = 2
CHROMIUM = os.environ.get("FER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's own browser checks run it: no sandbox as root, and no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """fer-app with the shipped model on a free local port, its network compiled (--compile)
    as a long live view would run it."""
    work = tmp_path_factory.mktemp("app")
    port = free_port()
    log = (work / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "fer.cli.app", "--port", str(port), "--work-dir", str(work)]
        + ["--max-upload-mb", str(UPLOAD_LIMIT_MB), "--compile"],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        if process.poll() is not None:
            pytest.fail(f"fer-app exited: {(work / 'server.log').read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("fer-app did not answer within 180 s")
    yield url, work / "server.log"
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(app_server):
    """The app's address."""
    return app_server[0]


@pytest.fixture(scope="module")
def playwright():
    """One Playwright per module: the sync API allows only one at a time."""
    if not Path(CHROMIUM).is_file():
        message = f"no Chromium at {CHROMIUM}: install Debian's chromium (make test does)"
        if os.environ.get("CI") == "true":  # CI must run the browser tests, not skip them
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def page(server, playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.requests = []  # every URL the page asks for
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(server)
    page.get_by_text("fer: facial emotion recognition").wait_for(timeout=60_000)
    yield page
    browser.close()


def photo(tmp_path: Path, name: str = "astronaut.png") -> Path:
    from PIL import Image
    from skimage import data

    canvas = Image.new("RGB", (640, 360), (90, 90, 90))  # a 640x360 photo, the face on the left
    canvas.paste(Image.fromarray(data.astronaut()).resize((360, 360)), (0, 0))
    canvas.save(tmp_path / name)
    return tmp_path / name


def clear(page) -> None:
    """The Image tab, its photo input empty (its file input only exists when empty), whatever
    the tests before this one (in any order) left on the shared page."""
    page.get_by_role("tab", name="Image").click()
    remove = page.locator("#photo-input button[aria-label='Remove Image']")
    if remove.count():
        remove.click()


def table(page) -> tuple[list[str], list[list[str]]]:
    """The Dataframe's header and data rows, read through its ARIA grid roles."""
    grid = page.locator("#photo-table [role=grid]")
    header = [h.strip() for h in grid.locator("[role=columnheader]").all_inner_texts()]
    rows = [
        [c.strip() for c in row.locator("[role=gridcell]").all_inner_texts()]
        for row in grid.locator("[role=row]").all()
    ]
    return header, [r for r in rows if r]  # the header row has no grid cells


def test_photo_shows_one_happy_face_with_seven_probabilities(page, tmp_path):
    clear(page)
    started = time.perf_counter()
    page.locator("#photo-input input[type=file]").set_input_files(photo(tmp_path))
    status = page.locator("#photo-status")
    status.get_by_text("1 face found").wait_for(timeout=120_000)
    seconds = time.perf_counter() - started
    header, rows = table(page)
    assert all(c in header for c in CLASSES)
    assert len(rows) == 1
    probs = {c: float(rows[0][header.index(c)]) for c in CLASSES}
    assert max(probs, key=probs.get) == "happy"
    assert rows[0][header.index("label")] == "happy"
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-3)
    assert "happy" in status.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "app_image.png"), full_page=True)
    print(f"upload to result, 640x360 photo: {seconds:.1f} s; {SCREENSHOTS / 'app_image.png'}")


def test_a_file_that_is_not_an_image_gets_a_message(page, tmp_path):
    (tmp_path / "notes.png").write_text("this is not a picture")
    clear(page)
    page.locator("#photo-input input[type=file]").set_input_files(tmp_path / "notes.png")
    page.locator("#photo-status").get_by_text("is not an image").wait_for(timeout=60_000)
    page.screenshot(path=str(SCREENSHOTS / "app_not_an_image.png"), full_page=True)


def test_an_upload_over_the_limit_is_refused_in_the_page(page, tmp_path):
    (tmp_path / "huge.png").write_bytes(os.urandom((UPLOAD_LIMIT_MB + 1) * 1024 * 1024))
    clear(page)
    page.locator("#photo-input input[type=file]").set_input_files(tmp_path / "huge.png")
    page.get_by_text("exceed the maximum allowed size").wait_for(timeout=30_000)


def test_clip_gives_timeline_summary_and_video(page, server, tmp_path):
    clip = make_clip(tmp_path / "astronaut.webm", seconds=4.0)
    page.get_by_role("tab", name="Video").click()
    started = time.perf_counter()
    page.locator("#clip-input input[type=file]").set_input_files(clip)
    page.locator("#clip-input video").wait_for(timeout=60_000)  # uploaded
    page.locator("#clip-run").click()
    status = page.locator("#clip-status")
    status.get_by_text("dominates").wait_for(timeout=180_000)
    seconds = time.perf_counter() - started
    assert "a face in 100% of them" in status.inner_text()
    # What the page shows is what it wrote: the timeline image, the annotated video, the
    # frames.csv it links to (4 sampled frames with one face each) and the summary.
    origin = server.rstrip("/")
    page.wait_for_function(  # the timeline image is shown (loaded, not a broken link)
        "() => { const img = document.querySelector('#clip-timeline img');"
        " return img && img.complete && img.naturalWidth > 0; }",
        timeout=30_000,
    )
    video = page.locator("#clip-annotated video")
    video.wait_for(timeout=30_000)
    assert urllib.request.urlopen(video.get_attribute("src")).read()[:4] == b"\x1aE\xdf\xa3"  # WebM
    link = page.locator("#clip-frames a").first
    href = link.get_attribute("href")
    with urllib.request.urlopen(href if "://" in href else origin + href) as f:
        rows = f.read().decode().splitlines()
    assert rows[0].startswith("time_s,frame,face_id") and len(rows) == 1 + 4
    assert all(row.split(",")[2] == "0" for row in rows[1:])  # one face, one track
    shown = "".join(page.locator("#clip-summary").inner_text().split())
    assert '"frames_sampled":4' in shown and '"face_coverage":1' in shown
    assert page.locator("#clip-mean").get_by_text("happy").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "app_video.png"), full_page=True)
    print(f"upload to result, 4-second clip at 1 fps: {seconds:.1f} s")


@pytest.fixture(scope="module")
def camera_page(server, playwright, tmp_path_factory):
    """A second browser whose camera is a fake one: a shared face video (neutral, then a
    smile), a wall, the astronaut, looped, as a person in front of a webcam would look."""
    clip = SHARED / "video" / "single_face.mp4"  # a man going from neutral to a broad smile
    camera = make_camera_video(
        tmp_path_factory.mktemp("camera") / "camera.y4m", clip=clip if clip.is_file() else None
    )
    fake = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    ]
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + fake)
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(server)
    page.get_by_text("fer: facial emotion recognition").wait_for(timeout=60_000)
    yield page
    browser.close()


def test_live_view_boxes_faces_updates_labels_and_saves(camera_page):
    page = camera_page
    page.get_by_role("tab", name="Webcam").click()
    page.locator("#live-start").click()
    stats = page.locator("#live-stats")
    page.wait_for_function(
        "() => Number(document.querySelector('#live-stats').dataset.frames || 0) >= 10",
        timeout=60_000,
    )
    # The camera loops every 5.4 s: the man (neutral, then smiling), a wall, the astronaut. Watch
    # the labels until each has shown (an event, not a clock: a slow machine takes longer).
    man = (SHARED / "video" / "single_face.mp4").is_file()

    def everything_seen(seen: list[str]) -> bool:
        faces = [s for s in seen if s != "no face"]
        return (
            "no face" in seen  # the wall
            and len({s.split()[0] for s in faces}) >= 2  # a new track after the wall
            and any(s.endswith("happy") for s in faces)  # the smiles
            and (not man or any(s.endswith("neutral") for s in faces))  # the man before
        )

    seen, deadline = [], time.monotonic() + 300  # generous: a bound on the wait, not a measure
    while not everything_seen(seen):
        assert time.monotonic() < deadline, f"labels shown in 300 s: {seen}"
        labels = stats.get_attribute("data-labels")
        if not seen or seen[-1] != labels:
            seen.append(labels)
        time.sleep(0.05)
    fps = float(stats.get_attribute("data-fps"))  # shown, not asserted: bench_app.py times them
    latency = float(stats.get_attribute("data-latency"))
    page.locator("#live").screenshot(path=str(SCREENSHOTS / "app_live.png"))
    page.locator("#live-stop").click()
    page.locator("[data-state=stopped]").wait_for(state="attached", timeout=10_000)
    frames = stats.get_attribute("data-frames")
    time.sleep(1.0)
    assert stats.get_attribute("data-frames") == frames  # stopped means no more frames
    page.locator("#live-save").click()
    page.locator("#live-saved a.live-file").first.wait_for(timeout=60_000)
    folder = Path(page.locator("#live-saved").get_attribute("data-folder"))
    summary = json.loads((folder / "summary.json").read_text())
    assert (
        summary["frames_sampled"] >= int(frames) and summary["dominant_emotion"] == "happy"
    )  # 3.4 of 4.4 s of faces smile
    assert (folder / "timeline.png").stat().st_size > 0
    with (folder / "frames.csv").open() as f:
        assert sum(1 for _ in f) > int(frames)  # a header and a row per frame at least
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "live.json").write_text(json.dumps({"fps": fps, "latency_ms": latency}))
    print(f"live view, 640x480, one face: {fps:.1f} frames/s, median latency {latency:.0f} ms")


def test_the_server_compiled_its_network_before_serving(app_server):
    log = app_server[1].read_text()
    assert "fer-app: compiled in" in log, log[-2000:]
    assert log.index("compiled in") < log.index("serving on")  # before the first frame


def test_model_tab_shows_the_card(page):
    page.get_by_role("tab", name="Model").click()
    card = page.locator("#model-card")
    card.get_by_text("PrivateTest").first.wait_for(timeout=30_000)
    assert "Confusion matrix" in card.inner_text()


def test_no_request_leaves_the_machine(page, server):
    here = urlparse(server).netloc
    outside = [u for u in page.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")]
    outside = [u for u in outside if urlparse(u).netloc != here]
    assert outside == []


def test_analysis_layer_reports_no_face_and_bad_files(tmp_path):
    from PIL import Image

    predictor = Predictor.load()
    Image.new("RGB", (320, 240), (120, 120, 120)).save(tmp_path / "wall.png")
    empty = analyze_photo(predictor, tmp_path / "wall.png", tmp_path / "out")
    assert empty.message.startswith("No face found") and empty.rows[0][1] == ""
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    assert "not an image" in analyze_photo(predictor, tmp_path / "bad.jpg", tmp_path / "o").message
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video")
    broken = analyze_clip(predictor, tmp_path / "bad.mp4", tmp_path / "v")
    assert broken.message.startswith("**bad.mp4**:") and broken.summary is None


def test_fer_app_refuses_a_missing_model_in_one_line(tmp_path, capsys):
    from fer.cli.app import main

    assert main(["--model", str(tmp_path / "nothing")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"fer-app: error: {tmp_path / 'nothing'}: no such checkpoint or run directory"
    )

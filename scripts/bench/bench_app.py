"""Time fer-app in a real browser: upload to result for a photo and for a clip.

Starts `fer-app` on a free local port, drives Debian's Chromium with Playwright, uploads the
photo (Image tab) and the clip (Video tab, sampled at --fps), and prints the seconds from the
upload (or the Analyse click) until the result is on the page, best of --repeat.

    python scripts/bench/bench_app.py --photo photo.png --clip clip20.mp4
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit("bench_app: fer-app exited before serving")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"bench_app: fer-app did not answer within {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--clip", type=Path, required=True)
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--model", help="default: the shipped model")
    args = parser.parse_args()
    for path in (args.photo, args.clip, Path(args.chromium)):
        if not path.is_file():
            sys.exit(f"bench_app: {path} not found")
    from playwright.sync_api import sync_playwright

    port = free_port()
    command = [sys.executable, "-m", "fer.cli.app", "--port", str(port)]
    command += ["--work-dir", tempfile.mkdtemp(prefix="bench-app-")]
    command += ["--model", args.model] if args.model else []
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page()
            photo_s, clip_s = [], []
            for _ in range(args.repeat):
                page.goto(url)
                started = time.perf_counter()
                page.locator("#photo-input input[type=file]").set_input_files(args.photo)
                page.locator("#photo-status").get_by_text("found").wait_for(timeout=300_000)
                photo_s.append(time.perf_counter() - started)
                page.get_by_role("tab", name="Video").click()
                slider = page.locator("input[type=number]").first
                slider.fill(f"{args.fps:g}")
                slider.press("Enter")
                started = time.perf_counter()
                page.locator("#clip-input input[type=file]").set_input_files(args.clip)
                page.locator("#clip-input video").wait_for(timeout=60_000)
                page.locator("#clip-run").click()
                page.locator("#clip-status").get_by_text("dominates").wait_for(timeout=600_000)
                clip_s.append(time.perf_counter() - started)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    best = f"best of {args.repeat}"
    print(f"photo {args.photo.name}: upload to result {min(photo_s):.2f} s ({best})")
    print(
        f"clip {args.clip.name} at {args.fps:g} fps: upload to result {min(clip_s):.2f} s ({best})"
    )


if __name__ == "__main__":
    main()

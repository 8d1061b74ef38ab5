"""The way in stays short and its links resolve; the docs site is built by `make test`
(`mkdocs build --strict`, where a broken link inside the docs fails)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_is_short_and_every_link_resolves():
    text = (ROOT / "README.md").read_text()
    assert len(text.split()) <= 3000
    links = [link.split("#")[0] for link in re.findall(r"\]\(([^)\s]+)\)", text)]
    local = [link for link in links if link and not link.startswith(("http://", "https://"))]
    assert local and all((ROOT / link).exists() for link in local), [
        link for link in local if not (ROOT / link).exists()
    ]


def test_every_docs_page_is_in_the_site_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").glob("*.md")]
    assert pages and all(page in nav for page in pages)

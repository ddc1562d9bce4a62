"""Headless Chromium (Debian's package `chromium`; .ci/run installs it) for tests that check
what a page really shows: the DOM after rendering, and where a reviewer sees each block."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

# As root on a machine with a closed network: no sandbox, and no background connections
# (without those flags Chromium keeps trying to reach Google's hosts).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def chromium() -> str:
    """The Chromium binary; without one a test skips, except in CI, where it fails."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    return found


def dump_dom(page: Path, *flags: str) -> str:
    """The page's DOM after Chromium loaded it (scripts run, layout done)."""
    profile = page.parent / f"chromium-profile-{page.stem}"
    out = subprocess.run([chromium(), *FLAGS, *flags, f"--user-data-dir={profile}", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


PROBE = """<script>
(() => {
  const blocks = [...document.querySelectorAll("body > *, li")].map(e => {
    const r = e.getBoundingClientRect();
    return {tag: e.tagName.toLowerCase(), text: e.innerText, top: r.top, bottom: r.bottom,
            color: getComputedStyle(e).color};
  });
  const pre = document.createElement("pre");
  pre.id = "first-screen-probe";
  pre.textContent = JSON.stringify({width: innerWidth, height: innerHeight, blocks: blocks});
  document.body.appendChild(pre);
})();
</script>"""


def first_screen(page: Path, width: int = 1280, height: int = 800) -> dict[str, Any]:
    """Render a copy of `page` in a width x height window and return the window's inner size
    and every top-level block and list item with its text, vertical extent and colour. The
    copy gets a probe script at its end (the page itself has none); it runs after the page is
    laid out and adds nothing above it."""
    probe = page.with_name(page.stem + "-probe.html")
    probe.write_text(page.read_text("utf-8") + PROBE, "utf-8")
    dom = dump_dom(probe, f"--window-size={width},{height}")
    found = re.search(r'<pre id="first-screen-probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


def shown_without_scrolling(screen: dict[str, Any]) -> list[dict[str, Any]]:
    """The blocks wholly inside the window before any scrolling."""
    return [b for b in screen["blocks"] if b["top"] >= 0 and b["bottom"] <= screen["height"]]

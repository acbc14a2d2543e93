"""Headless Chromium for the UI and report tests: a screenshot, or the DOM after the page's scripts ran."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="Chromium is not installed (apt-get install chromium)")


def chromium(page: str, profile: Path, *action: str, size: str = "1400,900") -> str:
    """Run headless Chromium on `page` with `action` (--screenshot=PATH or --dump-dom); returns stdout."""
    proc = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--no-first-run", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", f"--window-size={size}", "--virtual-time-budget=20000",
                           *action, page], capture_output=True, text=True, timeout=180, check=True)
    return proc.stdout


def assert_not_blank(shot: Path) -> None:
    """The screenshot has many colors and some dark (text) pixels."""
    from PIL import Image

    image = Image.open(shot).convert("L")
    colors = image.getcolors(maxcolors=1 << 16) or []
    assert len(colors) > 50, f"{shot.name}: the page rendered (nearly) a single color"
    dark = sum(count for count, value in colors if value < 128)
    assert dark > 0.001 * image.width * image.height, f"{shot.name}: no text drawn"

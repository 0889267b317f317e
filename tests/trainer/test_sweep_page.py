"""The level sweep page: self-contained, and its slider changes the shown image in a real
headless browser (Debian's chromium through chromedriver)."""
import json
import re

import numpy as np
import pytest

from trainer.adapters import LevelScale
from trainer.sweep import Sweep, marker_percent, sweep_html

from .browser import headless_browser


def _sweep(estimated=23.0):
    scale = LevelScale.for_op("gaussian_noise", [15, 35, 55, 75])
    values = (5.0, 15.0, 25.0, 35.0)
    rng = np.random.default_rng(0)
    outputs = tuple(np.full((12, 16, 3), 40 * (i + 1), np.uint8) for i in range(len(values)))
    image = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    return Sweep("photo", scale, image, values, outputs, estimated)


def _frames(page: str) -> list[dict]:
    match = re.search(r'<script id="frames" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def test_page_embeds_everything_and_marks_the_estimate():
    page = sweep_html(_sweep())
    frames = _frames(page)
    assert [f["level"] for f in frames] == [5.0, 15.0, 25.0, 35.0]
    assert [f["extrapolated"] for f in frames] == [True, False, False, False]
    sources = re.findall(r'src="([^"]*)"', page) + [f["src"] for f in frames]
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"https?://|<link|@import|url\(", page)  # nothing fetched
    assert 'value="2"' in page  # starts at the frame nearest the estimate (25 for 23)
    assert 'style="left:60.00%"' in page  # (23 - 5) / (35 - 5)
    assert "estimated sigma 23" in page
    assert "no estimate" in sweep_html(_sweep(None))


def test_marker_position_is_linear_and_clipped():
    assert marker_percent([5, 75], 40) == pytest.approx(50.0)
    assert marker_percent([5, 75], 100) == 100.0 and marker_percent([5, 75], 0) == 0.0


def test_slider_changes_the_shown_image_in_a_headless_browser(tmp_path):
    page = sweep_html(_sweep(estimated=5.0))
    frames = _frames(page)
    path = tmp_path / "sweep.html"
    path.write_text(page, encoding="utf-8")
    with headless_browser() as browser:
        browser.open(path.as_uri())
        slider, output = browser.find("#level"), browser.find("#output")
        caption = browser.find("#caption")
        assert browser.property(output, "src") == frames[0]["src"]
        assert "sigma 5" in browser.text(caption) and "outside" in browser.text(caption)
        browser.press(slider, "ArrowRight")
        assert browser.property(slider, "value") == "1"
        assert browser.property(output, "src") == frames[1]["src"] != frames[0]["src"]
        assert browser.text(caption) == "restored at sigma 15"
        browser.press(slider, "End")
        assert browser.property(output, "src") == frames[-1]["src"]
        assert browser.property(browser.find("#input"), "naturalWidth") == 16

"""A level sweep: one image restored by a level adapter at a series of levels, and the page that
shows it (one self-contained HTML file: images embedded as data URLs, plain JavaScript, nothing
fetched): a slider moves through the outputs, the input beside them, the estimated level marked
on the slider."""
from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from torch import nn

from trainer.adapters.levels import LevelScale


@dataclass(frozen=True)
class Sweep:
    """The outputs of one image at `values` (natural units of `scale`), and the estimate."""

    name: str
    scale: LevelScale
    image: np.ndarray
    values: tuple[float, ...]
    outputs: tuple[np.ndarray, ...]
    estimated: float | None = None


def run_sweep(model: nn.Module, name: str, image: np.ndarray, scale: LevelScale,
              values: Sequence[float], device="cpu", tile: int | None = None,
              estimated: float | None = None, progress=None) -> Sweep:
    """Restore `image` once per value with the model's level adapter at that value."""
    from trainer.adapters import set_level
    from trainer.restore import restore_image

    outputs = []
    for value in (progress(values) if progress else values):
        set_level(model, scale.level(value))
        outputs.append(restore_image(model, image, device, tile=tile))
    return Sweep(name, scale, image, tuple(float(v) for v in values), tuple(outputs), estimated)


def png_data_url(image: np.ndarray) -> str:
    from pipelines.codecs import encode_png
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")


def nearest_index(values: Sequence[float], value: float) -> int:
    return int(np.argmin(np.abs(np.asarray(values) - value)))


def marker_percent(values: Sequence[float], value: float) -> float:
    """Where `value` sits along the slider (0-100, from the first to the last value)."""
    first, last = float(values[0]), float(values[-1])
    if last == first:
        return 0.0
    return float(np.clip((value - first) / (last - first), 0.0, 1.0) * 100.0)


def sweep_html(sweep: Sweep) -> str:
    """The page: every image a data URL, the frames as JSON, a few lines of plain JS."""
    scale, values = sweep.scale, sweep.values
    frames = [{"level": v, "label": f"{scale.symbol} {v:g}",
               "extrapolated": not scale.inside(v), "src": png_data_url(out)}
              for v, out in zip(values, sweep.outputs)]
    start = nearest_index(values, sweep.estimated) if sweep.estimated is not None else 0
    if sweep.estimated is not None:
        marker = (f'<div id="estimate" style="left:{marker_percent(values, sweep.estimated):.2f}%"'
                  f' title="estimated {scale.symbol} {sweep.estimated:.3g}">&#9650; estimated '
                  f'{html.escape(scale.symbol)} {sweep.estimated:.3g}</div>')
    else:
        marker = '<div id="estimate" class="none">no estimate (run without an estimator)</div>'
    return PAGE.format(
        title=html.escape(f"Level sweep of {sweep.name}"),
        name=html.escape(sweep.name), unit=html.escape(scale.unit), op=html.escape(scale.op),
        trained=html.escape(scale.describe_range()), input_src=png_data_url(sweep.image),
        first_src=frames[start]["src"], first_label=html.escape(frames[start]["label"]),
        last=len(frames) - 1, start=start, marker=marker,
        low=html.escape(frames[0]["label"]), high=html.escape(frames[-1]["label"]),
        frames=json.dumps(frames).replace("</", "<\\/"))


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
.row {{ display: flex; gap: 1.5em; flex-wrap: wrap; align-items: flex-start; }}
figure {{ margin: 0; }}
figure img {{ width: min(44vw, 640px); image-rendering: pixelated; border: 1px solid #ccc; }}
figcaption {{ text-align: center; margin-top: .3em; }}
.slider {{ position: relative; width: min(90vw, 46em); margin: 1.2em 0 2.5em; }}
.slider input {{ width: 100%; }}
#estimate {{ position: absolute; top: 1.9em; transform: translateX(-0.5em); color: #b00;
  font-size: .9em; white-space: nowrap; }}
#estimate.none {{ position: static; transform: none; color: #777; }}
.ends {{ display: flex; justify-content: space-between; font-size: .85em; color: #555; }}
.extrapolated {{ color: #b60; }}
</style>
</head>
<body>
<h1>Level sweep: {name}</h1>
<p>Op {op}, levels in {unit}; the adapter was trained on {trained}. Move the slider (or use the
arrow keys) to restore the image at another level.</p>
<div class="slider">
<input type="range" id="level" min="0" max="{last}" step="1" value="{start}"
 aria-label="degradation level">
<div class="ends"><span>{low}</span><span>{high}</span></div>
{marker}
</div>
<div class="row">
<figure><img id="input" alt="input" src="{input_src}"><figcaption>input</figcaption></figure>
<figure><img id="output" alt="restored" src="{first_src}">
<figcaption id="caption">restored at {first_label}</figcaption></figure>
</div>
<script id="frames" type="application/json">{frames}</script>
<script>
(function () {{
  var frames = JSON.parse(document.getElementById("frames").textContent);
  var slider = document.getElementById("level");
  var output = document.getElementById("output");
  var caption = document.getElementById("caption");
  function show() {{
    var frame = frames[Number(slider.value)];
    output.src = frame.src;
    caption.textContent = "restored at " + frame.label +
      (frame.extrapolated ? " (outside the trained range)" : "");
    caption.className = frame.extrapolated ? "extrapolated" : "";
  }}
  slider.addEventListener("input", show);
  slider.addEventListener("change", show);
  show();
}})();
</script>
</body>
</html>
"""

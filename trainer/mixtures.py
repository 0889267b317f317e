"""Mixed-degradation test sets: clean crops degraded by two or three task families in turn, at a
chosen strength, with the chain record of every image (the labels oracle routing reads).

A mixture is a tuple of task families (trainer.tasks.TASKS: blur, noise, rain, jpeg) applied in
the order a camera would (blur, then rain, then noise, then JPEG). For each family one op is
drawn from the family's ops, and its params are drawn from the engine's sampler until the op's
level (degrade's severity, in [0, 1]) falls in the strength's band; everything is a function of
(seed, mixture, strength, index). A set on disk is a paired folder `NAME/lq`, `NAME/gt` (PNG,
same stems) and `NAME/labels.json` ({"format", "mixture", "strength", "band", "images": {stem:
chain record}}), readable by `trainer eval --data` and `--weights oracle --labels`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from degrade.errors import ConfigError, KitError

LABELS_NAME = "labels.json"
LABELS_FORMAT = "colora-kit/mixed-labels"
ANY_IMAGE = "*"  # the key of a labels mapping read from a single chain record
FAMILY_ORDER = ("blur", "rain", "noise", "jpeg")
MIXTURES: dict[str, tuple[str, ...]] = {
    "noise+jpeg": ("noise", "jpeg"),
    "blur+noise": ("blur", "noise"),
    "blur+jpeg": ("blur", "jpeg"),
    "blur+noise+jpeg": ("blur", "noise", "jpeg"),
    "rain+noise": ("rain", "noise"),
}
# Level bands in [0, 1]: both lie above every op's visibility floor and inside what the
# engine's samplers reach (docs/composition.md lists them in natural units).
STRENGTHS: dict[str, tuple[float, float]] = {"light": (0.15, 0.35), "heavy": (0.45, 0.75)}
MAX_DRAWS = 400


class LabelsError(KitError):
    """A labels file that cannot be read or does not cover an image."""


@dataclass(frozen=True)
class MixedSet:
    """One mixture at one strength: (name, lq, gt) pairs and each image's chain record."""

    mixture: str
    strength: str
    pairs: tuple
    records: dict

    @property
    def name(self) -> str:
        return f"{self.mixture}-{self.strength}"


def mixture_families(name: str) -> tuple[str, ...]:
    """The families of a named mixture, or of any '+'-joined family list (in camera order)."""
    from trainer.tasks import TASKS

    if name in MIXTURES:
        return MIXTURES[name]
    families = tuple(name.split("+"))
    unknown = [f for f in families if f not in TASKS]
    if unknown or len(set(families)) != len(families) or not families:
        raise ConfigError("mixtures", f"{name!r} is not a mixture: join two or more distinct "
                                      f"families of {', '.join(TASKS)} with '+' (named ones: "
                                      f"{', '.join(MIXTURES)})")
    return tuple(sorted(families, key=FAMILY_ORDER.index))


def strength_band(strength: str) -> tuple[float, float]:
    if strength not in STRENGTHS:
        raise ConfigError("strengths", f"{strength!r} is not one of {', '.join(STRENGTHS)}")
    return STRENGTHS[strength]


def draw_in_band(op, rng: np.random.Generator, shape, band: tuple[float, float]) -> dict:
    """Params of `op` (record form) whose level lies in `band`: the engine's sampler, redrawn
    until it does; after MAX_DRAWS the draw closest to the band's centre."""
    low, high = band
    best, best_gap = None, np.inf
    for _ in range(MAX_DRAWS):
        params = op.draw(rng, tuple(shape))
        level = op.severity.level(op.decode(params))
        if low <= level <= high:
            return params
        gap = abs(level - (low + high) / 2)
        if gap < best_gap:
            best, best_gap = params, gap
    return best


def stream_member(families: Sequence[str], strength: str) -> int:
    """The member of seed stream `mixed_test` for (families, strength): the families as bits
    of FAMILY_ORDER (4 bits), times two, plus the strength's index (2): 0..31."""
    bits = sum(1 << FAMILY_ORDER.index(family) for family in families)
    return 2 * bits + list(STRENGTHS).index(strength)


def degrade_mixture(clean: np.ndarray, families: Sequence[str], band: tuple[float, float],
                    seed: int) -> tuple[np.ndarray, dict]:
    """(degraded image, chain record): one op per family, in order, each at a level in `band`."""
    from degrade.chain import RECORD_VERSION, apply_chain
    from degrade.registry import OPS
    from trainer.tasks import TASKS

    rng = np.random.default_rng(seed)
    ops = []
    for family in families:
        choices = TASKS[family]
        name = choices[int(rng.integers(len(choices)))]
        ops.append({"name": name, "params": draw_in_band(OPS[name], rng, clean.shape, band)})
    names = [step["name"] for step in ops]
    record = {"version": RECORD_VERSION, "seed": str(int(seed)), "mode": "prod",
              "pool": list(dict.fromkeys(names)), "max_length": len(ops),
              "min_length": len(ops), "ops": ops}
    return apply_chain(clean, ops), record


def clean_crops(sources: Sequence[Path] | None, crop: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """(stem, clean crop) per source image in sorted order: the centre crop of `crop` pixels
    (0: the whole image). Default sources: the embedded images."""
    from pipelines.sources import embedded_default_sources, load_image

    paths = sorted(sources) if sources is not None else embedded_default_sources()
    if not paths:
        raise ConfigError("src", "no clean images to degrade")
    return [(Path(p).stem, centre_crop(load_image(p), crop)) for p in paths]


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central size x size window (the whole image when size is 0; edge-padded when the
    image is smaller)."""
    if size <= 0:
        return image
    height, width = image.shape[:2]
    if height < size or width < size:
        image = np.pad(image, ((0, max(0, size - height)), (0, max(0, size - width)), (0, 0)),
                       mode="edge")
        height, width = image.shape[:2]
    y, x = (height - size) // 2, (width - size) // 2
    return np.ascontiguousarray(image[y:y + size, x:x + size])


def mixed_set(mixture: str, strength: str, clean: Sequence[tuple[str, np.ndarray]],
              seed: int = 0) -> MixedSet:
    """Every clean image degraded by `mixture` at `strength`; same arguments, same bytes."""
    from degrade.seeding import MIXED_TEST, sample_seed

    families, band = mixture_families(mixture), strength_band(strength)
    member = stream_member(families, strength)
    pairs, records = [], {}
    for index, (stem, image) in enumerate(clean):
        image_seed = sample_seed(seed, index, MIXED_TEST, member)
        lq, record = degrade_mixture(image, families, band, image_seed)
        pairs.append((stem, lq, image))
        records[stem] = record
    return MixedSet(mixture, strength, tuple(pairs), records)


def labels_document(mixed: MixedSet) -> dict:
    return {"format": LABELS_FORMAT, "mixture": mixed.mixture, "strength": mixed.strength,
            "band": list(STRENGTHS[mixed.strength]), "images": mixed.records}


def write_mixed_set(mixed: MixedSet, folder: Path) -> Path:
    """`folder/lq`, `folder/gt` (PNG) and `folder/labels.json`, each file written atomically;
    labels.json last, so a set without it is an unfinished one."""
    from pipelines.codecs import encode_png
    from pipelines.files import write_bytes_atomically, write_text_atomically

    for stem, lq, gt in mixed.pairs:
        write_bytes_atomically(folder / "lq" / f"{stem}.png", encode_png(lq))
        write_bytes_atomically(folder / "gt" / f"{stem}.png", encode_png(gt))
    return write_text_atomically(folder / LABELS_NAME,
                                 json.dumps(labels_document(mixed), indent=1) + "\n")


def read_labels(path) -> dict[str, dict]:
    """{image stem: chain record} from a labels.json of make-mixed, a plain {stem: record}
    mapping, or one chain record (`degrade apply`'s JSON) that labels every image; a folder
    means its labels.json. LabelsError naming the file otherwise."""
    path = Path(path)
    if path.is_dir():
        path = path / LABELS_NAME
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabelsError(f"{path}: no such labels file (make-mixed writes one beside lq/ and "
                          f"gt/)") from None
    except (OSError, ValueError) as error:
        raise LabelsError(f"{path}: not a readable labels JSON file ({error})") from None
    if isinstance(document, dict) and isinstance(document.get("ops"), list):
        return {ANY_IMAGE: document}  # one chain record (degrade apply's): every image's
    images = document.get("images", document) if isinstance(document, dict) else None
    if not isinstance(images, dict) or not all(isinstance(v, dict) for v in images.values()):
        raise LabelsError(f"{path}: expected {{\"images\": {{stem: chain record}}}}")
    return images


def record_for(labels: dict[str, dict], stem: str, source) -> dict:
    if ANY_IMAGE in labels:
        return labels[ANY_IMAGE]
    if stem not in labels:
        raise LabelsError(f"{source}: no label for image {stem!r}")
    return labels[stem]

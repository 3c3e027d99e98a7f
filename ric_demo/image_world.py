"""The image demo world: coloured shapes on plain backgrounds, striped from faintly to boldly, 16x16 pixels.

Rewards: ``jpeg_compressibility`` (the real reward class, after upscaling to 64 px so small images
differ measurably) against ``toy_stripes`` (power of horizontal stripes of a 4-pixel period). Stripes
cost bytes, so the two conflict; leftover diffusion noise earns neither (noise is incompressible and
has almost no power at one exact frequency), so the model cannot win by noise. Caption compliance is
measured separately, per image (``compliance``: the dominant colour and background are the captioned
ones) and per pixel (``pixel_compliance``).

The five-reward world (``build_dataset(five=True)``, for ``ric study objectives`` and ``correlation``) also
varies each shape's size, place and fill lightness, scored by ``toy_shape_size``, ``toy_centred`` and
``toy_fill_light`` (``rewards.toy_shapes``: 0 for anything but one shape on a plain background); any 2-5 of
``REWARD_NAMES`` can be the objectives, and ``rho`` sets the correlation of one pair of factors.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ric_demo.copula import copula_uniforms

COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 70, 220),
    "yellow": (230, 210, 40),
    "magenta": (200, 50, 200),
    "cyan": (40, 200, 210),
}
BACKGROUNDS = {"white": (245, 245, 245), "grey": (128, 128, 128), "black": (15, 15, 15)}
SHAPES = ("square", "circle", "cross")
SIZE = 16
# Stripe contrast is uniform over [0, 0.75] with no separate mass of plain shapes: quantile targets then
# ask for visibly different contrasts all along the sweep (with 20% plain shapes, the lowest 30% of
# stripe levels were all "plain" and the top of the sweep was a plateau decided by noise).
FLAT_SHARE, CONTRAST = 0.0, (0.0, 0.75)
REWARDS = [{"name": "jpeg_compressibility", "size": 64}, "toy_stripes"]
# The five-reward world (``ric study objectives / correlation``): the demo's two rewards, then the shape's
# size, centring and fill lightness (``rewards.toy_shapes``), each set by one factor of how a picture is drawn.
REWARD_NAMES = ["jpeg_compressibility", "toy_stripes", "toy_shape_size", "toy_centred", "toy_fill_light"]
FACTORS = {  # the factor behind each reward but JPEG size (which every factor moves): its uniform range
    "toy_stripes": (0.0, 0.75),  # stripe contrast
    "toy_shape_size": (3.5, 6.5),  # half-size in pixels
    "toy_centred": (0.0, 1.0),  # 1: at the centre, 0: as far out as the margin allows
    "toy_fill_light": (0.55, 1.0),  # the fill colour's scale
}
PAIR = ("toy_shape_size", "toy_fill_light")  # the pair whose correlation ``rho`` sets


def reward_specs(names: Sequence[str]) -> list[Any]:
    """The trainer's ``rewards`` list for reward names of this world (JPEG size measured at 64 px)."""
    return [REWARDS[0] if n == "jpeg_compressibility" else n for n in names]


HELD_OUT = [
    ("cyan", "circle", "grey"),
    ("yellow", "square", "black"),
    ("red", "cross", "white"),
    ("blue", "circle", "white"),
    ("green", "cross", "grey"),
    ("magenta", "square", "black"),
]


def caption(colour: str, shape: str, bg: str) -> str:
    return f"a {colour} {shape} on a {bg} background"


def shape_mask(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    if shape == "square":
        return (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    if shape == "circle":
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= (r + 0.5) ** 2
    arm = max(1.5, r / 2.5)  # cross: two bars
    return ((np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= arm)) | ((np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= arm))


def draw(colour: str, shape: str, bg: str, contrast: float, rng: np.random.Generator) -> np.ndarray:
    """One image (16, 16, 3) uint8 of the demo's world: the shape at a random size and place, with
    horizontal stripes of the given contrast (0 = flat)."""
    r = rng.uniform(5.0, 6.5)
    cx, cy = rng.uniform(r + 1, SIZE - r - 1, 2)
    return draw_shape(colour, shape, bg, contrast, r, cx, cy)


def draw_shape(
    colour: str, shape: str, bg: str, contrast: float, r: float, cx: float, cy: float, light: float = 1.0
) -> np.ndarray:
    """One image (16, 16, 3) uint8: the shape of half-size ``r`` at (cx, cy), its fill scaled by ``light``,
    dark stripes of ``contrast`` across it (rows in a 4-pixel period)."""
    img = np.empty((SIZE, SIZE, 3), np.float64)
    img[:] = BACKGROUNDS[bg]
    mask = shape_mask(shape, cx, cy, r)
    fill = light * np.array(COLOURS[colour], np.float64)
    stripes = (np.arange(SIZE) // 2) % 2 == 1  # rows in dark stripes: a 4-pixel period
    shade = np.where(stripes[:, None, None], 1.0 - contrast, 1.0)
    img[mask] = (fill * shade.repeat(SIZE, 1))[mask]
    return np.clip(img, 0, 255).round().astype(np.uint8)


def five_factors(n: int, rng: np.random.Generator, rho: float = 0.0, pair: Sequence[str] = PAIR) -> np.ndarray:
    """(n, 4) stripe contrast, half-size, centring and fill lightness of the five-reward world's shapes,
    uniform each, drawn by a Gaussian copula whose ``pair`` (reward names) correlates at ``rho``."""
    u = copula_uniforms(n, rng, list(FACTORS), pair, rho)
    lo, hi = np.array([f[0] for f in FACTORS.values()]), np.array([f[1] for f in FACTORS.values()])
    return lo + u * (hi - lo)


def draw_five(colour: str, shape: str, bg: str, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One image of the five-reward world: ``factors`` is one row of ``five_factors``; the shape sits at a
    random angle from the centre, ``1 - centring`` of the way to where it would touch the border's margin."""
    contrast, r, centring, light = factors
    angle, room = rng.uniform(0, 2 * np.pi), SIZE / 2 - r - 1  # room: the farthest the centre may move
    off = (1 - centring) * room
    c = SIZE / 2 + off * np.array([np.cos(angle), np.sin(angle)])
    return draw_shape(colour, shape, bg, contrast, r, c[0], c[1], light)


def all_combinations() -> list[tuple[str, str, str]]:
    return [(c, s, b) for c in COLOURS for s in SHAPES for b in BACKGROUNDS]


def build_dataset(
    root: Path, n: int, seed: int, five: bool = False, rho: float = 0.0, pair: Sequence[str] = PAIR
) -> Path:
    """An imagefolder (metadata.jsonl) of ``n`` training images; held-out combinations excluded. ``five``:
    the five-reward world (shapes also vary in size, place and lightness; ``rho`` correlates ``pair``)."""
    folder = root / "images"
    marker = root / "done.json"
    key = {"n": n, "seed": seed, "flat_share": FLAT_SHARE, "contrast": list(CONTRAST), "version": 2}
    if five:
        key |= {"version": 3, "factors": FACTORS, "rho": rho, "pair": list(pair)}
    if marker.exists() and json.loads(marker.read_text()) == json.loads(json.dumps(key)):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    factors = five_factors(n, rng, rho, pair) if five else None
    combos = [c for c in all_combinations() if c not in HELD_OUT]
    rows = []
    for i in range(n):
        colour, shape, bg = combos[rng.integers(len(combos))]
        if factors is not None:
            img = draw_five(colour, shape, bg, factors[i], rng)
        else:
            contrast = 0.0 if rng.random() < FLAT_SHARE else float(rng.uniform(*CONTRAST))
            img = draw(colour, shape, bg, contrast, rng)
        Image.fromarray(img).save(folder / f"{i:05d}.png")
        rows.append({"file_name": f"{i:05d}.png", "text": caption(colour, shape, bg)})
    (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    marker.write_text(json.dumps(key))
    return folder


def _pixel_classes(im, min_chroma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: chromatic?, nearest colour by angle in RGB (any brightness of red is red: stripes are
    the fill's own dark shades), nearest background by brightness. Each (P,)."""
    dirs = np.array(list(COLOURS.values()), np.float64)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)  # (6, 3) unit colour directions
    levels = np.array([np.mean(v) for v in BACKGROUNDS.values()])  # (3,) grey levels
    px = np.asarray(im.convert("RGB"), np.float64).reshape(-1, 3)  # (P, 3)
    unit = px / np.maximum(np.linalg.norm(px, axis=1, keepdims=True), 1e-6)
    chromatic = px.max(1) - px.min(1) >= min_chroma
    return chromatic, np.argmax(unit @ dirs.T, axis=1), np.argmin(np.abs(px.mean(1)[:, None] - levels[None]), axis=1)


def _caption_ids(cap: str) -> tuple[int, int]:
    words = cap.split()  # "a {colour} {shape} on a {bg} background"
    return list(COLOURS).index(words[1]), list(BACKGROUNDS).index(words[-2])


def compliance(images: list, captions: list[str], min_chroma: float = 30.0) -> np.ndarray:
    """Per image, 1.0 when the picture shows the caption: its dominant colour is the captioned colour
    and its dominant background shade the captioned background; else 0.0.

    Pictures of noise, wrong colours or wrong backgrounds fail; blur at the edges of stripes does not
    (``pixel_compliance`` measures that, pixel by pixel).
    """
    out = []
    for im, cap in zip(images, captions, strict=True):
        chromatic, hue, level = _pixel_classes(im, min_chroma)
        colour, bg = _caption_ids(cap)
        colour_ok = chromatic.any() and np.bincount(hue[chromatic], minlength=len(COLOURS)).argmax() == colour
        bg_ok = (~chromatic).any() and np.bincount(level[~chromatic], minlength=len(BACKGROUNDS)).argmax() == bg
        out.append(float(colour_ok and bg_ok))
    return np.array(out)


def pixel_compliance(images: list, captions: list[str], min_chroma: float = 30.0) -> np.ndarray:
    """Per image: share of pixels in the captioned colour (chromatic pixels) or background (the rest)."""
    out = []
    for im, cap in zip(images, captions, strict=True):
        chromatic, hue, level = _pixel_classes(im, min_chroma)
        colour, bg = _caption_ids(cap)
        out.append(np.where(chromatic, hue == colour, level == bg).mean())
    return np.array(out)


def pretrain_base(data: Path, model_dir: Path, steps: int, seed: int, batch_size: int = 32) -> None:
    """Caption-conditioned pre-training of the tiny pixel UNet *and* its text encoder: the world's 'base model'.

    A randomly initialised CLIP text encoder left frozen gives captions that differ too little for the
    UNet to learn colours from in a few hundred steps, so both are trained here, as SD's were before
    anyone fine-tuned them. RiC then fine-tunes the UNet with a LoRA through ric_diffusion, the
    text encoder frozen, as it would fine-tune SD 1.5.
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    from ric_diffusion.config import ModelConfig
    from ric_diffusion.latent_cache import image_transform
    from ric_diffusion.models import load_components
    from ric_diffusion.objective import diffusion_target

    torch.manual_seed(seed)
    comps = load_components(ModelConfig(pretrained=str(model_dir), pixel_space=True))
    rows = [json.loads(line) for line in (data / "metadata.jsonl").read_text().splitlines()]
    tf = image_transform(SIZE)
    pixels = torch.stack([tf(Image.open(data / r["file_name"]).convert("RGB")) for r in rows])  # (N, 3, 16, 16)
    captions = sorted({r["text"] for r in rows} | {""})
    tok = comps.tokenizer
    ids = tok(captions, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
    index = torch.tensor([captions.index(r["text"]) for r in rows])
    empty = captions.index("")
    unet, text_encoder, sched = comps.unet, comps.text_encoder, comps.noise_scheduler
    params = [*unet.train().requires_grad_(True).parameters(), *text_encoder.train().requires_grad_(True).parameters()]
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    warmup = max(1, steps // 20)
    lr = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    gen = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(steps), desc="pre-train base", unit="step"):
        b = torch.randint(0, len(rows), (batch_size,), generator=gen)
        x, cap = pixels[b], index[b].clone()
        cap[torch.rand(batch_size, generator=gen) < 0.1] = empty  # caption dropout for guidance
        states = text_encoder(ids.input_ids)[0][cap]  # all U captions at once (U ~ 50, L tokens), then gather
        noise = torch.randn(x.shape, generator=gen)
        t = torch.randint(0, sched.config.num_train_timesteps, (batch_size,), generator=gen)
        pred = unet(sched.add_noise(x, noise, t), t, encoder_hidden_states=states).sample
        F.mse_loss(pred, diffusion_target(sched, x, noise, t)).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        lr.step()
        opt.zero_grad()
    unet.eval().save_pretrained(model_dir / "unet")
    text_encoder.eval().save_pretrained(model_dir / "text_encoder")

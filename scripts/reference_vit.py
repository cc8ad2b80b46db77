"""Writes the Vision Transformer fixtures:

- Tests/ModelsTests/Fixtures/tiny-vit/: a small random `ViTForImageClassification`
  (`save_pretrained`, safetensors) and its `preprocessor_config.json` (ImageNet mean/std,
  `do_convert_rgb: true`), as Hugging Face writes them;
- Tests/ModelsTests/Fixtures/images/: small test images (PNG in every colour type PIL
  writes, a hand-written 16-bit RGB PNG, baseline, progressive and grayscale JPEGs)
  and broken files;
- Tests/ModelsTests/Fixtures/vit-reference.json: for every good image the array Hugging
  Face's processor resizes (after its RGB conversion), the resized 8-bit image, the
  `pixel_values` and the logits of the tiny ViT; the same for shipped digits with the
  sample model samples/models/vit-digits; what PIL says about each broken file;
- Tests/AttributionTests/Fixtures/vit-attribution.json: relevances of every method
  (per token = class token + patches, and per pixel) for both models.

The images are read as a user would: `PIL.Image.open(path)` passed to the processor
loaded with `AutoImageProcessor.from_pretrained(folder)`. transformers 5's
`ViTImageProcessor` is the torchvision backend; without torchvision (as here) it falls
back to `ViTImageProcessorPil`, which these fixtures use and name. The processor's
resize is re-computed by an independent numpy model of PIL's bilinear filter and the
RGB conversion by PIL's documented rules, so the notes in vit-reference.json are
checked statements, not guesses.

The attribution forward pass is written out in torch from the checkpoint tensors (the
names in model.safetensors) and checked against `transformers` logits first; the rules
are those of reference_attribution.py (gradient, gradxinput, single hooks, lrp,
integrated gradients) and reference_attnlrp.py (attnlrp with LXT's rule functions),
and both `lrp` and `attnlrp` are checked against Hugging Face's own ViT code patched
with LXT's functions.

The expected values of the models (logits in vit-reference.json; logits, target_logit,
baseline_logit, relevance and pixel_relevance in vit-attribution.json; written to 7
significant digits) are computed in float64 from the float32 checkpoints and the
processor's float32 pixel_values (both held exactly). The same computation is then run
again in float32 (same code, the float64 run's target, torch's default kernels, 2 threads),
with the same checks, and each entry records under `float32_deviation` PyTorch float32's
own deviation from float64, its compared keys mirrored with every array replaced by
max |float32 − float64|. pixel_values are the processor's float32 output itself (the
input, not a model computation) and have no deviation. Run through `make reference` after
`make train-samples`.
"""

import copy
import json
import struct
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import PIL
import torch
import torch.nn.functional as F
import transformers
import transformers.models.vit.modeling_vit as modeling_vit
from PIL import Image, JpegImagePlugin, features
from safetensors.torch import load_file
from transformers import AutoImageProcessor, ViTConfig, ViTForImageClassification
from transformers.image_transforms import convert_to_rgb
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_attnlrp import patches, rules  # noqa: E402  (LXT 2.1 rules.py/patches.py by file path)
from reference_attribution import DTYPES, float32_deviation, gelu, layer_norm  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODEL_FIXTURES = ROOT / "Tests" / "ModelsTests" / "Fixtures"
ATTRIBUTION_FIXTURES = ROOT / "Tests" / "AttributionTests" / "Fixtures"
TINY = MODEL_FIXTURES / "tiny-vit"
IMAGES = MODEL_FIXTURES / "images"
SAMPLE = ROOT / "samples" / "models" / "vit-digits"
DIGITS = ROOT / "samples" / "data"
TINY_SEED = 20261128
IMAGE_SEED = 7
HOOKS = ["layernorm", "attention", "gelu"]
IG_STEPS = 32
PIXEL_METHODS = ["gradient", "gradxinput", "lrp", "attnlrp", f"integrated-gradients@{IG_STEPS}"]
LOGIT_TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-5}
COMPARED = ["logits", "target_logit", "baseline_logit", "relevance", "pixel_relevance"]
RELATIVE_TOLERANCE = 1e-4  # LXT-patched transformers vs this harness, relative to max |R|
TINY_ATTRIBUTION_IMAGES = ["rgb-23x19.png", "rgb-40x37.png", "palette-22x17.png"]
DIGIT_LABELS = ["0", "3", "7", "8"]  # the first shipped test image of each of these labels
DIGIT_ATTRIBUTION_LABELS = ["3", "7", "8"]


def rel(path):
    return str(Path(path).resolve().relative_to(ROOT))


def r7(x):
    if isinstance(x, dict):
        return {k: r7(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [r7(v) for v in x]
    return float(f"{x:.7g}")


# ---------------------------------------------------------------------------------------
# The tiny model

def randomize(model, seed):
    """Weights large enough that attention is far from uniform and GELU far from linear
    (the scheme of reference_models.py: N(0, 0.3²), LayerNorm γ = 1 + N(0, 0.3²),
    β = N(0, 0.2²)), rounded to float16 values."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "layernorm" in name:
                base, spread = (1.0, 0.3) if name.endswith("weight") else (0.0, 0.2)
                parameter.copy_(base + spread * torch.randn(parameter.shape, generator=generator))
            else:
                parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
            parameter.copy_(parameter.half().float())


def write_tiny_vit():
    config = ViTConfig(
        image_size=16, patch_size=4, num_channels=3, hidden_size=16, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=32, hidden_act="gelu",
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=1e-12,
        id2label={0: "sky", 1: "grass", 2: "sand"}, label2id={"sky": 0, "grass": 1, "sand": 2})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_SEED)
        model = ViTForImageClassification(config).eval()
    randomize(model, TINY_SEED)
    TINY.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(TINY), safe_serialization=True)
    (TINY / "model.safetensors").chmod(0o644)  # transformers writes it owner-only
    ViTImageProcessorPil(
        do_resize=True, size={"height": 16, "width": 16}, resample=PILImageResampling.BILINEAR,
        do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=list(IMAGENET_DEFAULT_MEAN), image_std=list(IMAGENET_DEFAULT_STD),
        do_convert_rgb=True).save_pretrained(str(TINY))
    saved = json.loads((TINY / "preprocessor_config.json").read_text())
    assert saved["do_convert_rgb"] is True and saved["image_mean"] == list(IMAGENET_DEFAULT_MEAN), saved


# ---------------------------------------------------------------------------------------
# Test images

def smooth(rng, height, width, channels, noise=3.0):
    """A smooth random pattern (a few plane waves and a ramp) with a little noise, 0..255."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    out = []
    for _ in range(channels):
        value = 128 + 60 * (x / width - y / height) * rng.uniform(-1, 1)
        for _ in range(3):
            fx, fy = rng.uniform(-0.5, 0.5, size=2)
            value += rng.uniform(20, 45) * np.sin(fx * x + fy * y + rng.uniform(0, 2 * np.pi))
        value += rng.normal(0, noise, size=value.shape)
        out.append(value)
    return np.clip(np.rint(np.stack(out, -1)), 0, 255).astype(np.uint8)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width, height, bit_depth, colour_type, rows):
    """A minimal PNG (filter 0 on every row), for what PIL cannot write."""
    raw = b"".join(b"\x00" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def write_images():
    """Good images {file: description} and broken files {file: description}."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    for old in IMAGES.iterdir():
        old.unlink()
    rng = np.random.default_rng(IMAGE_SEED)
    good = {}

    def save(name, image, description, **options):
        image.save(IMAGES / name, **options)
        good[name] = description

    save("rgb-23x19.png", Image.fromarray(smooth(rng, 19, 23, 3), "RGB"),
         "8-bit RGB, 23×19: upscaled to 16×16 vertically, downscaled horizontally", optimize=True)
    save("rgb-40x37.png", Image.fromarray(smooth(rng, 37, 40, 3), "RGB"),
         "8-bit RGB, 40×37: downscaled in both directions (the filter widens: antialiasing)",
         optimize=True)
    save("rgb-16x16.png", Image.fromarray(smooth(rng, 16, 16, 3), "RGB"),
         "8-bit RGB at the model size: PIL returns a copy, no resampling", optimize=True)
    save("gray-21x18.png", Image.fromarray(smooth(rng, 18, 21, 1)[..., 0], "L"),
         "8-bit grayscale (mode L)", optimize=True)
    gray_alpha = np.concatenate([smooth(rng, 22, 18, 1), np.linspace(0, 255, 22 * 18).reshape(22, 18, 1)
                                 .astype(np.uint8)], -1)
    save("gray-alpha-18x22.png", Image.fromarray(gray_alpha, "LA"),
         "8-bit grayscale with alpha (mode LA), alpha 0..255", optimize=True)
    rgba = np.concatenate([smooth(rng, 24, 20, 3), smooth(rng, 24, 20, 1, noise=0)], -1)
    rgba[:3, :, 3] = 0
    rgba[-3:, :, 3] = 255
    save("rgba-20x24.png", Image.fromarray(rgba, "RGBA"),
         "8-bit RGBA, alpha 0 in the first rows, 255 in the last, smooth between", optimize=True)
    palette = Image.fromarray(smooth(rng, 17, 22, 3), "RGB").quantize(colors=16, method=Image.Quantize.MEDIANCUT)
    save("palette-22x17.png", palette, "palette (mode P, 16 colours, no transparency)", optimize=True)
    transparent = Image.fromarray(smooth(rng, 20, 19, 3), "RGB").quantize(colors=8, method=Image.Quantize.MEDIANCUT)
    save("palette-transparent-19x20.png", transparent,
         "palette (mode P, 8 colours) with colour 0 transparent (tRNS)", transparency=0, optimize=True)
    gray16 = (smooth(rng, 21, 19, 1, noise=0)[..., 0].astype(np.float64) * 600 / 255).astype(np.uint16)
    save("gray16-19x21.png", Image.fromarray(gray16),
         "16-bit grayscale (PIL mode I;16), values 0..600: PIL clips to 255 on conversion")
    rgb16 = (smooth(rng, 15, 17, 3, noise=0).astype(np.uint16) * 257 + rng.integers(0, 257, (15, 17, 3))
             ).astype(">u2")
    (IMAGES / "rgb16-17x15.png").write_bytes(png_bytes(17, 15, 16, 2, [r.tobytes() for r in rgb16]))
    good["rgb16-17x15.png"] = "16-bit RGB (written by this script; PIL decodes it to RGB with the high byte)"
    save("baseline-26x22.jpg", Image.fromarray(smooth(rng, 22, 26, 3), "RGB"),
         "baseline JPEG, quality 90, PIL's default 4:2:0 chroma subsampling", quality=90)
    save("progressive-33x29.jpg", Image.fromarray(smooth(rng, 29, 33, 3), "RGB"),
         "progressive JPEG, quality 90, 4:2:0", quality=90, progressive=True)
    save("gray-24x20.jpg", Image.fromarray(smooth(rng, 20, 24, 1)[..., 0], "L"),
         "grayscale baseline JPEG, quality 90", quality=90)

    bad = {}
    whole = (IMAGES / "rgb-40x37.png").read_bytes()
    (IMAGES / "truncated.png").write_bytes(whole[:len(whole) // 2])
    bad["truncated.png"] = "the first half of rgb-40x37.png"
    ihdr = lambda w, h: png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    (IMAGES / "huge-dimensions.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + ihdr(100000, 100000) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 301))
        + png_chunk(b"IEND", b""))
    bad["huge-dimensions.png"] = "IHDR claims 100000×100000 RGB (valid CRC), one short IDAT"
    (IMAGES / "zero-size.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + ihdr(0, 0) + png_chunk(b"IDAT", zlib.compress(b"")) + png_chunk(b"IEND", b""))
    bad["zero-size.png"] = "IHDR claims 0×0 (valid CRC; the PNG standard forbids 0)"
    (IMAGES / "not-an-image.png").write_text("This is a text file, not a PNG image.\n")
    bad["not-an-image.png"] = "plain text with a .png name"
    whole = (IMAGES / "baseline-26x22.jpg").read_bytes()
    scan = whole.index(b"\xff\xda")  # start of scan: headers before, entropy-coded data after
    (IMAGES / "truncated.jpg").write_bytes(whole[:scan + (len(whole) - scan) // 2])
    bad["truncated.jpg"] = ("baseline-26x22.jpg cut in the middle of its scan data (headers intact, no EOI); "
                            "libjpeg only warns (JWRN_JPEG_EOF, \"Premature end of JPEG file\") and pads the image")
    (IMAGES / "truncated-header.jpg").write_bytes(whole[:scan // 2])
    bad["truncated-header.jpg"] = "baseline-26x22.jpg cut in the middle of its headers"
    return good, bad


def pil_verdict(path):
    return _pil_verdict(path).replace(str(path), rel(path))


def _pil_verdict(path):
    try:
        with Image.open(path) as image:
            header = f"opens as {image.mode} {image.size[0]}×{image.size[1]}"
            image.load()
            return header + ", loads"
    except Exception as error:  # noqa: BLE001 - what PIL says is the point
        try:
            with Image.open(path) as image:
                return f"opens as {image.mode} {image.size[0]}×{image.size[1]}; load() fails: " \
                       f"{type(error).__name__}: {error}"
        except Exception:  # noqa: BLE001
            return f"Image.open fails: {type(error).__name__}: {error}"


# ---------------------------------------------------------------------------------------
# Independent models of what the processor does (checked against it)

def to_rgb(image):
    """Hugging Face's convert_to_rgb as stated in the notes: an image with an alpha band or
    PIL `transparency` info is composited on opaque white, round((c·a + 255·(255 − a)) / 255);
    anything else goes through PIL's convert("RGB")."""
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        rgba = np.array(image.convert("RGBA")).astype(np.int64)
        c, a = rgba[..., :3], rgba[..., 3:]
        return (((c * a + 255 * (255 - a)) * 2 + 255) // 510).astype(np.uint8)  # floor(x / 255 + 1/2)
    return np.array(image.convert("RGB"))


def bilinear_coefficients(in_size, out_size):
    """PIL's BILINEAR weights (Resample.c): triangle of support max(scale, 1), taps inside the
    image only, normalised, then 22-bit fixed point rounded half away from zero."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = filter_scale
    rows = []
    for i in range(out_size):
        center = (i + 0.5) * scale
        low = max(int(center - support + 0.5), 0)
        high = min(int(center + support + 0.5), in_size)
        weights = [max(0.0, 1 - abs((j - center + 0.5) * (1.0 / filter_scale))) for j in range(low, high)]
        total = 0.0
        for w in weights:
            total += w
        weights = np.array(weights) / total
        fixed = np.where(weights < 0, -0.5, 0.5) + weights * (1 << 22)
        rows.append((low, np.trunc(fixed).astype(np.int64)))
    return rows


def resample_axis(image, out_size, axis):
    image = np.moveaxis(image.astype(np.int64), axis, 0)
    out = np.empty((out_size,) + image.shape[1:], dtype=np.int64)
    for i, (low, k) in enumerate(bilinear_coefficients(image.shape[0], out_size)):
        total = (1 << 21) + np.tensordot(k, image[low:low + len(k)], axes=(0, 0))
        out[i] = np.clip(total >> 22, 0, 255)
    return np.moveaxis(out, 0, axis)


def pil_bilinear(array, height, width):
    """uint8 H×W×C → height×width×C in two passes with an 8-bit image between them; a pass is
    skipped when its size does not change. Pillow 13 (python-pillow/Pillow#9549) runs the
    vertical pass first when the height shrinks by more than twice as many pixels as the
    width does, the horizontal pass first otherwise (older Pillow: always horizontal first)."""
    in_height, in_width = array.shape[:2]
    vertical_first = in_height > height and in_height - height > 2 * (in_width - width)
    out = array
    for axis in ((0, 1) if vertical_first else (1, 0)):
        size = (height, width)[axis]
        if out.shape[axis] != size:
            out = resample_axis(out, size, axis).astype(np.uint8)
    return out.astype(np.uint8)


def normalise(resized, mean, std):
    x = (resized.astype(np.float64) * (1 / 255)).astype(np.float32)
    return ((x - np.array(mean, np.float32)[None, None]) / np.array(std, np.float32)[None, None]).transpose(2, 0, 1)


def processed(processor, path, channels):
    """What the processor makes of the file, checked step by step against the models above."""
    with Image.open(path) as image:
        image.load()
        pixel_values = processor(image, return_tensors="np")["pixel_values"][0]
        array = to_rgb(image) if channels == 3 else np.array(image)[..., None]
        if channels == 3:
            assert (convert_to_rgb(image, return_numpy=True) == array).all(), path
        mode, size, info = image.mode, image.size, image.info
        sampling = JpegImagePlugin.get_sampling(image) if image.format == "JPEG" else None
        progressive = bool(info.get("progressive") or info.get("progression")) if image.format == "JPEG" else None
        with Image.fromarray(array[..., 0] if channels == 1 else array) as rgb:
            pil = np.array(rgb.resize((processor.size["width"], processor.size["height"]),
                                      resample=processor.resample))
    pil = pil.reshape(pil.shape[0], pil.shape[1], channels)
    resized = pil_bilinear(array, processor.size["height"], processor.size["width"])
    assert (resized == pil).all(), (path, "numpy model of PIL's bilinear filter disagrees")
    mine = normalise(resized, processor.image_mean, processor.image_std)
    assert (mine == pixel_values).all(), (path, np.abs(mine - pixel_values).max())
    entry = {"image": rel(path), "mode": mode, "size": list(size), "decoded": {
        "shape": list(array.shape), "data": array.reshape(-1).tolist()},
             "resized": {"shape": list(resized.shape), "data": resized.reshape(-1).tolist()}}
    if sampling is not None:
        entry["jpeg"] = {"progressive": progressive, "subsampling": {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(
            sampling, "none (one component)" if sampling == -1 else str(sampling))}
    return entry, pixel_values


# ---------------------------------------------------------------------------------------
# The attribution harness

def attention(q, k, v, heads, detach, attnlrp):
    b, t, d = q.shape
    split = lambda x: x.view(b, t, heads, d // heads).transpose(1, 2)
    scores = split(q) @ split(k).transpose(-1, -2)
    if attnlrp:
        scores = rules.divide_gradient(scores, 2)
    probabilities = (scores * (d // heads) ** -0.5).softmax(-1)
    if detach:
        probabilities = probabilities.detach()
    context = probabilities @ split(v)
    if attnlrp:
        context = rules.divide_gradient(context, 2)
    return context.transpose(1, 2).reshape(b, t, d)


class ViTReference:
    """ViTForImageClassification as explicit torch operations on the tensors of model.safetensors,
    in `dtype`."""

    def __init__(self, folder, dtype=torch.float64):
        self.config = ViTConfig.from_pretrained(str(folder))
        self.dtype = dtype
        self.p = {k: v.to(dtype) for k, v in load_file(str(folder / "model.safetensors")).items()}
        self.eps = self.config.layer_norm_eps

    def linear(self, name, x):
        return x @ self.p[name + ".weight"].T + self.p[name + ".bias"]

    def ln(self, name, x, hooks, attnlrp):
        weight, bias = self.p[name + ".weight"], self.p[name + ".bias"]
        if attnlrp:
            return patches.layer_norm_forward(SimpleNamespace(eps=self.eps, weight=weight, bias=bias), x)
        return layer_norm(x, weight, bias, self.eps, "layernorm" in hooks)

    def embed(self, pixels):
        """[CLS; patches × one GEMM] + positions, for pixel_values [B, C, H, W]."""
        b, c, h, w = pixels.shape
        p = self.config.patch_size
        patches_ = pixels.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)
        weight = self.p["vit.embeddings.patch_embeddings.projection.weight"]
        x = patches_ @ weight.reshape(weight.shape[0], -1).T + self.p["vit.embeddings.patch_embeddings.projection.bias"]
        cls = self.p["vit.embeddings.cls_token"].expand(b, 1, -1)
        return torch.cat([cls, x], 1) + self.p["vit.embeddings.position_embeddings"]

    def logits(self, e, hooks=frozenset(), attnlrp=False):
        x = e
        for i in range(self.config.num_hidden_layers):
            l = f"vit.encoder.layer.{i}."
            h = self.ln(l + "layernorm_before", x, hooks, attnlrp)
            c = attention(self.linear(l + "attention.attention.query", h), self.linear(l + "attention.attention.key", h),
                          self.linear(l + "attention.attention.value", h), self.config.num_attention_heads,
                          "attention" in hooks, attnlrp)
            x = x + self.linear(l + "attention.output.dense", c)
            h = self.linear(l + "intermediate.dense", self.ln(l + "layernorm_after", x, hooks, attnlrp))
            h = rules.identity_rule_implicit(F.gelu, h) if attnlrp else gelu(h, "gelu" in hooks)
            x = x + self.linear(l + "output.dense", h)
        return self.linear("classifier", self.ln("vit.layernorm", x[:, 0], hooks, attnlrp))

    def backward(self, pixels, target, hooks=frozenset(), attnlrp=False):
        """(e, ∂f/∂e, ∂f/∂pixels) for f = the target logit."""
        leaf = pixels.detach().clone().requires_grad_(True)
        e = self.embed(leaf)
        e.retain_grad()
        self.logits(e, hooks, attnlrp)[0, target].backward()
        return e.detach(), e.grad, leaf.grad


def integrated_gradients(ref, pixels, baseline, target, rule):
    """The straight path from the black image to the image (in pixel space; the embedding is
    affine, so it is the straight path between the two embeddings), with the quadrature of
    reference_attribution.py: Gauss–Legendre nodes (default) or the midpoint rule."""
    if rule == "gauss-legendre":
        nodes, weights = np.polynomial.legendre.leggauss(IG_STEPS)
        alphas, weights = (nodes + 1) / 2, weights / 2
    else:
        alphas, weights = (np.arange(IG_STEPS) + 0.5) / IG_STEPS, np.full(IG_STEPS, 1 / IG_STEPS)
    alphas = torch.tensor(alphas, dtype=pixels.dtype)[:, None, None, None]
    path = (baseline + alphas * (pixels - baseline)).detach().requires_grad_(True)
    e_path = ref.embed(path)
    e_path.retain_grad()
    (ref.logits(e_path)[:, target] * torch.tensor(weights, dtype=pixels.dtype)).sum().backward()
    with torch.no_grad():
        e, e0 = ref.embed(pixels), ref.embed(baseline)
    tokens = ((e - e0)[0] * e_path.grad.sum(0)).sum(-1)
    pixel = ((pixels - baseline)[0] * path.grad.sum(0)).sum(0)
    return tokens, pixel


def explain(ref, pixels, baseline, target=None):
    """Every method's token and pixel relevance for `target` (None = the predicted class), in the
    dtype of `ref` (pixels and baseline in the same dtype); lists and numbers, not rounded."""
    with torch.no_grad():
        logits = ref.logits(ref.embed(pixels))[0]
        baseline_logits = ref.logits(ref.embed(baseline))[0]
    if target is None:
        target = int(logits.argmax())
    tokens, pixel = {}, {}
    e, g, gp = ref.backward(pixels, target)
    tokens["gradient"], pixel["gradient"] = g[0].norm(dim=-1), gp[0].norm(dim=0)
    tokens["gradxinput"], pixel["gradxinput"] = (e * g)[0].sum(-1), (pixels * gp)[0].sum(0)
    for name, hooks, attnlrp in [*[(f"gradxinput+{h}", {h}, False) for h in HOOKS],
                                 ("lrp", set(HOOKS), False), ("attnlrp", set(), True)]:
        e, g, gp = ref.backward(pixels, target, hooks, attnlrp)
        tokens[name], pixel[name] = (e * g)[0].sum(-1), (pixels * gp)[0].sum(0)
    for rule, key in (("gauss-legendre", f"integrated-gradients@{IG_STEPS}"),
                      ("riemann-middle", f"integrated-gradients@{IG_STEPS}/riemann-middle")):
        tokens[key], pixel[key] = integrated_gradients(ref, pixels, baseline, target, rule)
    return {"target": target, "logits": logits.tolist(), "target_logit": logits[target].item(),
            "baseline_logit": baseline_logits[target].item(),
            "relevance": {k: v.tolist() for k, v in tokens.items()},
            "pixel_relevance": {k: v.tolist() for k, v in pixel.items() if k in PIXEL_METHODS}}


def lxt_transformers_relevance(folder, pixels, target, mode):  # in the dtype of `pixels`
    """Token and pixel relevance from Hugging Face's own ViT code with LXT's functions patched in:
    every nn.LayerNorm → patches.layer_norm_forward, the MLP's GELU → patches.non_linear_forward
    (rules.identity_rule_implicit on the original activation),
    eager attention wrapped by patches.wrap_attention_forward (attnlrp: q, k ÷ 4, v ÷ 2 in the
    backward pass) or patches.cp_wrap_attention_forward (cp-lrp: q, k through stop_gradient).
    This is LXT's own ViT map (lxt.efficient.models.vit_torch.cp_LRP, written for torchvision)
    applied to transformers' modules, and LXT's generic AttnLRP attention patch."""
    model = ViTForImageClassification.from_pretrained(str(folder), attn_implementation="eager").eval()
    model.to(pixels.dtype)
    wrap = patches.wrap_attention_forward if mode == "attnlrp" else patches.cp_wrap_attention_forward
    original = modeling_vit.eager_attention_forward
    modeling_vit.eager_attention_forward = wrap(original)
    try:
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.forward = patches.layer_norm_forward.__get__(module)
            if isinstance(module, modeling_vit.ViTMLP) and not hasattr(module.activation_fn, "original_forward"):
                activation = module.activation_fn  # LXT's patch of nn.GELU: identity_rule_implicit(original, x)
                activation.original_forward = activation.forward
                activation.forward = patches.non_linear_forward.__get__(activation)
        store = {}

        def keep(module, inputs, output):
            output.retain_grad()
            store["e"] = output
        model.vit.embeddings.register_forward_hook(keep)
        leaf = pixels.detach().clone().requires_grad_(True)
        model(pixel_values=leaf).logits[0, target].backward()
    finally:
        modeling_vit.eager_attention_forward = original
    return (store["e"] * store["e"].grad)[0].sum(-1).detach(), (pixels * leaf.grad)[0].sum(0)


def deviation(a, b):
    return ((torch.as_tensor(a) - torch.as_tensor(b)).abs().max() / torch.as_tensor(b).abs().max()).item()


def explain_checked(folder, ref, pixels, baseline, target=None):
    """explain() in the dtype of `ref` (pixels and baseline are cast to it), with `lrp` and
    `attnlrp` checked against transformers' ViT patched with LXT's functions in the same dtype
    (lxt_check_*: the max deviation relative to max |R|, tokens and pixels)."""
    pixels, baseline = pixels.to(ref.dtype), baseline.to(ref.dtype)
    result = explain(ref, pixels, baseline, target)
    for mode, key in (("attnlrp", "attnlrp"), ("cp-lrp", "lrp")):
        tokens, pixel = lxt_transformers_relevance(folder, pixels, result["target"], mode)
        worst = max(deviation(result["relevance"][key], tokens), deviation(result["pixel_relevance"][key], pixel))
        assert worst < RELATIVE_TOLERANCE, (folder, mode, ref.dtype, worst)
        result[f"lxt_check_{key}"] = float(f"{worst:.3g}")
    return result


# ---------------------------------------------------------------------------------------

NOTES = {
    "processor": (
        "transformers 5's ViTImageProcessor is the torchvision backend; without torchvision it falls back to "
        "ViTImageProcessorPil (PIL + numpy), which made these values. preprocessor_config.json says "
        "\"ViTImageProcessor\" either way. The torchvision backend (not installed here) resizes tensors with "
        "torchvision and was not compared."),
    "steps": (
        "pixel_values = normalise(rescale(resize(to_rgb(PIL.Image.open(file))))) as [C, H, W]: resize to "
        "size.height×size.width with PIL BILINEAR on the 8-bit image (`resized`), then x = float32(float64(u) * "
        "rescale_factor), then (x - mean) / std in float32."),
    "do_convert_rgb": (
        "absent or false (the processor's default, None): no conversion; the PIL image becomes np.array(image): "
        "L → 1 channel, RGBA → 4, P → palette indices (1 channel), I;16 → ValueError (values outside [0, 255]); "
        "with a 3-channel mean/std every mode but RGB then fails (ValueError: mean must have N elements). "
        "true (tiny-vit's preprocessor_config.json): transformers.image_transforms.convert_to_rgb: if 'A' is "
        "a band or image.info has 'transparency' (LA, RGBA, P with tRNS): convert('RGBA') and composite over "
        "opaque white, c' = round((c·a + 255·(255 − a)) / 255) (PIL's integer alpha_composite; equal to that "
        "rounding for all 65,536 (c, a) pairs); otherwise image.convert('RGB'): L → (L, L, L), P → palette "
        "colours, I;16 → min(v, 255) in every channel (Pillow clips, it does not scale). A caller's own "
        ".convert('RGB') differs only for alpha: it drops alpha instead of compositing "
        "(entry 'rgba-20x24.png' with conversion 'caller-convert-rgb')."),
    "sixteen_bit": (
        "Pillow decodes a 16-bit grayscale PNG to mode I;16 (full values; converting clips to 255) but a 16-bit "
        "RGB PNG straight to mode RGB keeping the high byte (v >> 8). libpng's png_set_strip_16 also keeps the "
        "high byte, so to match, a 16-bit gray PNG must be clipped (min(v, 255)), not stripped."),
    "digits_model": (
        "vit-digits has num_channels 1 and no do_convert_rgb: its mode-L PNGs go through as one channel with "
        "mean [0.5] and std [0.5]."),
    "resize": (
        "PIL BILINEAR on 8-bit data (Resample.c), separable, two passes with an 8-bit image between them; a pass "
        "is skipped when that size does not change (same size → a copy). Order (Pillow 13, "
        "python-pillow/Pillow#9549): vertical first iff in_h > out_h and in_h − out_h > 2·(in_w − out_w), else "
        "horizontal first (Pillow ≤ 12: always horizontal first); the order changes results by ±1. For output i of "
        "an axis: scale = in/out, fs = max(scale, 1), center = (i + 0.5)·scale, taps j from "
        "max(int(center − fs + 0.5), 0) to min(int(center + fs + 0.5), in) − 1 with weight "
        "max(0, 1 − |(j − center + 0.5)/fs|), normalised to sum 1, then k = trunc(w·2^22 ± 0.5) (sign of w); "
        "out = clip((2^21 + Σ k·u) >> 22, 0, 255). Upscaling (fs = 1) is plain half-pixel bilinear with edge "
        "clamping; downscaling widens the triangle to fs input pixels (antialiasing, not point sampling). "
        "This description is re-computed in numpy by reference_vit.py and matches PIL exactly on every image here "
        "(and on 400 random sizes 1…89, 1 and 3 channels, when it was written)."),
    "fields": (
        "per image: mode and size (width, height) as PIL opens the file; decoded = the uint8 array the processor "
        "resizes (H, W, C; after the RGB conversion for tiny-vit), resized = the uint8 array after the resize "
        "(H, W, C), pixel_values = [C][H][W] float32 rounded to 7 significant digits, logits of the model in "
        "`folder`; jpeg = progressive flag and chroma subsampling of the file."),
}


def main():
    torch.set_num_threads(2)
    write_tiny_vit()
    good, bad = write_images()
    jpeg_decoder = {
        "library": f"libjpeg-turbo {features.version('libjpeg_turbo')} (bundled with Pillow {PIL.__version__})",
        "settings": "libjpeg defaults: dct_method JDCT_ISLOW, do_fancy_upsampling TRUE, no scaling (PIL changes "
                    "these only in draft mode, which the processor does not use), out_color_space RGB "
                    "(grayscale for a 1-component file). When this script was written, the system libjpeg-turbo "
                    "2.1.5 (Debian 12, libjpeg62-turbo) with the same defaults decoded the three JPEGs here to the "
                    "same bytes as Pillow (checked with a small C program, not part of this script)."}
    notes = dict(NOTES, jpeg=jpeg_decoder, versions={
        "transformers": transformers.__version__, "torch": torch.__version__, "Pillow": PIL.__version__,
        "numpy": np.__version__})

    reference = {"notes": notes}
    attribution = {}
    for name, folder, channels in (("tiny-vit", TINY, 3), ("vit-digits", SAMPLE, 1)):
        processor = AutoImageProcessor.from_pretrained(str(folder))
        assert isinstance(processor, ViTImageProcessorPil), type(processor)
        model = ViTForImageClassification.from_pretrained(str(folder)).eval()
        models = {torch.float64: copy.deepcopy(model).double(), torch.float32: model}
        refs = {dtype: ViTReference(folder, dtype) for dtype in DTYPES}
        if name == "tiny-vit":
            files = [(IMAGES / f, good[f], "processor") for f in good]
            files.append((IMAGES / "rgba-20x24.png", "8-bit RGBA, converted by the caller", "caller-convert-rgb"))
            chosen = TINY_ATTRIBUTION_IMAGES
        else:
            records = [json.loads(line) for line in (DIGITS / "digits_test.jsonl").read_text().splitlines()]
            first = {}
            for record in records:
                first.setdefault(record["label"], record["image"])
            files = [(DIGITS / first[label], f"shipped test digit, label {label}", "processor")
                     for label in DIGIT_LABELS]
            chosen = [Path(first[label]).name for label in DIGIT_ATTRIBUTION_LABELS]
        entries, explained = [], []
        for path, description, conversion in files:
            if conversion == "caller-convert-rgb":
                with Image.open(path) as image:
                    converted = image.convert("RGB")
                pixel_values = processor(converted, return_tensors="np")["pixel_values"][0]
                entry = {"image": rel(path), "mode": "RGBA", "size": list(converted.size),
                         "resized": {"shape": [16, 16, 3], "data": np.array(converted.resize(
                             (16, 16), resample=processor.resample)).reshape(-1).tolist()}}
            else:
                entry, pixel_values = processed(processor, path, channels)
            pixels = torch.tensor(pixel_values)[None]  # float32, held exactly in float64
            logits = {}
            for dtype, ref in refs.items():
                x = pixels.to(dtype)
                with torch.no_grad():
                    theirs = models[dtype](pixel_values=x).logits[0]
                    mine = ref.logits(ref.embed(x))[0]
                    for hooks, attnlrp in ((set(HOOKS), False), (set(), True)):
                        other = ref.logits(ref.embed(x), hooks, attnlrp)[0]
                        assert (other - theirs).abs().max() < LOGIT_TOLERANCE[dtype], (path, other, theirs)
                assert (mine - theirs).abs().max() < LOGIT_TOLERANCE[dtype], (path, mine, theirs)
                logits[dtype] = theirs.tolist()
            expected = {"logits": logits[torch.float64]}
            entry.update({"description": description, "conversion": conversion,
                          "pixel_values": r7(pixel_values.tolist()), "logits": r7(expected["logits"]),
                          "float32_deviation": float32_deviation({"logits": logits[torch.float32]}, expected,
                                                                 ["logits"])})
            entries.append(entry)
            if path.name in chosen and conversion == "processor":
                black = Image.new("RGB" if channels == 3 else "L", (8, 8))
                baseline = torch.tensor(processor(black, return_tensors="np")["pixel_values"])
                result = explain_checked(folder, refs[torch.float64], pixels, baseline)
                float32 = explain_checked(folder, refs[torch.float32], pixels, baseline, result["target"])
                explained.append({"image": rel(path), "pixel_values": r7(pixel_values.tolist()),
                                  "baseline_pixel_values": r7(baseline[0, :, 0, 0].tolist()),
                                  "target": result["target"], **{k: r7(result[k]) for k in COMPARED},
                                  **{k: v for k, v in result.items() if k.startswith("lxt_check_")},
                                  "float32_deviation": float32_deviation(float32, result, COMPARED)})
        reference[name] = {"folder": rel(folder), "images": entries}
        attribution[name] = explained
        relative = [x["float32_deviation"][group][k] / np.abs(x[group][k]).max()
                    for x in explained for group in ("relevance", "pixel_relevance") for k in x[group]]
        print(f"{name}: {len(entries)} images, logits match transformers; "
              f"{len(explained)} explained, LXT checks " + ", ".join(
                  f"{k} ≤ {max(x[f'lxt_check_{k}'] for x in explained):.1e}" for k in ("lrp", "attnlrp"))
              + f"; float32's max deviation {max(relative):.2e} of max |R|")
    reference["bad_images"] = [{"image": rel(IMAGES / f), "description": d, "pil": pil_verdict(IMAGES / f)}
                               for f, d in bad.items()]

    write_json(MODEL_FIXTURES / "vit-reference.json", reference)
    write_json(ATTRIBUTION_FIXTURES / "vit-attribution.json", {
        "conventions": {
            "relevance": "per token of the embedding-block output e = [CLS; patch embeddings] + positions "
                         "(index 0 = CLS, then patches row by row): Σ_d e·∂f/∂e, f = logit of `target` (the "
                         "predicted class); `gradient` is ‖∂f/∂e_t‖₂",
            "pixel_relevance": "[H][W], for " + ", ".join(PIXEL_METHODS) + ": Σ_channels "
                               "pixel_values·∂f/∂pixel_values with the same rules; "
                               "`gradient` is ‖∂f/∂pixel‖₂ over channels; integrated gradients use "
                               "(pixel_values − baseline)·∫∂f/∂pixel, so its pixels sum to its tokens",
            "lrp": "layernorm + attention + gelu hooks (σ, softmax probabilities, Φ held constant), as "
                   "reference_attribution.py; every LayerNorm (layernorm_before, layernorm_after, vit.layernorm)",
            "attnlrp": "reference_attnlrp.py's placement of LXT 2.1's functions (layer_norm_forward, "
                       "identity_rule_implicit on GELU, divide_gradient(·, 2) on q·kᵀ before scaling and on P·v); "
                       "LXT's only ViT map (lxt.efficient.models.vit_torch) targets torchvision and uses CP-LRP "
                       "in attention. lxt_check_* = max deviation (relative to max |R|, tokens and pixels) from "
                       "transformers' ViT patched with LXT's functions (attnlrp: wrap_attention_forward, "
                       "lrp: cp_wrap_attention_forward)",
            "integrated-gradients": f"{IG_STEPS} points, baseline = the black image (pixel 0 before "
                                    "normalisation: baseline_pixel_values per channel), Gauss–Legendre "
                                    "(default) or /riemann-middle; baseline_logit = f(baseline)",
        },
        "models": attribution})


def write_json(path, payload):
    """Top-level keys one by one; lists of entries one compact entry per line."""
    lines = ["{"]
    for m, (key, value) in enumerate(payload.items()):
        comma = "," if m < len(payload) - 1 else ""
        if isinstance(value, dict) and any(isinstance(v, list) for v in value.values()):
            lines.append(f" {json.dumps(key)}: {{")
            for n, (inner, items) in enumerate(value.items()):
                inner_comma = "," if n < len(value) - 1 else ""
                if isinstance(items, list):
                    lines.append(f"  {json.dumps(inner)}: [")
                    lines += ["   " + json.dumps(x, ensure_ascii=False, separators=(",", ":"))
                              + ("," if i < len(items) - 1 else "") for i, x in enumerate(items)]
                    lines.append("  ]" + inner_comma)
                else:
                    lines.append(f"  {json.dumps(inner)}: {json.dumps(items, ensure_ascii=False)}{inner_comma}")
            lines.append(" }" + comma)
        elif isinstance(value, list):
            lines.append(f" {json.dumps(key)}: [")
            lines += ["  " + json.dumps(x, ensure_ascii=False, separators=(",", ":"))
                      + ("," if i < len(value) - 1 else "") for i, x in enumerate(value)]
            lines.append(" ]" + comma)
        else:
            lines.append(f" {json.dumps(key)}: "
                         + json.dumps(value, ensure_ascii=False, indent=2).replace("\n", "\n ") + comma)
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    json.loads(path.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()

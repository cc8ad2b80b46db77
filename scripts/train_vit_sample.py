"""Builds samples/models/vit-digits: a small Vision Transformer (Hugging Face
`ViTForImageClassification`, unmodified, saved with `save_pretrained` as safetensors)
trained from scratch on scikit-learn's 8×8 handwritten digits, with the
`preprocessor_config.json` of the `ViTImageProcessor` that made its inputs.

Images: each 8×8 digit (values 0..16) becomes an 8-bit grayscale PIL image (mode "L",
value·255/16 rounded half up). The model sees exactly what Hugging Face's ViT image
processor makes of that image: bilinear resize (PIL) to 32×32, rescale by 1/255,
normalise with mean 0.5 and std 0.5 on the single channel (`num_channels = 1`; the
processor handles a one-channel image and a one-element mean/std as is, no RGB
conversion). Training adds random shifts of ±1 pixel at the 8×8 level.

The held-out split (stratified 80/20, seed SPLIT_SEED) is written to
samples/data/digits/<label>-<index>.png (8×8 grayscale PNGs, <index> = position in
`load_digits`) and samples/data/digits_test.jsonl; the reported accuracy is measured on
those files as a user would load them (`PIL.Image.open` → processor → model).

Run through `make train-samples`. Deterministic for a given torch build and thread
count (one thread); the result is committed once.
"""

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from transformers import ViTConfig, ViTForImageClassification
from transformers.image_utils import PILImageResampling
# transformers 5's `ViTImageProcessor` is the torchvision backend and falls back to this PIL
# backend (with a warning) when torchvision is absent; it is named directly so that the
# inputs never depend on whether torchvision happens to be installed.
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

ROOT = Path(__file__).resolve().parent.parent
NAME = "vit-digits"
SPLIT_SEED = 20261128
TRAIN_SEED = 20261128
TEST_FRACTION = 0.2
IMAGE_SIZE = 32
SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]


def processor():
    return ViTImageProcessorPil(
        do_resize=True, size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        resample=PILImageResampling.BILINEAR, do_rescale=True, rescale_factor=1 / 255,
        do_normalize=True, image_mean=[0.5], image_std=[0.5])


def to_uint8(image16):
    """An 8×8 digit with values 0..16 as 8-bit gray: round(v·255/16), half up (only v = 8 ties)."""
    return np.floor(image16 * 255 / 16 + 0.5).astype(np.uint8)


def shifted(image, dy, dx):
    """The image moved by (dy, dx) pixels, zero (background) filled."""
    out = np.zeros_like(image)
    h, w = image.shape
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        image[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def pixel_values(proc, arrays):
    images = [Image.fromarray(a, mode="L") for a in arrays]
    return proc(images, return_tensors="pt")["pixel_values"]


def model_config():
    return ViTConfig(
        image_size=IMAGE_SIZE, patch_size=4, num_channels=1, hidden_size=64, num_hidden_layers=4,
        num_attention_heads=4, intermediate_size=128, hidden_act="gelu",
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        id2label={i: str(i) for i in range(10)}, label2id={str(i): i for i in range(10)})


@torch.no_grad()
def accuracy(model, inputs, labels):
    model.eval()
    predicted = torch.cat([model(pixel_values=inputs[i:i + 256]).logits.argmax(-1)
                           for i in range(0, len(inputs), 256)])
    return (predicted == labels).float().mean().item()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(TRAIN_SEED)

    digits = load_digits()
    images = to_uint8(digits.images)
    labels = digits.target.astype(np.int64)
    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=TEST_FRACTION,
                                           stratify=labels, random_state=SPLIT_SEED)
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    proc = processor()

    # Held-out images as files, and the accuracy measured on those files.
    data = ROOT / "samples" / "data"
    folder = data / "digits"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    records = []
    for i in test_idx:
        name = f"{labels[i]}-{i:04d}.png"
        Image.fromarray(images[i], mode="L").save(folder / name, optimize=True)
        records.append({"image": f"digits/{name}", "label": str(labels[i])})
    with open(data / "digits_test.jsonl", "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    loaded = []
    for record in records:
        with Image.open(data / record["image"]) as image:
            assert image.mode == "L" and image.size == (8, 8), (record, image.mode, image.size)
            loaded.append(np.array(image))
    assert all((a == images[i]).all() for a, i in zip(loaded, test_idx))
    test_x = proc([Image.open(data / r["image"]) for r in records], return_tensors="pt")["pixel_values"]
    test_y = torch.tensor(labels[test_idx])

    # Every shift of every training image, processed once (index [shift, example]).
    train_x = torch.stack([pixel_values(proc, [shifted(images[i], dy, dx) for i in train_idx])
                           for dy, dx in SHIFTS])
    train_y = torch.tensor(labels[train_idx])
    print(f"train {len(train_idx)} × {len(SHIFTS)} shifts, test {len(test_idx)}; "
          f"pixel_values {tuple(test_x.shape[1:])}", flush=True)

    model = ViTForImageClassification(model_config())
    steps_per_epoch = math.ceil(len(train_idx) / args.batch)
    steps = args.epochs * steps_per_epoch
    warmup = 3 * steps_per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / warmup if s < warmup
        else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup))))
    generator = torch.Generator().manual_seed(TRAIN_SEED)
    started = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_idx), generator=generator)
        shift = torch.randint(len(SHIFTS), (len(train_idx),), generator=generator)
        total = 0.0
        for start in range(0, len(order), args.batch):
            batch = order[start:start + args.batch]
            loss = model(pixel_values=train_x[shift[batch], batch], labels=train_y[batch]).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total += loss.item() * len(batch)
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            print(f"epoch {epoch + 1}: loss {total / len(order):.4f}, held-out accuracy "
                  f"{accuracy(model, test_x, test_y):.4f}, {time.time() - started:.0f}s", flush=True)
    seconds = time.time() - started
    test_accuracy = accuracy(model, test_x, test_y)
    print(f"held-out accuracy {test_accuracy:.4f} ({len(test_idx)} images), training {seconds:.0f}s")

    out = ROOT / "samples" / "models" / NAME
    out.mkdir(parents=True, exist_ok=True)
    model.config.xai = {
        "task": "handwritten digit (scikit-learn 8x8 digits, 8-bit grayscale)",
        "test_accuracy": round(test_accuracy, 4),
        "test_examples": len(test_idx),
        "train_examples": len(train_idx),
    }
    model.save_pretrained(out, safe_serialization=True)
    (out / "model.safetensors").chmod(0o644)  # transformers writes it owner-only; make install copies it
    proc.save_pretrained(out)
    saved = ViTForImageClassification.from_pretrained(str(out)).eval()
    assert abs(accuracy(saved, test_x, test_y) - test_accuracy) < 1e-9
    card = (ROOT / "scripts" / "model_cards" / f"{NAME}.md").read_text(encoding="utf-8")
    card = card.format(accuracy=f"{test_accuracy:.4f}", test=len(test_idx), train=len(train_idx),
                       epochs=args.epochs, batch=args.batch, lr=args.lr, seed=SPLIT_SEED,
                       minutes=f"{seconds / 60:.1f}",
                       parameters=sum(p.numel() for p in model.parameters()))
    (out / "README.md").write_text(card, encoding="utf-8")


if __name__ == "__main__":
    main()

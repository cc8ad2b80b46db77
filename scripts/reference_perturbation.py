"""Writes Tests/AttributionTests/Fixtures/perturbation.json: Captum 0.9's perturbation methods
(Occlusion, FeatureAblation, ShapleyValues, Lime) on the same models, inputs and baselines
as xai's `--method occlusion | feature-ablation | shapley | kernel-shap | lime`.

Text classifiers (tiny-distilbert, the sample minilm-rt-sentiment): the model is the explicit
torch forward of reference_attribution.py (checked there against transformers). Captum's
forward takes the rows of the embedding-block output e at the units (every token but [CLS]
and [SEP]) and puts them back into the sequence, so Captum perturbs exactly the rows xai
perturbs; the baseline is the embedding-block output of the same sequence with every unit
token replaced by [PAD] (positions kept), xai's text baseline (also Integrated Gradients').
Units are tokens, or words (a word's pieces form one feature through `feature_mask`).

  occlusion         Occlusion, sliding window (w, D), strides (s, D)
  feature-ablation  FeatureAblation with one feature per unit
  shapley           ShapleyValues (every permutation: exact), at most 7 units; Captum accumulates
                    it in float32 (its result is float32 even for a float64 model: about 1e-5 of
                    max |φ| off over 5,040 orders), so the exact value is also computed here in
                    float64 from all 2ⁿ coalitions through the same forward (`shapley-float64`),
                    and `captum_float32_accumulation` records max |ShapleyValues − float64|
  lime              Lime with Captum's default kernel (exp(−d²/2), d the cosine distance of the
                    flattened unit rows) and default surrogate SkLearnLasso(alpha=0.01) fitted to
                    a tight tolerance, given the coalitions xai draws: xai's generator
                    (SplitMix64, seeded from --seed and the method) is replayed below and its
                    draws fed to Captum through `perturb_func`; the draws are stored too.

Images (vit-digits, two digits): Captum runs Hugging Face's ViTForImageClassification on the
pixel values its processor makes of the PNG; the baseline is the black image (every sample 0,
rescaled and normalised); a patch is one feature (`feature_mask`), an occlusion window w
patches square moves s patches (sliding window (C, wP, wP), strides (C, sP, sP)). xai perturbs
the same patches at the embedding-block output (the patch projection works patch by patch).

Graphs (graphnet-ba on two Barabási–Albert graphs, gcn-solubility on two molecules): Captum's
input is a mask with one entry per node (1 = present, baseline 0), and the forward rebuilds the
graph without the absent nodes (their edges dropped, features zeroed, Â renormalised; the mean
over nodes keeps their count), as xai removes a node. Occlusion windows run over node ids;
exact Shapley values where the graph has at most 7 nodes.

Expected values are computed in float64 (Captum runs the float64 model; Lime's own fit casts
its data to float32, as Captum does); the same computation in float32 gives each case's
`float32_deviation` (max |float32 − float64| over the unit relevances). Run through
`make reference`.
"""

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from captum._utils.models.linear_model import SkLearnLasso
from captum.attr import FeatureAblation, Lime, Occlusion, ShapleyValues
from PIL import Image
from transformers import (AutoImageProcessor, BertTokenizer, DistilBertForSequenceClassification,
                          ViTForImageClassification)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_attribution import Reference, tiny_model  # noqa: E402
from reference_graphs import adjacency, features, network, outputs, sdf_graphs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "AttributionTests" / "Fixtures" / "perturbation.json"
SAMPLE = ROOT / "samples" / "models" / "minilm-rt-sentiment"
VIT = ROOT / "samples" / "models" / "vit-digits"
DATA = ROOT / "samples" / "data"
IMAGES = ["digits/3-0045.png", "digits/7-0094.png"]
IMAGE_OCCLUSIONS = [(2, 1), (3, 2), (1, 1)]  # (window, stride) in patches
GRAPH_OCCLUSIONS = [(3, 1), (2, 2)]

TEXT_MODELS = {
    "tiny-distilbert": ["the movie was not good", "great film!", "it was loved, not boring"],
    "minilm-rt-sentiment": ["Not bad at all.", "Wonderfully acted, poorly written.", "The plot drags."],
}
OCCLUSIONS = [(3, 1), (2, 2), (1, 1)]  # (window, stride)
LIME_SAMPLES = 50  # Captum's default n_samples
LIME_SEEDS = [0, 7]
# Exact Shapley values are compared up to 7 units on the tiny model; on the sample model
# Captum's ShapleyValues (n! orders × n evaluations in float64) is kept to 6.
EXACT_LIMIT = {"tiny-distilbert": 7, "minilm-rt-sentiment": 6}
MASK64 = (1 << 64) - 1


class XaiRandom:
    """xai's PerturbationRandom (Sources/Attribution/Perturbation/Coalition.swift): SplitMix64
    seeded by seed·0x9E3779B97F4A7C15 xor FNV-1a(stream)."""

    def __init__(self, seed, stream):
        h = 0xCBF29CE484222325
        for byte in stream.encode():
            h = ((h ^ byte) * 0x100000001B3) & MASK64
        self.state = ((seed * 0x9E3779B97F4A7C15) & MASK64) ^ h

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def coin(self):
        return self.next() >> 63 == 1


def lime_masks(units, samples, seed):
    """The coalitions xai's lime draws: per sample, a fair coin per unit (1 = taken from the input)."""
    random = XaiRandom(seed, "lime")
    return [[1 if random.coin() else 0 for _ in range(units)] for _ in range(samples)]


def word_groups(pieces, special):
    """WordPieceTokenizer.wordRanges: a '##' piece joins the word before it (never a special token)."""
    groups = []
    for i, piece in enumerate(pieces):
        if piece.startswith("##") and not special[i] and groups and not special[groups[-1][0]]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return [g for g in groups if not special[g[0]]]


def exact_shapley(forward, x, base, target, features):
    """φ over every coalition in the dtype of x: unit u of `features` (row lists of x) taken from x
    when bit u is set, else from base; v(S) the target output, Shapley weights |S|!(n−|S|−1)!/n!."""
    n = len(features)
    batch = base.expand(1 << n, *base.shape[1:]).clone()
    for m in range(1 << n):
        for u, rows in enumerate(features):
            if m >> u & 1:
                batch[m, rows] = x[0, rows]
    values = torch.cat([forward(batch[i:i + 256]) for i in range(0, 1 << n, 256)])[:, target].tolist()
    phi = [0.0] * n
    for m in range(1 << n):
        s = bin(m).count("1")
        for u in range(n):
            if not m >> u & 1:
                phi[u] += math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) * (values[m | 1 << u] - values[m])
    return phi


def deviation(a, b):
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).max())


def text_case(ref, ids, pad_id, special, groups, target, exact_limit, captum_shapley=True):
    """Every Captum method on one sentence with the model `ref` (its dtype), units = `groups`."""
    ids_t = torch.tensor([ids])
    mask = torch.ones_like(ids_t)
    with torch.no_grad():
        e = ref.embed(ids_t)
        b = ref.embed(torch.where(torch.tensor([special]), ids_t, torch.full_like(ids_t, pad_id)))
        logits = ref.logits(e, mask, set())[0]
        baseline_logits = ref.logits(b, mask, set())[0]
    if target is None:
        target = int(logits.argmax())
    rows = [p for g in groups for p in g]  # unit rows in unit order
    d = e.shape[-1]
    x, base = e[:, rows], b[:, rows]
    feature = torch.tensor([u for u, g in enumerate(groups) for _ in g])[None, :, None].expand(1, len(rows), d).contiguous()

    def forward(units):
        full = e.expand(units.shape[0], -1, -1).clone()
        full[:, rows] = units
        return ref.logits(full, mask.expand(units.shape[0], -1), set())

    def per_unit(attribution):
        first = [sum(len(g) for g in groups[:u]) for u in range(len(groups))]
        return attribution[0, first, 0].tolist()

    out = {"target": target, "logits": logits.tolist(), "target_logit": logits[target].item(),
           "baseline_logit": baseline_logits[target].item(), "cases": {}}
    with torch.no_grad():
        single = all(len(g) == 1 for g in groups)
        if single:  # Occlusion windows run over rows; with words a window would cut a word
            for window, stride in OCCLUSIONS:
                if window > len(rows):
                    continue
                attr = Occlusion(forward).attribute(
                    x, sliding_window_shapes=(window, d), strides=(stride, d), baselines=base, target=target,
                    perturbations_per_eval=16)
                out["cases"][f"occlusion@{window},{stride}"] = per_unit(attr)
        attr = FeatureAblation(forward).attribute(x, baselines=base, target=target, feature_mask=feature,
                                                  perturbations_per_eval=16)
        out["cases"]["feature-ablation"] = per_unit(attr)
        if len(groups) <= exact_limit:
            offsets = [sum(len(g) for g in groups[:u]) for u in range(len(groups))]
            out["cases"]["shapley-float64"] = exact_shapley(
                forward, x, base, target, [list(range(o, o + len(g))) for o, g in zip(offsets, groups)])
            if captum_shapley:
                attr = ShapleyValues(forward).attribute(x, baselines=base, target=target, feature_mask=feature,
                                                        perturbations_per_eval=64)
                out["captum"] = {"shapley": per_unit(attr)}
        for seed in LIME_SEEDS:
            masks = lime_masks(len(groups), LIME_SAMPLES, seed)

            def perturb(original_inp, **kwargs):
                for m in masks:
                    yield torch.tensor([m])

            lime = Lime(forward, interpretable_model=SkLearnLasso(alpha=0.01, tol=1e-10, max_iter=20_000),
                        perturb_func=perturb)
            coefficients = lime.attribute(x, baselines=base, target=target, feature_mask=feature,
                                          n_samples=LIME_SAMPLES, return_input_shape=False)
            out["cases"][f"lime@{seed}"] = coefficients[0].tolist()
            out[f"lime_masks@{seed}"] = masks
    return out


def text_models():
    payload = {}
    for name, sentences in TEXT_MODELS.items():
        if name == SAMPLE.name:
            model = DistilBertForSequenceClassification.from_pretrained(str(SAMPLE)).float().eval()
            tokenizer = BertTokenizer(str(SAMPLE / "vocab.txt"), do_lower_case=True)
        else:
            model, tokenizer = tiny_model(name, DistilBertForSequenceClassification)
        refs = {dtype: Reference(model, dtype) for dtype in (torch.float64, torch.float32)}
        payload[name] = []
        for text in sentences:
            ids = tokenizer(text)["input_ids"]
            pieces = tokenizer.convert_ids_to_tokens(ids)
            special = [i in (tokenizer.cls_token_id, tokenizer.sep_token_id) for i in ids]
            entry = {"text": text, "ids": ids, "units": {}}
            units = {"tokens": [[i] for i in range(len(ids)) if not special[i]],
                     "words": word_groups(pieces, special)}
            for kind, groups in units.items():
                if kind == "words" and groups == units["tokens"]:
                    continue
                expected = text_case(refs[torch.float64], ids, tokenizer.pad_token_id, special, groups, None,
                                     EXACT_LIMIT[name])
                float32 = text_case(refs[torch.float32], ids, tokenizer.pad_token_id, special, groups,
                                    expected["target"], EXACT_LIMIT[name], captum_shapley=False)
                expected["float32_deviation"] = {
                    key: deviation(float32["cases"][key], values) for key, values in expected["cases"].items()}
                for key in ("target_logit", "baseline_logit"):
                    expected["float32_deviation"][key] = deviation(float32[key], expected[key])
                if "captum" in expected:
                    expected["captum_float32_accumulation"] = {"shapley": deviation(
                        expected["captum"]["shapley"], expected["cases"]["shapley-float64"])}
                for seed in LIME_SEEDS:
                    assert float32[f"lime_masks@{seed}"] == expected[f"lime_masks@{seed}"]
                entry["units"][kind] = {"groups": groups, **expected}
            payload[name].append(entry)
            print(f"{name}: {text!r}: {len(units['tokens'])} tokens, {len(units['words'])} words", flush=True)
    return payload


def image_case(model, pixels, black, patch, target):
    """Occlusion and feature ablation over the patches of one image, in the model's dtype."""
    with torch.no_grad():
        x = pixels[None].to(model.dtype)
        base = black[None].to(model.dtype)
        logits = model(pixel_values=x).logits[0]
        if target is None:
            target = int(logits.argmax())
        c, h, w = x.shape[1:]
        side = h // patch
        ids = (torch.arange(h)[:, None] // patch * side + torch.arange(w)[None, :] // patch)
        mask = ids[None, None].expand(1, c, h, w).contiguous()

        def forward(values):
            return model(pixel_values=values).logits

        def per_patch(attribution):
            return attribution[0, 0, ::patch, ::patch].reshape(-1).tolist()

        out = {"target": target, "logits": logits.tolist(), "cases": {}}
        for window, stride in IMAGE_OCCLUSIONS:
            attr = Occlusion(forward).attribute(
                x, sliding_window_shapes=(c, window * patch, window * patch), strides=(c, stride * patch, stride * patch),
                baselines=base, target=target, perturbations_per_eval=32)
            out["cases"][f"occlusion@{window},{stride}"] = per_patch(attr)
        attr = FeatureAblation(forward).attribute(x, baselines=base, target=target, feature_mask=mask,
                                                  perturbations_per_eval=32)
        out["cases"]["feature-ablation"] = per_patch(attr)
    return out


def images():
    processor = AutoImageProcessor.from_pretrained(str(VIT))
    model = ViTForImageClassification.from_pretrained(str(VIT)).eval()
    models = {torch.float64: __import__("copy").deepcopy(model).double(), torch.float32: model}
    patch = model.config.patch_size
    mean = torch.tensor(processor.image_mean, dtype=torch.float32)
    std = torch.tensor(processor.image_std, dtype=torch.float32)
    payload = []
    for name in IMAGES:
        with Image.open(DATA / name) as image:
            pixels = torch.from_numpy(processor(image, return_tensors="np")["pixel_values"][0])
        black = ((torch.zeros_like(pixels) - mean[:, None, None]) / std[:, None, None])
        expected = image_case(models[torch.float64], pixels, black, patch, None)
        float32 = image_case(models[torch.float32], pixels, black, patch, expected["target"])
        expected["float32_deviation"] = {
            key: deviation(float32["cases"][key], values) for key, values in expected["cases"].items()}
        payload.append({"image": name, **expected})
        print(f"vit-digits: {name}", flush=True)
    return payload


def graph_case(model, graph, dtype, target, captum_shapley=True):
    net = network(model, dtype)
    x = features(net, graph, dtype)
    n = graph["num_nodes"]

    def forward(masks):
        rows = []
        for m in masks:
            present = m != 0
            edges = [(u, v) for u, v in graph["edges"] if present[u] and present[v]]
            rows.append(outputs(net, x * present[:, None].to(dtype),
                                adjacency(n, edges, net["config"].get("normalize", "sym"), dtype)))
        return torch.stack(rows)

    with torch.no_grad():
        ones = torch.ones(1, n, dtype=dtype)
        zeros = torch.zeros(1, n, dtype=dtype)
        logits = forward(ones)[0]
        if target is None:
            target = int(logits.argmax())
        out = {"target": target, "logits": logits.tolist(), "baseline_logit": forward(zeros)[0, target].item(),
               "cases": {}}
        for window, stride in GRAPH_OCCLUSIONS:
            attr = Occlusion(forward).attribute(ones, sliding_window_shapes=(window,), strides=(stride,),
                                                baselines=zeros, target=target, perturbations_per_eval=64)
            out["cases"][f"occlusion@{window},{stride}"] = attr[0].tolist()
        attr = FeatureAblation(forward).attribute(ones, baselines=zeros, target=target, perturbations_per_eval=64)
        out["cases"]["feature-ablation"] = attr[0].tolist()
        if n <= 7:
            out["cases"]["shapley-float64"] = exact_shapley(forward, ones, zeros, target, [[u] for u in range(n)])
            if captum_shapley:
                attr = ShapleyValues(forward).attribute(ones, baselines=zeros, target=target,
                                                        perturbations_per_eval=64)
                out["captum"] = {"shapley": attr[0].tolist()}
    return out


def graphs():
    payload = []
    graphnet = json.loads((ROOT / "samples/models/graphnet-ba/model.json").read_text())
    gcn = json.loads((ROOT / "samples/models/gcn-solubility/model.json").read_text())
    for model_name, model in (("graphnet-ba", graphnet), ("gcn-solubility", gcn)):
        if model_name == "graphnet-ba":
            chosen = [(i, json.loads(line)) for i, line in
                      enumerate((DATA / "ba_graphs.jsonl").read_text().splitlines()[:2])]
        else:
            chosen = list(enumerate(sdf_graphs(DATA / "solubility_test.sdf", 2)))
        for index, graph in chosen:
            expected = graph_case(model, graph, torch.float64, None)
            float32 = graph_case(model, graph, torch.float32, expected["target"], captum_shapley=False)
            expected["float32_deviation"] = {
                key: deviation(float32["cases"][key], values) for key, values in expected["cases"].items()}
            expected["float32_deviation"]["baseline_logit"] = deviation(
                float32["baseline_logit"], expected["baseline_logit"])
            if "captum" in expected:
                expected["captum_float32_accumulation"] = {"shapley": deviation(
                    expected["captum"]["shapley"], expected["cases"]["shapley-float64"])}
            payload.append({"model": model_name, "index": index, "num_nodes": graph["num_nodes"], **expected})
            print(f"{model_name}: graph {index}, {graph['num_nodes']} nodes", flush=True)
    return payload


def main():
    torch.set_num_threads(2)
    # Captum hands the fit float32 data, on which the duality gap stalls near 1e-7 of the
    # targets' scale: the coefficients are then as exact as float32 makes them.
    warnings.filterwarnings("ignore", message="Objective did not converge")
    only = set(sys.argv[1:]) or {"text", "images", "graphs"}
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    payload = {"captum": __import__("captum").__version__}
    for part, make in (("text", text_models), ("images", images), ("graphs", graphs)):
        payload[part] = make() if part in only else previous[part]
    with open(OUT, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, ensure_ascii=False, indent=1)
        handle.write("\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()

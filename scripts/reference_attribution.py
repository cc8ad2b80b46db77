"""Writes Tests/AttributionTests/Fixtures/text-attribution.json: PyTorch reference
relevances of every text method and every single detachment hook, for the
shipped sample model and the tiny JSON models.

The forward pass is written out in torch from the checkpoint tensors (so that the
hooks can be placed exactly as docs/methods.md ("Detachment rules") defines them) and is first checked against
Hugging Face `transformers` logits, in float64 and in float32.

The expected values (logits, relevance, baseline_logit@N) are computed in float64 (the
checkpoints are float32, which float64 holds exactly). The same computation is then run
again in float32 (same code, the float64 run's target, torch's default kernels, 2 threads),
and each sentence records under `float32_deviation` PyTorch float32's own deviation from
float64: its compared keys mirrored, every array replaced by max |float32 − float64|.

tiny-distilbert-ill-conditioned (written here, see ill_conditioned_distilbert) is a tiny
DistilBERT that is badly conditioned in float32 on purpose. Run through `make reference`.
"""

import copy
import json
import math
from pathlib import Path

import numpy as np
import torch
from transformers import (BertForSequenceClassification, BertTokenizer, DistilBertConfig,
                          DistilBertForSequenceClassification)

ROOT = Path(__file__).resolve().parent.parent
MODEL_FIXTURES = ROOT / "Tests" / "ModelsTests" / "Fixtures"
OUT = ROOT / "Tests" / "AttributionTests" / "Fixtures"
SAMPLE = ROOT / "samples" / "models" / "minilm-rt-sentiment"

SENTENCES = [
    "This was one of the best movies I have ever seen.",
    "A dull, lifeless and painfully long film.",
    "The acting is superb, but the script is a mess.",
    "It's not bad at all.",
    "I would not recommend it to anyone.",
    "An utterly charming, funny and moving story.",
    "Neither funny nor clever, just loud.",
    "Surprisingly good for a sequel.",
]
TINY_SENTENCES = ["the movie was not good", "great film!", "it is boring", "a bad, bad movie.",
                  "the best film"]
HOOKS = ["layernorm", "attention", "gelu", "tanh"]
IG_STEPS = [32, 64]
DTYPES = (torch.float64, torch.float32)  # the expected values, then PyTorch float32's own run
COMPARED = ["logits", "relevance"] + [f"baseline_logit@{steps}" for steps in IG_STEPS]

ILL_CONDITIONED = "tiny-distilbert-ill-conditioned"
ILL_CONDITIONED_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "the", "a", "it",
                         "i", "movie", "film", "plot", "was", "is", "not", "very", "good", "bad", "great",
                         "boring", "fun", "dull", "and", "but", "liked", "hated"]
ILL_CONDITIONED_SENTENCES = ["the movie was good", "a very boring film.", "i liked it, but the plot is dull",
                             "not bad and not great!", "i hated the film", "it was fun"]


def float32_deviation(float32, float64, keys):
    """The `float32_deviation` of a case: its compared `keys` mirrored (dicts key by key), every
    array of any nesting replaced by max |float32 − float64| over its elements, scalars likewise."""
    def mirror(a, b):
        if isinstance(b, dict):
            return {k: mirror(a[k], b[k]) for k in b}
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        assert a.shape == b.shape, (a.shape, b.shape)
        return float(np.abs(a - b).max()) if a.size else 0.0
    return {k: mirror(float32[k], float64[k]) for k in keys}


def ill_conditioned_distilbert(seed=20261202, spread=0.2):
    """A tiny DistilBERT (dim 16, 2 heads, 1 layer) that is badly conditioned in float32 on purpose.

    Every word embedding is 1024 + N(0, spread²) per dimension and every position embedding
    N(0, spread²), so word + position is nearly constant across dimensions (differences ~3·10⁻⁴
    of the mean) and the embedding LayerNorm (eps 1e-12) normalises what is left after the
    mean cancels: float32's rounding of word + position (up to ulp(1024) / 2 = 6·10⁻⁵) and of
    the mean become relative errors of ~10⁻⁴ in e, which the rest of the network amplifies.
    The other weights are N(0, 0.5²) (LayerNorm: γ = 1 + N(0, 0.2²), β = N(0, 0.1²)) on a grid
    of 2⁻⁵ and the word embeddings on a grid of 2⁻⁸ (short in JSON); the position embeddings
    are on a grid of 2⁻¹⁶, finer than ulp(1024) = 2⁻¹³, so that word + position rounds.
    Returns (the model, its vocabulary)."""
    vocab = ILL_CONDITIONED_VOCAB
    model = DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=len(vocab), dim=16, n_layers=1, n_heads=2, hidden_dim=32, max_position_embeddings=16,
        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            base, std, grid = 0.0, 0.5, 2 ** -5
            if name.endswith("word_embeddings.weight"):
                base, std, grid = 1024.0, spread, 2 ** -8
            elif name.endswith("position_embeddings.weight"):
                std, grid = spread, 2 ** -16
            elif "layer_norm" in name or "LayerNorm" in name:
                base, std = (1.0, 0.2) if name.endswith("weight") else (0.0, 0.1)
            value = base + std * torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
            parameter.copy_(torch.round(value / grid) * grid)
    return model, vocab


def write_ill_conditioned_distilbert():
    model, vocab = ill_conditioned_distilbert()
    config = json.loads(model.config.to_json_string())
    config["do_lower_case"] = True
    tensors = {name: {"shape": list(t.shape), "data": t.flatten().tolist()}
               for name, t in model.state_dict().items() if t.dtype == torch.float32}
    with open(MODEL_FIXTURES / f"{ILL_CONDITIONED}.json", "w", encoding="utf-8") as handle:
        json.dump({"config": config, "vocab": vocab, "tensors": tensors}, handle, ensure_ascii=False)
        handle.write("\n")


def layer_norm(x, weight, bias, eps, detach_sigma):
    mean = x.mean(-1, keepdim=True)
    centered = x - mean
    sigma = (centered.pow(2).mean(-1, keepdim=True) + eps).sqrt()
    if detach_sigma:
        sigma = sigma.detach()
    return centered / sigma * weight + bias


def gelu(x, detach_phi):
    phi = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    return x * (phi.detach() if detach_phi else phi)


def tanh(x, detach_ratio):
    y = torch.tanh(x)
    if not detach_ratio:
        return y
    ratio = torch.where(x == 0, torch.ones_like(x), y / torch.where(x == 0, torch.ones_like(x), x))
    return x * ratio.detach()


def attention(q, k, v, mask, heads, detach, scale_query_first):
    b, t, d = q.shape
    split = lambda x: x.view(b, t, heads, d // heads).transpose(1, 2)
    scale = 1 / math.sqrt(d // heads)
    if scale_query_first:
        scores = split(q * scale) @ split(k).transpose(-1, -2)
    else:
        scores = split(q) @ split(k).transpose(-1, -2) * scale
    scores = scores.masked_fill(mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
    probabilities = scores.softmax(-1)
    if detach:
        probabilities = probabilities.detach()
    return (probabilities @ split(v)).transpose(1, 2).reshape(b, t, d)


class Reference:
    """A DistilBERT or BERT classifier as explicit torch operations on its state dict, in `dtype`."""

    def __init__(self, model, dtype=torch.float64):
        self.family = model.config.model_type
        self.config = model.config
        self.dtype = dtype
        state = {k: v.detach().to(dtype) for k, v in model.state_dict().items()}
        prefix = "distilbert." if self.family == "distilbert" else "bert."
        self.p = {k.removeprefix(prefix): v for k, v in state.items()}
        self.eps = 1e-12 if self.family == "distilbert" else model.config.layer_norm_eps

    def linear(self, name, x):
        return x @ self.p[name + ".weight"].T + self.p[name + ".bias"]

    def ln(self, name, x, hooks):
        return layer_norm(x, self.p[name + ".weight"], self.p[name + ".bias"], self.eps,
                          "layernorm" in hooks)

    def embed(self, ids):
        t = ids.shape[1]
        e = self.p["embeddings.word_embeddings.weight"][ids] + \
            self.p["embeddings.position_embeddings.weight"][:t][None]
        if self.family == "bert":
            e = e + self.p["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
        return layer_norm(e, self.p["embeddings.LayerNorm.weight"], self.p["embeddings.LayerNorm.bias"],
                          self.eps, False)

    def logits(self, e, mask, hooks):
        x = e
        if self.family == "distilbert":
            heads = self.config.n_heads
            for i in range(self.config.n_layers):
                l = f"transformer.layer.{i}."
                c = attention(self.linear(l + "attention.q_lin", x), self.linear(l + "attention.k_lin", x),
                              self.linear(l + "attention.v_lin", x), mask, heads, "attention" in hooks, True)
                x = self.ln(l + "sa_layer_norm", self.linear(l + "attention.out_lin", c) + x, hooks)
                h = gelu(self.linear(l + "ffn.lin1", x), "gelu" in hooks)
                x = self.ln(l + "output_layer_norm", self.linear(l + "ffn.lin2", h) + x, hooks)
            cls = torch.relu(self.linear("pre_classifier", x[:, 0]))
            return self.linear("classifier", cls)
        heads = self.config.num_attention_heads
        for i in range(self.config.num_hidden_layers):
            l = f"encoder.layer.{i}."
            c = attention(self.linear(l + "attention.self.query", x), self.linear(l + "attention.self.key", x),
                          self.linear(l + "attention.self.value", x), mask, heads, "attention" in hooks, False)
            x = self.ln(l + "attention.output.LayerNorm", self.linear(l + "attention.output.dense", c) + x, hooks)
            h = gelu(self.linear(l + "intermediate.dense", x), "gelu" in hooks)
            x = self.ln(l + "output.LayerNorm", self.linear(l + "output.dense", h) + x, hooks)
        pooled = tanh(self.linear("pooler.dense", x[:, 0]), "tanh" in hooks)
        return self.linear("classifier", pooled)


def gradient(ref, e, mask, target, hooks):
    leaf = e.detach().clone().requires_grad_(True)
    ref.logits(leaf, mask, hooks)[:, target].sum().backward()
    return leaf.grad


def integrated_gradients(ref, ids, e, mask, target, steps, pad_id, special):
    baseline_ids = torch.where(special, ids, torch.full_like(ids, pad_id))
    baseline = ref.embed(baseline_ids).detach()
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = torch.tensor((nodes + 1) / 2, dtype=e.dtype)[:, None, None]
    path = (baseline + alphas * (e - baseline)).detach().requires_grad_(True)
    logits = ref.logits(path, mask.expand(steps, -1), set())
    (logits[:, target] * torch.tensor(weights / 2, dtype=e.dtype)).sum().backward()
    relevance = ((e - baseline)[0] * path.grad.sum(0)).sum(-1)
    with torch.no_grad():
        baseline_logit = ref.logits(baseline, mask, set())[0, target].item()
    return relevance, baseline_logit


def explain(ref, ids, pad_id, special, target=None):
    """Every method's relevance for `target` (None = the predicted class)."""
    ids = torch.tensor([ids])
    mask = torch.ones_like(ids)
    special = torch.tensor([special])
    with torch.no_grad():
        e = ref.embed(ids)
        logits = ref.logits(e, mask, set())[0]
    if target is None:
        target = int(logits.argmax())
    result = {"ids": ids[0].tolist(), "target": target, "logits": logits.tolist(), "relevance": {}}
    g = gradient(ref, e, mask, target, set())
    result["relevance"]["gradient"] = g[0].norm(dim=-1).tolist()
    result["relevance"]["gradxinput"] = (e * g)[0].sum(-1).tolist()
    result["relevance"]["lrp"] = (e * gradient(ref, e, mask, target, set(HOOKS)))[0].sum(-1).tolist()
    for hook in HOOKS:
        result["relevance"]["gradxinput+" + hook] = \
            (e * gradient(ref, e, mask, target, {hook}))[0].sum(-1).tolist()
    for steps in IG_STEPS:
        relevance, baseline_logit = integrated_gradients(ref, ids, e, mask, target, steps, pad_id, special)
        result["relevance"][f"integrated-gradients@{steps}"] = relevance.tolist()
        result[f"baseline_logit@{steps}"] = baseline_logit
    return result


def check_against_transformers(refs, model, sequences):
    """The explicit forward gives transformers' logits (`model` is float32): in float64 within
    1e-9; in float32 within 1e-4 plus the float32 deviations from float64 of both forwards
    (negligible but for the ill-conditioned model, whose float32 logits depend on rounding)."""
    models = {torch.float64: copy.deepcopy(model).double(), torch.float32: model}
    for ids in sequences:
        with torch.no_grad():
            mine = {dtype: ref.logits(ref.embed(torch.tensor([ids])), torch.ones(1, len(ids)), set())
                    for dtype, ref in refs.items()}
            theirs = {dtype: m(input_ids=torch.tensor([ids])).logits for dtype, m in models.items()}
        own = sum((x[torch.float32] - x[torch.float64]).abs().max() for x in (mine, theirs))
        for dtype, tolerance in ((torch.float64, 1e-9), (torch.float32, 1e-4 + own)):
            assert theirs[dtype].dtype == mine[dtype].dtype == dtype, (theirs[dtype].dtype, mine[dtype].dtype)
            assert (mine[dtype] - theirs[dtype]).abs().max() < tolerance, (mine[dtype], theirs[dtype])


def tiny_model(name, cls):
    """A tiny JSON model of Tests/ModelsTests/Fixtures (float32) and its tokenizer."""
    data = json.loads((MODEL_FIXTURES / f"{name}.json").read_text())
    model = cls(cls.config_class.from_dict(data["config"])).eval()
    state = {k: torch.tensor(v["data"], dtype=torch.float32).view(v["shape"]) for k, v in data["tensors"].items()}
    model.load_state_dict(state, strict=False)
    vocab_path = OUT / f"{name}-vocab.txt"
    vocab_path.write_text("".join(t + "\n" for t in data["vocab"]))
    tokenizer = BertTokenizer(str(vocab_path), do_lower_case=True)
    vocab_path.unlink()
    return model, tokenizer


def main():
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    write_ill_conditioned_distilbert()
    payload = {}
    models = []
    for name, cls in (("tiny-distilbert", DistilBertForSequenceClassification),
                      ("tiny-bert", BertForSequenceClassification)):
        models.append((name, *tiny_model(name, cls), TINY_SENTENCES))
    sample = DistilBertForSequenceClassification.from_pretrained(str(SAMPLE)).float().eval()
    models.append((SAMPLE.name, sample, BertTokenizer(str(SAMPLE / "vocab.txt"), do_lower_case=True),
                   SENTENCES))
    models.append((ILL_CONDITIONED, *tiny_model(ILL_CONDITIONED, DistilBertForSequenceClassification),
                   ILL_CONDITIONED_SENTENCES))
    for name, model, tokenizer, sentences in models:
        refs = {dtype: Reference(model, dtype) for dtype in DTYPES}
        encoded = [tokenizer(text)["input_ids"] for text in sentences]
        if name == ILL_CONDITIONED:  # its sentences use its own small vocabulary only
            assert not any(tokenizer.unk_token_id in ids for ids in encoded), encoded
        check_against_transformers(refs, model, encoded)
        special_ids = {tokenizer.cls_token_id, tokenizer.sep_token_id}
        payload[name] = []
        worst = (0.0, None)
        for text, ids in zip(sentences, encoded):
            special = [i in special_ids for i in ids]
            expected = explain(refs[torch.float64], ids, tokenizer.pad_token_id, special)
            float32 = explain(refs[torch.float32], ids, tokenizer.pad_token_id, special, expected["target"])
            expected["float32_deviation"] = float32_deviation(float32, expected, COMPARED)
            payload[name].append({"text": text, **expected})
            for method, values in expected["relevance"].items():
                relative = expected["float32_deviation"]["relevance"][method] / max(map(abs, values))
                worst = max(worst, (relative, f"{method} on {text!r}"), key=lambda x: x[0])
        print(f"explained {name}; largest float32 deviation {worst[0]:.3g} of max |R| ({worst[1]})")
    with open(OUT / "text-attribution.json", "w", encoding="utf-8") as handle:
        json.dump(payload, handle, ensure_ascii=False, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main()

"""Writes Tests/AttributionTests/Fixtures/text-attribution.json: PyTorch reference
relevances of every text method and every single detachment hook, for the
shipped sample model and the tiny JSON models.

The forward pass is written out in torch from the checkpoint tensors (so that the
hooks can be placed exactly as SPEC §6 defines them) and is first checked against
Hugging Face `transformers` logits. Run through `make reference`.
"""

import json
import math
from pathlib import Path

import numpy as np
import torch
from transformers import BertForSequenceClassification, BertTokenizer, DistilBertForSequenceClassification

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
    """A DistilBERT or BERT classifier as explicit torch operations on its state dict."""

    def __init__(self, model):
        self.family = model.config.model_type
        self.config = model.config
        state = {k: v.detach().float() for k, v in model.state_dict().items()}
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
    alphas = torch.tensor((nodes + 1) / 2, dtype=torch.float32)[:, None, None]
    path = (baseline + alphas * (e - baseline)).detach().requires_grad_(True)
    logits = ref.logits(path, mask.expand(steps, -1), set())
    (logits[:, target] * torch.tensor(weights / 2, dtype=torch.float32)).sum().backward()
    relevance = ((e - baseline)[0] * path.grad.sum(0)).sum(-1)
    with torch.no_grad():
        baseline_logit = ref.logits(baseline, mask, set())[0, target].item()
    return relevance, baseline_logit


def explain(ref, ids, pad_id, special):
    ids = torch.tensor([ids])
    mask = torch.ones_like(ids)
    special = torch.tensor([special])
    with torch.no_grad():
        e = ref.embed(ids)
        logits = ref.logits(e, mask, set())[0]
    target = int(logits.argmax())
    result = {"ids": ids[0].tolist(), "target": target, "logits": logits.tolist(), "relevance": {}}
    g = gradient(ref, e, mask, target, set())
    result["relevance"]["gradient"] = g[0].norm(dim=-1).tolist()
    result["relevance"]["gradxinput"] = (e * g)[0].sum(-1).tolist()
    result["relevance"]["lrp"] = (e * gradient(ref, e, mask, target, set(HOOKS)))[0].sum(-1).tolist()
    for hook in HOOKS:
        result["relevance"]["gradxinput+" + hook] = \
            (e * gradient(ref, e, mask, target, {hook}))[0].sum(-1).tolist()
    for steps in (32, 64):
        relevance, baseline_logit = integrated_gradients(ref, ids, e, mask, target, steps, pad_id, special)
        result["relevance"][f"integrated-gradients@{steps}"] = relevance.tolist()
        result[f"baseline_logit@{steps}"] = baseline_logit
    return result


def check_against_transformers(ref, model, sequences):
    for ids in sequences:
        with torch.no_grad():
            mine = ref.logits(ref.embed(torch.tensor([ids])), torch.ones(1, len(ids)), set())
            theirs = model(input_ids=torch.tensor([ids])).logits
        assert (mine - theirs).abs().max() < 1e-4, (mine, theirs)


def main():
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {}
    models = []
    for name, cls in (("tiny-distilbert", DistilBertForSequenceClassification),
                      ("tiny-bert", BertForSequenceClassification)):
        data = json.loads((MODEL_FIXTURES / f"{name}.json").read_text())
        config = cls.config_class.from_dict(data["config"])
        model = cls(config).eval()
        state = {k: torch.tensor(v["data"], dtype=torch.float32).view(v["shape"])
                 for k, v in data["tensors"].items()}
        model.load_state_dict(state, strict=False)
        vocab_path = OUT / f"{name}-vocab.txt"
        vocab_path.write_text("".join(t + "\n" for t in data["vocab"]))
        tokenizer = BertTokenizer(str(vocab_path), do_lower_case=True)
        vocab_path.unlink()
        models.append((name, model, tokenizer, TINY_SENTENCES))
    sample = DistilBertForSequenceClassification.from_pretrained(str(SAMPLE)).float().eval()
    models.append((SAMPLE.name, sample, BertTokenizer(str(SAMPLE / "vocab.txt"), do_lower_case=True),
                   SENTENCES))
    for name, model, tokenizer, sentences in models:
        ref = Reference(model)
        encoded = [tokenizer(text)["input_ids"] for text in sentences]
        check_against_transformers(ref, model, encoded)
        special_ids = {tokenizer.cls_token_id, tokenizer.sep_token_id}
        payload[name] = [
            {"text": text, **explain(ref, ids, tokenizer.pad_token_id, [i in special_ids for i in ids])}
            for text, ids in zip(sentences, encoded)]
        print("explained", name)
    with open(OUT / "text-attribution.json", "w", encoding="utf-8") as handle:
        json.dump(payload, handle, ensure_ascii=False, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main()

"""Writes Tests/AttributionTests/Fixtures/attnlrp.json: AttnLRP relevances (Achtibat et al.,
ICML 2024) computed with LXT's own rule functions (PyPI `lxt` 2.1, "efficient" mode), for the
shipped sample model and the tiny JSON models, on the sentences of text-attribution.json.

`import lxt.efficient` fails under transformers 5 (its BERT patch imports a helper that
transformers removed), so LXT's `rules.py` and `patches.py` are loaded by file path and their
functions are placed in the explicit torch forward of reference_attribution.py exactly where
LXT's own BERT patch (lxt/efficient/models/bert.py) places them:

  LayerNorm        lxt.efficient.patches.layer_norm_forward   (σ through stop_gradient, mean live)
  GELU             lxt.efficient.rules.identity_rule_implicit (Φ = gelu(x)/x held constant)
  q·kᵀ, P·v        lxt.efficient.rules.divide_gradient(·, 2)  on each matmul output (uniform rule)
  softmax          untouched (differentiated as is)
  pooler tanh      lxt.efficient.rules.identity_rule_implicit (tanh(x)/x held constant)

Relevance is taken at the output of the embedding block (after its LayerNorm):
R_t = Σ_d e_{t,d} ∂f/∂e_{t,d}, f = logit of the predicted class.

The harness is proved first: its plain forward must reproduce the `transformers` logits, and
the same harness with CP-LRP placement (LXT's stop_gradient on q and k, as its
cp_wrap_attention_forward does, instead of the uniform split) must reproduce the `lrp`
relevances of text-attribution.json.

The expected values (logits, relevance; written to 7 significant digits) are computed in
float64 (the checkpoints are float32, which float64 holds exactly), and so is cp_lrp_check.
The same computation is then run again in float32 (same code, the float64 run's target,
torch's default kernels, 2 threads), with the same checks, and each sentence records under
`float32_deviation` PyTorch float32's own deviation from float64: {"logits": max |Δ|,
"relevance": max |Δ|}. Run through `make reference` (after reference_attribution.py).
"""

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from transformers import BertForSequenceClassification, BertTokenizer, DistilBertForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_attribution import (DTYPES, MODEL_FIXTURES, OUT, SAMPLE, Reference,  # noqa: E402
                                   float32_deviation, layer_norm)


def load_lxt():
    """LXT's efficient-mode rules.py and patches.py, by file path (not through lxt.efficient)."""
    root = Path(importlib.util.find_spec("lxt").submodule_search_locations[0]) / "efficient"
    modules = {}
    for name in ("rules", "patches"):
        full = f"lxt.efficient.{name}"
        spec = importlib.util.spec_from_file_location(full, root / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module  # so that patches.py's `from lxt.efficient.rules import ...` finds it
        spec.loader.exec_module(module)
        modules[name] = module
    return modules["rules"], modules["patches"]


rules, patches = load_lxt()
divide_gradient, identity_rule_implicit, stop_gradient = \
    rules.divide_gradient, rules.identity_rule_implicit, rules.stop_gradient

RELATIVE_TOLERANCE = 1e-4  # CP-LRP harness vs the lrp fixture, relative to max |R|
LOGIT_TOLERANCE = {torch.float64: 1e-9, torch.float32: 1e-5}


def attention(q, k, v, mask, heads, mode, scale_query_first, split_at="outputs"):
    """Self-attention with LXT's rules. mode: None (plain), "cp-lrp" or "attnlrp".

    split_at="outputs" places divide_gradient(·, 2) on the outputs of q·kᵀ and P·v as LXT's BERT
    patch does; split_at="operands" divides q and k by 4 and v by 2 as LXT's generic
    wrap_attention_forward does (used only to check that both placements agree)."""
    b, t, d = q.shape
    split = lambda x: x.view(b, t, heads, d // heads).transpose(1, 2)
    scale = (d // heads) ** -0.5
    if mode == "cp-lrp":
        q, k = stop_gradient(q), stop_gradient(k)
    if mode == "attnlrp" and split_at == "operands":
        q, k, v = divide_gradient(q, 4), divide_gradient(k, 4), divide_gradient(v, 2)
    if scale_query_first:
        scores = split(q * scale) @ split(k).transpose(-1, -2)
    else:
        scores = split(q) @ split(k).transpose(-1, -2)
    if mode == "attnlrp" and split_at == "outputs":
        scores = divide_gradient(scores, 2)
    if not scale_query_first:
        scores = scores * scale
    scores = scores.masked_fill(mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
    context = scores.softmax(-1) @ split(v)
    if mode == "attnlrp" and split_at == "outputs":
        context = divide_gradient(context, 2)
    return context.transpose(1, 2).reshape(b, t, d)


class LXTReference(Reference):
    """reference_attribution.Reference with LXT's rule functions in the forward."""

    def ln(self, name, x, mode):
        if mode is None:
            return layer_norm(x, self.p[name + ".weight"], self.p[name + ".bias"], self.eps, False)
        module = SimpleNamespace(eps=self.eps, weight=self.p[name + ".weight"], bias=self.p[name + ".bias"])
        return patches.layer_norm_forward(module, x)

    @staticmethod
    def act(fn, x, mode):
        return fn(x) if mode is None else identity_rule_implicit(fn, x)

    def logits(self, e, mask, mode, split_at="outputs"):
        x = e
        if self.family == "distilbert":
            heads = self.config.n_heads
            for i in range(self.config.n_layers):
                l = f"transformer.layer.{i}."
                c = attention(self.linear(l + "attention.q_lin", x), self.linear(l + "attention.k_lin", x),
                              self.linear(l + "attention.v_lin", x), mask, heads, mode, True, split_at)
                x = self.ln(l + "sa_layer_norm", self.linear(l + "attention.out_lin", c) + x, mode)
                h = self.act(F.gelu, self.linear(l + "ffn.lin1", x), mode)
                x = self.ln(l + "output_layer_norm", self.linear(l + "ffn.lin2", h) + x, mode)
            cls = torch.relu(self.linear("pre_classifier", x[:, 0]))  # LXT has no rule for ReLU
            return self.linear("classifier", cls)
        heads = self.config.num_attention_heads
        for i in range(self.config.num_hidden_layers):
            l = f"encoder.layer.{i}."
            c = attention(self.linear(l + "attention.self.query", x), self.linear(l + "attention.self.key", x),
                          self.linear(l + "attention.self.value", x), mask, heads, mode, False, split_at)
            x = self.ln(l + "attention.output.LayerNorm", self.linear(l + "attention.output.dense", c) + x, mode)
            h = self.act(F.gelu, self.linear(l + "intermediate.dense", x), mode)
            x = self.ln(l + "output.LayerNorm", self.linear(l + "output.dense", h) + x, mode)
        pooled = self.act(torch.tanh, self.linear("pooler.dense", x[:, 0]), mode)
        return self.linear("classifier", pooled)

    def relevance(self, e, mask, target, mode, split_at="outputs"):
        leaf = e.detach().clone().requires_grad_(True)
        self.logits(leaf, mask, mode, split_at)[0, target].backward()
        return (e * leaf.grad)[0].sum(-1)


def load_models():
    models = []
    for name, cls in (("tiny-distilbert", DistilBertForSequenceClassification),
                      ("tiny-bert", BertForSequenceClassification)):
        data = json.loads((MODEL_FIXTURES / f"{name}.json").read_text())
        model = cls(cls.config_class.from_dict(data["config"])).eval()
        state = {k: torch.tensor(v["data"], dtype=torch.float32).view(v["shape"])
                 for k, v in data["tensors"].items()}
        model.load_state_dict(state, strict=False)
        vocab_path = OUT / f"{name}-attnlrp-vocab.txt"
        vocab_path.write_text("".join(t + "\n" for t in data["vocab"]))
        tokenizer = BertTokenizer(str(vocab_path), do_lower_case=True)
        vocab_path.unlink()
        models.append((name, model, tokenizer))
    sample = DistilBertForSequenceClassification.from_pretrained(str(SAMPLE)).float().eval()
    models.append((SAMPLE.name, sample, BertTokenizer(str(SAMPLE / "vocab.txt"), do_lower_case=True)))
    return models


def lxt_bert_relevance(data, ids, target, dtype):
    """AttnLRP of a BERT classifier through LXT's own patched modelling code (lxt/efficient/models/
    bert.py, eager attention) in `dtype`, with the few shims transformers 5 needs: the import of a
    removed helper, two removed mask helpers (all-ones masks only), and a config attribute. Only
    BERT: LXT has no DistilBERT patch."""
    import transformers.pytorch_utils as pytorch_utils
    if not hasattr(pytorch_utils, "find_pruneable_heads_and_indices"):  # imported by bert.py, not called
        pytorch_utils.find_pruneable_heads_and_indices = None
    path = Path(importlib.util.find_spec("lxt").submodule_search_locations[0]) / "efficient" / "models" / "bert.py"
    spec = importlib.util.spec_from_file_location("lxt.efficient.models.bert", path)
    lxt_bert = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = lxt_bert
    spec.loader.exec_module(lxt_bert)
    lxt_bert.BertModel.get_extended_attention_mask = \
        lambda self, mask, shape: (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    lxt_bert.BertModel.get_head_mask = lambda self, head_mask, layers, *args, **kwargs: [None] * layers
    config = lxt_bert.BertConfig.from_dict(data["config"])
    config._attn_implementation = "eager"
    config.position_embedding_type = "absolute"
    model = lxt_bert.BertForSequenceClassification(config).eval()
    model.load_state_dict({k: torch.tensor(v["data"], dtype=torch.float32).view(v["shape"])
                           for k, v in data["tensors"].items()}, strict=False)
    model.to(dtype)
    for module in model.modules():  # LXT's attnLRP map: nn.LayerNorm.forward -> layer_norm_forward
        if isinstance(module, torch.nn.LayerNorm):
            module.forward = patches.layer_norm_forward.__get__(module)
    store = {}
    def keep(module, inputs, output):
        output.retain_grad()
        store["e"] = output
    model.bert.embeddings.register_forward_hook(keep)
    ids = torch.tensor([ids])
    logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    logits[0, target].backward()
    return (store["e"] * store["e"].grad)[0].sum(-1).detach()


def write_by_model(path, payload):
    """Writes {model: [entry, ...]} with one compact entry per line (small, diffable)."""
    lines = ["{"]
    for m, (name, entries) in enumerate(payload.items()):
        lines.append(f" {json.dumps(name)}: [")
        lines += [" " + json.dumps(x, ensure_ascii=False, separators=(",", ":"))
                  + ("," if i < len(entries) - 1 else "") for i, x in enumerate(entries)]
        lines.append(" ]" + ("," if m < len(payload) - 1 else ""))
    lines.append("}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def r7(x):
    return [r7(v) for v in x] if isinstance(x, list) else float(f"{x:.7g}")


def explain(ref, model, case, target=None):
    """AttnLRP of a fixture sentence in the dtype of `ref` (`model` in the same dtype), after the
    harness checks (a) and (b); target None = the predicted class, which must be the fixture's.
    Returns (logits, target, AttnLRP relevance, CP-LRP deviation from the lrp fixture)."""
    ids_t = torch.tensor([case["ids"]])
    mask = torch.ones_like(ids_t)
    tolerance = LOGIT_TOLERANCE[ref.dtype]
    with torch.no_grad():
        e = ref.embed(ids_t)
        logits = ref.logits(e, mask, None)[0]
        theirs = model(input_ids=ids_t).logits[0]
        rule_logits = [ref.logits(e, mask, mode)[0] for mode in ("attnlrp", "cp-lrp")]
    # (a) the harness's forward is the model's forward, with and without the rules in place
    assert theirs.dtype == ref.dtype, (theirs.dtype, ref.dtype)
    assert (logits - theirs).abs().max() < tolerance, (case["text"], logits, theirs)
    for other in rule_logits:
        assert (other - theirs).abs().max() < tolerance, (case["text"], other, theirs)
    if target is None:
        target = int(logits.argmax())
        assert target == case["target"], case["text"]
    # (b) CP-LRP placement in the same harness reproduces the lrp fixture
    cp = ref.relevance(e, mask, target, "cp-lrp")
    lrp = torch.tensor(case["relevance"]["lrp"], dtype=ref.dtype)
    cp_check = ((cp - lrp).abs().max() / lrp.abs().max()).item()
    assert cp_check < RELATIVE_TOLERANCE, (case["text"], ref.dtype, cp_check)
    attnlrp = ref.relevance(e, mask, target, "attnlrp")
    # LXT's two placements of the uniform rule (matmul outputs / q,k,v operands) agree
    operands = ref.relevance(e, mask, target, "attnlrp", split_at="operands")
    assert (attnlrp - operands).abs().max() <= 1e-5 * attnlrp.abs().max(), case["text"]
    return logits, target, attnlrp.detach(), cp_check


def main():
    torch.set_num_threads(2)
    fixture = json.loads((OUT / "text-attribution.json").read_text())
    payload = {}
    for name, model, tokenizer in load_models():
        refs = {dtype: LXTReference(model, dtype) for dtype in DTYPES}
        models = {torch.float64: copy.deepcopy(model).double(), torch.float32: model}
        entries, raw = [], []
        residuals = {"attnlrp": [], "lrp": []}
        for case in fixture[name]:
            ids = case["ids"]
            assert tokenizer(case["text"])["input_ids"] == ids, (name, case["text"])
            logits, target, attnlrp, cp_check = explain(refs[torch.float64], models[torch.float64], case)
            logits32, _, attnlrp32, _ = explain(refs[torch.float32], models[torch.float32], case, target)
            raw.append({torch.float64: attnlrp, torch.float32: attnlrp32})
            logit = logits[target].item()
            residuals["attnlrp"].append(attnlrp.sum().item() - logit)
            residuals["lrp"].append(sum(case["relevance"]["lrp"]) - logit)
            expected = {"logits": logits.tolist(), "relevance": attnlrp.tolist()}
            deviation = float32_deviation({"logits": logits32.tolist(), "relevance": attnlrp32.tolist()},
                                          expected, ["logits", "relevance"])
            entries.append({"text": case["text"], "ids": ids, "target": target, "logits": r7(expected["logits"]),
                            "relevance": r7(expected["relevance"]), "cp_lrp_check": float(f"{cp_check:.3g}"),
                            "float32_deviation": deviation})
        payload[name] = entries
        if name == "tiny-bert":  # (c) LXT's own BERT modelling code gives the same AttnLRP
            data = json.loads((MODEL_FIXTURES / f"{name}.json").read_text())
            worst = 0.0
            for x, mine in zip(entries, raw):
                for dtype in DTYPES:
                    theirs = lxt_bert_relevance(data, x["ids"], x["target"], dtype)
                    deviation = ((theirs - mine[dtype]).abs().max() / mine[dtype].abs().max()).item()
                    assert deviation < RELATIVE_TOLERANCE, (name, x["text"], dtype, deviation)
                    worst = max(worst, deviation)
            print(f"{name}: AttnLRP through LXT's patched BertForSequenceClassification (float64 and float32): "
                  f"max deviation {worst:.2e} of max |R|")
        mean_logit = sum(abs(x["logits"][x["target"]]) for x in entries) / len(entries)
        float32 = max(x["float32_deviation"]["relevance"] / max(map(abs, x["relevance"])) for x in entries)
        print(f"{name}: {len(entries)} sentences; max CP-LRP deviation from the lrp fixture "
              f"{max(x['cp_lrp_check'] for x in entries):.2e}; float32's max deviation {float32:.2e} of max |R|; "
              "mean |ΣR - logit| / mean |logit|: "
              + ", ".join(f"{k} {sum(map(abs, v)) / len(v) / mean_logit:.4f}" for k, v in residuals.items()))
    write_by_model(OUT / "attnlrp.json", payload)


if __name__ == "__main__":
    main()

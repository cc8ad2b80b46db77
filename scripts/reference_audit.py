"""Writes Tests/AttributionTests/Fixtures/audit.json: a relevance audit of gradient×input methods,
for the shipped sample model and the tiny JSON models, on the first three sentences of attnlrp.json.

For each method, f = logit of the predicted class and ∂f/∂h is the gradient under the method's rules:

  gradxinput  plain gradients
  lrp         the explicit forward of reference_attribution.py with all of its HOOKS
              (LayerNorm σ, attention probabilities, GELU Φ and pooler tanh ratio held constant)
  attnlrp     the explicit forward of reference_attnlrp.py with LXT's rule functions
              (σ, Φ and tanh ratio constant, softmax as is, q·kᵀ and P·v through divide_gradient(·, 2))

The audit gives Σ h ⊙ ∂f/∂h (over every position and feature) at the input h of every sublayer, in
forward order:

  layer.N.attention      the block's input x (for N = 0 the embedding-block output e, so that its sum
                         is Σ_t R_t of the existing fixtures)
  layer.N.attention_norm attention_output(x) + x, the input of the block's first LayerNorm
  layer.N.ffn            the FFN's input (that LayerNorm's output)
  layer.N.output_norm    ffn(h) + h, the input of the block's second LayerNorm
  head                   the encoder output at [CLS], the input of pre_classifier / pooler.dense
  classifier             the input of the final classifier linear (after ReLU / tanh)

and the bias share Σ_b b ⊙ ∂f/∂b over every bias after the embedding block: the bias of every Linear
(q, k, v, attention output, both FFN linears, pre_classifier / pooler.dense, classifier) and the β of
every LayerNorm of the encoder.

The expected values (target_logit, sum_tokens, bias_share, sum_relevance; written to 7
significant digits) are computed in float64 (the checkpoints are float32, which float64 holds
exactly). The same audit is then run again in float32 (same code, the float64 run's target,
torch's default kernels, 2 threads), with the same checks, and each sentence records under
`float32_deviation` PyTorch float32's own deviation from float64, mirroring the compared keys:
{"target_logit": |Δ|, "methods": {method: {"sum_tokens": |Δ|, "bias_share": |Δ|,
"audit": max over the audit points of |Δ sum_relevance|}}}.

Checks: layer.0.attention == Σ_t R_t == Σ of the fixture's relevance (text-attribution.json for
gradxinput and lrp, attnlrp.json for attnlrp); and, since the lrp-modified network is affine in e,
Σ_t R_t + bias share == f for lrp, and more generally, at every audit point h,
Σ h ⊙ ∂f/∂h + (share of the biases downstream of h) == f. Run through `make reference` (last).
"""

import copy
import json
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_attribution import DTYPES, HOOKS, OUT, Reference, float32_deviation  # noqa: E402
from reference_attnlrp import LOGIT_TOLERANCE, LXTReference, load_models, r7, write_by_model  # noqa: E402

SENTENCES_PER_MODEL = 3
# relative, against the fixtures' Σ_t R_t (float64; float32 is looser: Σ_t R_t of gradxinput
# can cancel to ~10⁻³ of its terms, e.g. tiny-bert on "the movie was not good")
FIXTURE_TOLERANCE = {torch.float64: 1e-4, torch.float32: 1e-3}
CONSERVATION_TOLERANCE = 1e-4  # relative to |f|, lrp only
SAME_SUM_TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-6}  # the first audit point is e
LAYER = re.compile(r"(?:transformer|encoder)\.layer\.(\d+)\.(.+)")
POINTS = {  # module name (relative to the block) -> audit point of its input
    "attention.q_lin": "attention", "attention.self.query": "attention",
    "sa_layer_norm": "attention_norm", "attention.output.LayerNorm": "attention_norm",
    "ffn.lin1": "ffn", "intermediate.dense": "ffn",
    "output_layer_norm": "output_norm", "output.LayerNorm": "output_norm",
}
HEAD = {"pre_classifier": "head", "pooler.dense": "head", "classifier": "classifier"}


class Audit:
    """Mixin over Reference / LXTReference: records the input of every audited sublayer (with
    retain_grad) and the order in which the biases are used, without touching the rules."""

    def start(self):
        self.taps, self.biases = [], []
        self.bias_names = [k for k in self.p if k.endswith(".bias") and not k.startswith("embeddings.")]
        for k in self.bias_names:  # fresh leaves, so that each run gets its own ∂f/∂b
            self.p[k] = self.p[k].detach().clone().requires_grad_(True)

    def tap(self, name, x):
        if not torch.is_grad_enabled():  # a plain forward, nothing to audit
            return
        match = LAYER.fullmatch(name)
        point = f"layer.{match[1]}.{POINTS[match[2]]}" if match and match[2] in POINTS else HEAD.get(name)
        if point is not None:
            x.retain_grad()
            self.taps.append((point, x, len(self.biases)))  # biases used from here on are downstream
        self.biases.append(name + ".bias")

    def linear(self, name, x):
        self.tap(name, x)
        return super().linear(name, x)

    def ln(self, name, x, rules):
        self.tap(name, x)
        return super().ln(name, x, rules)


class AuditReference(Audit, Reference):
    pass


class AuditLXTReference(Audit, LXTReference):
    pass


def audit(ref, e, mask, target, rules):
    ref.start()
    leaf = e.detach().clone().requires_grad_(True)
    ref.logits(leaf, mask, rules)[0, target].backward()
    assert sorted(ref.biases) == sorted(ref.bias_names), "a bias of the checkpoint is not used, or used twice"
    share = {b: 0.0 if ref.p[b].grad is None else (ref.p[b] * ref.p[b].grad).sum().item()
             for b in ref.biases}  # no gradient: q and k under lrp (attention probabilities constant)
    points = [(point, (x * x.grad).sum().item(), sum(share[b] for b in ref.biases[i:]))
              for point, x, i in ref.taps]
    return (leaf * leaf.grad).sum().item(), sum(share.values()), points


def expected_points(layers):
    return [f"layer.{n}.{p}" for n in range(layers)
            for p in ("attention", "attention_norm", "ffn", "output_norm")] + ["head", "classifier"]


def close(a, b, tolerance):
    return abs(a - b) <= tolerance * max(abs(a), abs(b))


def audit_sentence(refs, model, case, fixtures, name, worst, target=None):
    """The audit of one sentence for every method, in the dtype of `refs` (`model` in the same
    dtype), with the checks (1) and (2); target None = the predicted class, which must be the
    fixture's. Returns (target, f, {method: (Σ_t R_t, bias share, [(point, Σ h·∂f/∂h), ...])})."""
    ids_t = torch.tensor([case["ids"]])
    mask = torch.ones_like(ids_t)
    ref = refs["gradxinput"][0]
    with torch.no_grad():
        e = ref.embed(ids_t)
        logits = ref.logits(e, mask, set())[0]
        assert (logits - model(input_ids=ids_t).logits[0]).abs().max() < LOGIT_TOLERANCE[ref.dtype], \
            (name, case["text"])
    if target is None:
        target = int(logits.argmax())
        assert target == case["target"], (name, case["text"])
    logit = logits[target].item()
    layers = model.config.num_hidden_layers
    methods = {}
    for method, (ref, rules) in refs.items():
        sum_tokens, bias_share, points = audit(ref, e, mask, target, rules)
        assert [p for p, _, _ in points] == expected_points(layers), [p for p, _, _ in points]
        # (1) the audit starts at e, and Σ_t R_t is the fixture's
        fixture = next(x for x in fixtures[method][name] if x["text"] == case["text"])
        relevance = fixture["relevance"] if method == "attnlrp" else fixture["relevance"][method]
        assert close(points[0][1], sum_tokens, SAME_SUM_TOLERANCE[ref.dtype]), (name, method, points[0][1], sum_tokens)
        assert close(sum_tokens, sum(relevance), FIXTURE_TOLERANCE[ref.dtype]), \
            (name, case["text"], method, ref.dtype, sum_tokens, sum(relevance))
        worst["fixture"] = max(worst["fixture"], abs(sum_tokens - sum(relevance)) / abs(sum(relevance)))
        # (2) lrp is affine in e: conservation at e and at every audit point
        if method == "lrp":
            assert close(sum_tokens + bias_share, logit, CONSERVATION_TOLERANCE), \
                (name, case["text"], ref.dtype, sum_tokens, bias_share, logit)
            for point, value, downstream in points:
                assert close(value + downstream, logit, CONSERVATION_TOLERANCE), \
                    (name, case["text"], ref.dtype, point, value, downstream, logit)
                worst["conservation"] = max(worst["conservation"], abs(value + downstream - logit) / abs(logit))
        methods[method] = (sum_tokens, bias_share, [(p, v) for p, v, _ in points])
    return target, logit, methods


def compared(logit, methods):
    """The compared values of a sentence, as the fixture holds them (before rounding)."""
    return {"target_logit": logit,
            "methods": {method: {"sum_tokens": sum_tokens, "bias_share": bias_share,
                                 "audit": [v for _, v in points]}
                        for method, (sum_tokens, bias_share, points) in methods.items()}}


def main():
    torch.set_num_threads(2)
    fixtures = {"gradxinput": json.loads((OUT / "text-attribution.json").read_text()),
                "attnlrp": json.loads((OUT / "attnlrp.json").read_text())}
    fixtures["lrp"] = fixtures["gradxinput"]
    payload = {}
    for name, model, tokenizer in load_models():
        # the checkpoints are float32, so float64 holds them exactly
        models = {torch.float64: copy.deepcopy(model).double(), torch.float32: model}
        refs = {dtype: {"gradxinput": (AuditReference(model, dtype), set()),
                        "lrp": (AuditReference(model, dtype), set(HOOKS)),
                        "attnlrp": (AuditLXTReference(model, dtype), "attnlrp")} for dtype in DTYPES}
        entries = []
        worst = {dtype: {"fixture": 0.0, "conservation": 0.0} for dtype in DTYPES}
        for case in fixtures["attnlrp"][name][:SENTENCES_PER_MODEL]:
            ids = case["ids"]
            assert tokenizer(case["text"])["input_ids"] == ids, (name, case["text"])
            target, logit, methods = audit_sentence(refs[torch.float64], models[torch.float64], case, fixtures,
                                                    name, worst[torch.float64])
            _, logit32, methods32 = audit_sentence(refs[torch.float32], models[torch.float32], case, fixtures,
                                                   name, worst[torch.float32], target)
            for method, (sum_tokens, bias_share, _) in methods.items():
                print(f"{name} | {case['text']!r} | {method}: f {logit:.7g}, Σ_t R_t {sum_tokens:.7g}, "
                      f"bias share {bias_share:.7g}, f - Σ_t R_t - bias share {logit - sum_tokens - bias_share:.3g}")
            entries.append({"text": case["text"], "ids": ids, "target": target, "target_logit": r7(logit),
                            "methods": {method: {"sum_tokens": r7(sum_tokens), "bias_share": r7(bias_share),
                                                 "audit": [{"layer": p, "sum_relevance": r7(v)} for p, v in points]}
                                        for method, (sum_tokens, bias_share, points) in methods.items()},
                            "float32_deviation": float32_deviation(compared(logit32, methods32),
                                                                   compared(logit, methods),
                                                                   ["target_logit", "methods"])})
        payload[name] = entries
        for dtype in DTYPES:
            print(f"{name} ({dtype}): max relative deviation of Σ_t R_t from the fixtures "
                  f"{worst[dtype]['fixture']:.2e}; lrp: max |Σ h·∂f/∂h + downstream bias share - f| / |f| "
                  f"{worst[dtype]['conservation']:.2e}")
        print(f"{name}: biases in the share: " + ", ".join(refs[torch.float64]["lrp"][0].biases))
    write_by_model(OUT / "audit.json", payload)


if __name__ == "__main__":
    main()

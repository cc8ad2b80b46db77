"""Writes Tests/AttributionTests/Fixtures/decoders/attribution.json: gradient × input, CP-LRP and
AttnLRP relevances of the tiny decoder language models of Tests/ModelsTests/Fixtures/decoders/
(gpt2, llama-gqa, llama3-scaled, qwen2), for next-token, contrastive, per-step and span targets,
with the LRP rules of LXT 2.1 (PyPI `lxt`, "efficient" mode) placed where LXT's own family
files place them. With --smollm2 it writes smollm2-attribution.json instead (the real
SmolLM2-135M-Instruct GGUF of `make models`; next-token lrp/attnlrp, float32 values with the float64
run's deviation; run by `make reference-models`).

Relevance of source position s for a scalar target f: R_s = Σ_d e_{s,d} · ∂f/∂e_{s,d}, where e is
the input of the first decoder block (Llama/Qwen2: the token embedding row; GPT-2: token +
position embedding, wte[id] + wpe[s]) and ∂ is the backward pass with the method's rules in place.

How LXT's rules are applied (two routes, which must agree):
  B (the values written): a decoder forward written out here, in the working dtype, that calls
    Hugging Face's own modules (Linear/Conv1D projections, GPT2MLP, LlamaMLP/Qwen2MLP, LayerNorm,
    apply_rotary_pos_emb) and, at the places LXT's family files patch, LXT's own functions:
      patches.layer_norm_forward, patches.gated_mlp_forward, patches.cp_gated_mlp_forward,
      models/gpt2.py's mlp_forward, patches.wrap_attention_forward / cp_wrap_attention_forward
      (wrapped around the plain eager attention written here), rules.stop_gradient.
    One function is restated: patches.rms_norm_forward, without its `.to(torch.float32)` (in
    float32 it is the same function, checked bit for bit; in float64 LXT's cast would round the
    float64 reference to float32). RoPE uses the model's own float32 `inv_freq` buffer (what
    xai computes too), with the angles, cos and sin in the working dtype.
  A (the check): Hugging Face's own LlamaForCausalLM / Qwen2ForCausalLM / GPT2LMHeadModel
    (attn_implementation="eager") patched by LXT's own `monkey_patch` with the `attnLRP` /
    `cp_LRP` maps of lxt/efficient/models/{llama,qwen2,gpt2}.py. Under transformers 5 one shim
    is needed: LXT's patch_attention replaces the module's ALL_ATTENTION_FUNCTIONS (an
    AttentionInterface) with a plain dict, which has no get_interface(); the dict is put back
    inside an AttentionInterface (same entries). All patches are undone after each use.
    Route A in float64 is only float32-accurate (HF's RMSNorm, LXT's rms_norm_forward, the
    eager softmax and the rotary cos/sin compute in float32), so A–B agreement is checked at
    a relative 1e-5 of max |R| in both dtypes.
  C (the check of the written rule table): the JSON's "rules" implemented by hand, op by op, with
    no autograd (by_hand); it must reproduce route B to 1e-12 in float64 for every target.
`import lxt.efficient` fails under transformers 5 (its BERT patch imports a removed helper),
so rules.py, patches.py, core.py and the family files are loaded by file path (core.py with a
stand-in for lxt.efficient.models, whose __init__ imports the BERT file; monkey_patch only
needs it when no map is given).

gradxinput is plain autograd through the same forward. It is also computed with Captum 0.9's
LLMGradientAttribution(LayerGradientXActivation(model, layer)), whose target is fixed by Captum
to the log-probability log_softmax(logits)[token] of each generated token (not the logit) and
whose columns are the prompt positions only; it is checked against route B's gradxinput of the
same log-probabilities. Captum's LLMGradientAttribution accepts only layer methods
(LayerGradientXActivation, LayerIntegratedGradients, LayerGradientShap), so "InputXGradient on
the input embeddings" is LayerGradientXActivation on the layer whose output is e (GPT-2:
transformer.drop, whose output is wte + wpe; Llama/Qwen2: model.embed_tokens); for GPT-2 the
result on transformer.wte (token embedding only, Captum's usual choice) is recorded too.

Every value is computed in float64 (the weights are F32/F16/BF16, which float64 holds exactly)
and the same code is run again in float32 (the float64 run's token choices); each method
records `float32_deviation` = max |float32 − float64| over its compared values, as the other
fixtures do (Tests/ReferenceSupport/DerivedTolerance.swift). Values are rounded to 7
significant digits. Single-threaded torch.
"""

import argparse
import contextlib
import importlib.util
import json
import math
import sys
import types
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, AttentionInterface
from transformers.models.gpt2 import modeling_gpt2
from transformers.models.llama import modeling_llama
from transformers.models.qwen2 import modeling_qwen2
from transformers.utils import logging as hf_logging

ROOT = Path(__file__).resolve().parent.parent
DECODERS = ROOT / "Tests/ModelsTests/Fixtures/decoders"
OUT = ROOT / "Tests/AttributionTests/Fixtures/decoders"
SMOLLM2 = "smollm2-135m-instruct.gguf"

torch.set_num_threads(1)
hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()

DTYPES = (torch.float64, torch.float32)
METHODS = ("gradxinput", "lrp", "attnlrp")
PROMPT_LENGTH = 8
GENERATED = 6
SPAN = (2, 4)                  # generated tokens 2..4, 1-based
# route A (and Captum) vs route B, relative to max |R|: in float32 both run the same float32 ops; in
# float64 HF's model still rounds through float32 (RMSNorm, eager softmax, rotary cos/sin)
ROUTE_TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-4}
CASES = [  # (name in expected.json, folder, methods)
    ("gpt2", "gpt2", METHODS),
    ("llama-gqa", "llama-gqa", METHODS),
    ("llama3-scaled", "llama3-scaled", ("lrp",)),
    ("qwen2", "qwen2", METHODS),
]
SMOLLM2_PROMPTS = ["The quick brown fox jumps over the lazy dog and then",
                   "She opened the door and saw that the garden was"]


# ---------------------------------------------------------------------------------------------
# LXT 2.1, loaded by file path

def load_lxt():
    root = Path(importlib.util.find_spec("lxt").submodule_search_locations[0]) / "efficient"

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    rules = load("lxt.efficient.rules", root / "rules.py")
    patches = load("lxt.efficient.patches", root / "patches.py")
    stand_in = types.ModuleType("lxt.efficient.models")  # its __init__ imports bert.py, which fails
    stand_in.get_default_map = lambda module: (_ for _ in ()).throw(ValueError("pass a patch_map"))
    sys.modules["lxt.efficient.models"] = stand_in
    core = load("lxt.efficient.core", root / "core.py")
    families = {name: load(f"lxt.efficient.models.{name}", root / "models" / f"{name}.py")
                for name in ("llama", "qwen2", "gpt2")}
    return rules, patches, core, families


rules, patches, core, LXT_FAMILIES = load_lxt()
HF_MODULES = {"llama": modeling_llama, "qwen2": modeling_qwen2, "gpt2": modeling_gpt2}
LXT_MAPS = {"lrp": "cp_LRP", "attnlrp": "attnLRP"}


@contextlib.contextmanager
def lxt_patched(family, method):
    """Route A: LXT's monkey_patch(modeling_<family>, <family>.<map>) on HF's classes, undone after."""
    module = HF_MODULES[family]
    patch_map = getattr(LXT_FAMILIES[family], LXT_MAPS[method])
    saved_classes = {target: target.__dict__["forward"] for target in patch_map if isinstance(target, type)}
    saved_module = (module.eager_attention_forward, module.ALL_ATTENTION_FUNCTIONS)
    saved_shared = dict(ALL_ATTENTION_FUNCTIONS._local_mapping)  # cp patch writes into the shared one
    try:
        core.monkey_patch(module, patch_map)
        if not hasattr(module.ALL_ATTENTION_FUNCTIONS, "get_interface"):  # transformers 5 shim
            interface = AttentionInterface()
            interface._local_mapping = dict(module.ALL_ATTENTION_FUNCTIONS)
            module.ALL_ATTENTION_FUNCTIONS = interface
        yield
    finally:
        for target, forward in saved_classes.items():
            target.forward = forward
        module.eager_attention_forward, module.ALL_ATTENTION_FUNCTIONS = saved_module
        ALL_ATTENTION_FUNCTIONS._local_mapping.clear()
        ALL_ATTENTION_FUNCTIONS._local_mapping.update(saved_shared)


# ---------------------------------------------------------------------------------------------
# Route B: the decoder written out, with LXT's functions at LXT's places

def rms_norm(module, x, method):
    """HF's LlamaRMSNorm / Qwen2RMSNorm in the working dtype; for lrp and attnlrp LXT's
    patches.rms_norm_forward (normaliser through stop_gradient) without its float32 cast."""
    inverse = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + module.variance_epsilon)
    if method != "gradxinput":
        inverse = rules.stop_gradient(inverse)
    return module.weight * (x * inverse)


def layer_norm(module, x, method):
    if method == "gradxinput":
        return F.layer_norm(x, module.normalized_shape, module.weight, module.bias, module.eps)
    return patches.layer_norm_forward(module, x)


def eager_attention(module, query, key, value, groups, scaling):
    """Plain causal attention: softmax(q kᵀ · scaling + causal mask) v, kv heads repeated."""
    key = key.repeat_interleave(groups, dim=1)
    value = value.repeat_interleave(groups, dim=1)
    t = query.shape[2]
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling
    causal = torch.ones(t, t, dtype=torch.bool).triu(1)
    probabilities = scores.masked_fill(causal, float("-inf")).softmax(-1)
    return torch.matmul(probabilities, value)


ATTENTION = {"gradxinput": eager_attention,
             "lrp": patches.cp_wrap_attention_forward(eager_attention),
             "attnlrp": patches.wrap_attention_forward(eager_attention)}


class Decoder:
    """A HF causal LM (already in the working dtype) run by hand, with the method's rules."""

    def __init__(self, model, family, inv_freq):
        self.model, self.family = model, family
        self.dtype = next(model.parameters()).dtype
        self.inv_freq = None if inv_freq is None else inv_freq.to(self.dtype)  # the float32 buffer, exactly
        if family == "gpt2":
            self.attention_scaling = 1.0
        else:
            self.attention_scaling = float(model.model.rotary_emb.attention_scaling)

    def embed(self, ids):
        ids = torch.tensor(ids)
        if self.family == "gpt2":
            t = self.model.transformer
            return t.wte(ids) + t.wpe(torch.arange(len(ids)))
        return self.model.model.embed_tokens(ids)

    def logits(self, e, method):
        """e: (T, d) block-0 input -> (T, vocab) logits."""
        x = e[None]
        t = e.shape[0]
        attention = ATTENTION[method]
        if self.family == "gpt2":
            tr = self.model.transformer
            for block in tr.h:
                a = block.attn
                heads, width = a.num_heads, a.head_dim
                q, k, v = a.c_attn(layer_norm(block.ln_1, x, method)).split(a.split_size, dim=2)
                q, k, v = (z.view(1, t, heads, width).transpose(1, 2) for z in (q, k, v))
                context = attention(a, q, k, v, 1, width ** -0.5).transpose(1, 2).reshape(1, t, -1)
                x = x + a.c_proj(context)
                h = layer_norm(block.ln_2, x, method)
                if method == "gradxinput":
                    x = x + block.mlp.c_proj(block.mlp.act(block.mlp.c_fc(h)))
                else:  # both LXT maps: models/gpt2.py's mlp_forward (identity rule on the GELU)
                    x = x + LXT_FAMILIES["gpt2"].mlp_forward(block.mlp, h)
            return self.model.lm_head(layer_norm(tr.ln_f, x, method))[0]
        m = self.model.model
        angles = torch.arange(t, dtype=self.dtype)[:, None] * self.inv_freq[None]
        angles = torch.cat([angles, angles], -1)
        cos, sin = angles.cos() * self.attention_scaling, angles.sin() * self.attention_scaling
        for layer in m.layers:
            a = layer.self_attn
            width = a.head_dim
            h = rms_norm(layer.input_layernorm, x, method)
            q = a.q_proj(h).view(1, t, -1, width).transpose(1, 2)
            k = a.k_proj(h).view(1, t, -1, width).transpose(1, 2)
            v = a.v_proj(h).view(1, t, -1, width).transpose(1, 2)
            q, k = modeling_llama.apply_rotary_pos_emb(q, k, cos[None], sin[None])
            context = attention(a, q, k, v, a.num_key_value_groups, a.scaling).transpose(1, 2).reshape(1, t, -1)
            x = x + a.o_proj(context)
            h = rms_norm(layer.post_attention_layernorm, x, method)
            mlp = layer.mlp
            if method == "gradxinput":
                x = x + mlp.down_proj(mlp.act_fn(mlp.gate_proj(h)) * mlp.up_proj(h))
            elif method == "lrp":
                x = x + patches.cp_gated_mlp_forward(mlp, h)
            else:
                x = x + patches.gated_mlp_forward(mlp, h)
        return self.model.lm_head(rms_norm(m.norm, x, method))[0]

    def relevance(self, ids, method, target):
        """(R per position, f): one forward, one backward of target(logits)."""
        e = self.embed(ids).detach()
        leaf = e.clone().requires_grad_(True)
        f = target(self.logits(leaf, method))
        f.backward()
        return (e * leaf.grad).sum(-1).detach(), f.detach()


# ---------------------------------------------------------------------------------------------
# Route C: the rule table of the JSON ("rules"), by hand: forward, then a backward written out op
# by op with no autograd. It must reproduce route B (proves the table says all that matters).

def _rms_backward(x, w, eps, g, method):
    r = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    u = g * w
    if method != "gradxinput":
        return u * r
    return u * r - x * r.pow(3) * (u * x).mean(-1, keepdim=True)


def _ln_backward(x, gamma, eps, g, method):
    mu = x.mean(-1, keepdim=True)
    sigma = ((x - mu).pow(2).mean(-1, keepdim=True) + eps).sqrt()
    u = g * gamma / sigma
    if method != "gradxinput":
        return u - u.mean(-1, keepdim=True)
    xhat = (x - mu) / sigma
    return u - u.mean(-1, keepdim=True) - xhat * (u * xhat).mean(-1, keepdim=True)


def _attention_backward(q, k, v, scale, G, method):
    """q (H,T,w), k and v (H,T,w) already repeated to H heads; G = g_context (H,T,w)."""
    t = q.shape[1]
    S = (q @ k.transpose(-1, -2)) * scale
    S = S.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    P = S.softmax(-1)
    if method == "lrp":
        return torch.zeros_like(q), torch.zeros_like(k), P.transpose(-1, -2) @ G
    g_v = P.transpose(-1, -2) @ G
    g_P = G @ v.transpose(-1, -2)
    g_S = P * (g_P - (P * g_P).sum(-1, keepdim=True))
    g_q, g_k = g_S @ k * scale, g_S.transpose(-1, -2) @ q * scale
    if method == "attnlrp":
        return g_q / 4, g_k / 4, g_v / 2
    return g_q, g_k, g_v


def _unrepeat(g, groups):
    h, t, w = g.shape
    return g.view(h // groups, groups, t, w).sum(1)


def by_hand_deviation(decoder, ids, method, target, mine):
    """max |R(rule table by hand) - R(route B)| / max |R|; the target differentiated plainly at the logits."""
    with torch.no_grad():
        logits = decoder.logits(decoder.embed(ids), "gradxinput")
    logits.requires_grad_(True)
    target(logits).backward()
    theirs = by_hand(decoder, ids, method, logits.grad)[:len(mine)]
    return ((theirs - mine).abs().max() / mine.abs().max()).item()


def by_hand(decoder, ids, method, g_logits):
    """R per position from the rule table, for an upstream gradient g_logits (T, vocab)."""
    model, family = decoder.model, decoder.family
    with torch.no_grad():
        e = decoder.embed(ids)
        t = e.shape[0]
        x, tape = e, []
        if family == "gpt2":
            tr = model.transformer
            for block in tr.h:
                a = block.attn
                h1 = F.layer_norm(x, block.ln_1.normalized_shape, block.ln_1.weight, block.ln_1.bias, block.ln_1.eps)
                q, k, v = a.c_attn(h1).split(a.split_size, dim=-1)
                q, k, v = (z.view(t, a.num_heads, a.head_dim).transpose(0, 1) for z in (q, k, v))
                context = eager_attention(None, q[None], k[None], v[None], 1, a.head_dim ** -0.5)[0]
                x_mid = x + a.c_proj(context.transpose(0, 1).reshape(t, -1))
                h2 = F.layer_norm(x_mid, block.ln_2.normalized_shape, block.ln_2.weight, block.ln_2.bias, block.ln_2.eps)
                z = block.mlp.c_fc(h2)
                tape.append((x, q, k, v, x_mid, z))
                x = x_mid + block.mlp.c_proj(block.mlp.act(z))
            g = g_logits @ model.lm_head.weight
            g = _ln_backward(x, tr.ln_f.weight, tr.ln_f.eps, g, method)
            for block, (x, q, k, v, x_mid, z) in zip(reversed(tr.h), reversed(tape)):
                a = block.attn
                g_act = g @ block.mlp.c_proj.weight.T           # Conv1D: y = x W + b
                if method == "gradxinput":
                    c = math.sqrt(2 / math.pi)
                    th = torch.tanh(c * (z + 0.044715 * z.pow(3)))
                    g_z = g_act * (0.5 * (1 + th) + 0.5 * z * (1 - th.pow(2)) * c * (1 + 3 * 0.044715 * z.pow(2)))
                else:
                    g_z = g_act * block.mlp.act(z) / (z + 1e-10)
                g_h2 = g_z @ block.mlp.c_fc.weight.T
                g = g + _ln_backward(x_mid, block.ln_2.weight, block.ln_2.eps, g_h2, method)
                G = (g @ a.c_proj.weight.T).view(t, a.num_heads, a.head_dim).transpose(0, 1)
                g_q, g_k, g_v = _attention_backward(q, k, v, a.head_dim ** -0.5, G, method)
                g_qkv = torch.cat([z.transpose(0, 1).reshape(t, -1) for z in (g_q, g_k, g_v)], -1)
                g = g + _ln_backward(x, block.ln_1.weight, block.ln_1.eps, g_qkv @ a.c_attn.weight.T, method)
            return (e * g).sum(-1)
        m = model.model
        angles = torch.arange(t, dtype=decoder.dtype)[:, None] * decoder.inv_freq[None]
        angles = torch.cat([angles, angles], -1)
        cos, sin = angles.cos() * decoder.attention_scaling, angles.sin() * decoder.attention_scaling
        rot = modeling_llama.rotate_half
        unrot = lambda y: torch.cat((y[..., y.shape[-1] // 2:], -y[..., :y.shape[-1] // 2]), -1)  # rotate_half^T
        for layer in m.layers:
            a = layer.self_attn
            h1 = layer.input_layernorm.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True)
                                                                  + layer.input_layernorm.variance_epsilon))
            q = a.q_proj(h1).view(t, -1, a.head_dim).transpose(0, 1)
            k = a.k_proj(h1).view(t, -1, a.head_dim).transpose(0, 1)
            v = a.v_proj(h1).view(t, -1, a.head_dim).transpose(0, 1)
            q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
            kr, vr = (z.repeat_interleave(a.num_key_value_groups, dim=0) for z in (k, v))
            context = eager_attention(None, q[None], kr[None], vr[None], 1, a.scaling)[0]
            x_mid = x + a.o_proj(context.transpose(0, 1).reshape(t, -1))
            n2 = layer.post_attention_layernorm
            h2 = n2.weight * (x_mid * torch.rsqrt(x_mid.pow(2).mean(-1, keepdim=True) + n2.variance_epsilon))
            z, u = layer.mlp.gate_proj(h2), layer.mlp.up_proj(h2)
            tape.append((x, q, kr, vr, x_mid, z, u))
            x = x_mid + layer.mlp.down_proj(F.silu(z) * u)
        g = g_logits @ model.lm_head.weight
        g = _rms_backward(x, m.norm.weight, m.norm.variance_epsilon, g, method)
        for layer, (x, q, kr, vr, x_mid, z, u) in zip(reversed(m.layers), reversed(tape)):
            a, mlp = layer.self_attn, layer.mlp
            g_h = g @ mlp.down_proj.weight
            act = F.silu(z)
            if method == "gradxinput":
                g_u, g_z = g_h * act, g_h * u * torch.sigmoid(z) * (1 + z * (1 - torch.sigmoid(z)))
            elif method == "lrp":
                g_u, g_z = g_h * act, torch.zeros_like(z)
            else:
                g_u, g_a = g_h * act / 2, g_h * u / 2
                g_z = g_a * act / (z + 1e-10)
            g_h2 = g_z @ mlp.gate_proj.weight + g_u @ mlp.up_proj.weight
            n2 = layer.post_attention_layernorm
            g = g + _rms_backward(x_mid, n2.weight, n2.variance_epsilon, g_h2, method)
            G = (g @ a.o_proj.weight).view(t, -1, a.head_dim).transpose(0, 1)
            g_q, g_k, g_v = _attention_backward(q, kr, vr, a.scaling, G, method)
            g_k, g_v = _unrepeat(g_k, a.num_key_value_groups), _unrepeat(g_v, a.num_key_value_groups)
            g_q, g_k = g_q * cos + unrot(g_q * sin), g_k * cos + unrot(g_k * sin)
            flat = lambda z: z.transpose(0, 1).reshape(t, -1)
            g_h1 = flat(g_q) @ a.q_proj.weight + flat(g_k) @ a.k_proj.weight + flat(g_v) @ a.v_proj.weight
            n1 = layer.input_layernorm
            g = g + _rms_backward(x, n1.weight, n1.variance_epsilon, g_h1, method)
        return (e * g).sum(-1)


# ---------------------------------------------------------------------------------------------
# Route A: HF's model (LXT-patched for lrp/attnlrp); Captum

def embedding_layer(model, family):
    return model.transformer.drop if family == "gpt2" else model.model.embed_tokens


def hf_relevance(model, family, ids, method, target):
    store = {}

    def leaf_hook(module, inputs, output):
        store["e"] = output.detach()
        store["leaf"] = output.detach().clone().requires_grad_(True)
        return store["leaf"]

    handle = embedding_layer(model, family).register_forward_hook(leaf_hook)
    try:
        context = contextlib.nullcontext() if method == "gradxinput" else lxt_patched(family, method)
        with context:
            f = target(model(input_ids=torch.tensor([ids])).logits[0])
            f.backward()
    finally:
        handle.remove()
    return (store["e"] * store["leaf"].grad)[0].sum(-1).detach(), f.detach()


class IdTokenizer:
    """The least of a tokenizer Captum's TextTokenInput needs, for token ids given as such
    (the tiny fixtures have random id sequences, which no BPE tokenizer would reproduce):
    text "<0> <11> ..." <-> ids [0, 11, ...], no special tokens."""

    @staticmethod
    def _ids(text):
        return [int(piece[1:-1]) for piece in text.split()]

    def encode(self, text, return_tensors=None, add_special_tokens=True):
        ids = self._ids(text)
        return torch.tensor([ids]) if return_tensors == "pt" else ids

    def decode(self, ids):
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return " ".join(f"<{i}>" for i in (ids if isinstance(ids, list) else [ids]))

    def convert_ids_to_tokens(self, ids):
        return [f"<{i}>" for i in ids]

    def convert_tokens_to_ids(self, tokens):
        return [int(t[1:-1]) for t in tokens]

    def __call__(self, text, return_offsets_mapping=False, add_special_tokens=True, **kwargs):
        ids, offsets, start = [], [], 0
        for piece in text.split(" "):
            ids.append(int(piece[1:-1]))
            offsets.append((start, start + len(piece)))
            start += len(piece) + 1
        return {"input_ids": ids, "offset_mapping": offsets}


def captum_matrix(model, layer, prompt, generated):
    """Captum's per-step gradient × activation of log p(generated_k | prefix), prompt columns."""
    from captum.attr import LayerGradientXActivation, LLMGradientAttribution, TextTokenInput
    tokenizer = IdTokenizer()
    attribution = LLMGradientAttribution(LayerGradientXActivation(model, layer), tokenizer)
    result = attribution.attribute(TextTokenInput(tokenizer.decode(prompt), tokenizer),
                                   target=torch.tensor(generated))
    return result.token_attr.detach()


# ---------------------------------------------------------------------------------------------
# Targets

def logit_at(position, token):
    return lambda logits: logits[position, token]


def contrast_at(position, token, contrast):
    return lambda logits: logits[position, token] - logits[position, contrast]


def log_probability_sum(pairs):
    """Σ log_softmax(logits[p])[token] over (p, token) pairs."""
    return lambda logits: sum(logits[p].log_softmax(-1)[tok] for p, tok in pairs)


def r7(x):
    if isinstance(x, (list, tuple)):
        return [r7(v) for v in x]
    if isinstance(x, torch.Tensor):
        return r7(x.tolist())
    return float(f"{x:.7g}")


def max_abs(a, b):
    """max |a − b| over the elements of two equally shaped (possibly ragged) nests."""
    if isinstance(a, torch.Tensor):
        a, b = a.tolist(), b.tolist()
    if isinstance(a, list):
        assert len(a) == len(b)
        return max((max_abs(x, y) for x, y in zip(a, b)), default=0.0)
    return abs(float(a) - float(b))


# ---------------------------------------------------------------------------------------------

def load(folder, dtype, gguf_file=None):
    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, attn_implementation="eager",
                                                 **kwargs).eval()
    inv_freq = None if model.config.model_type == "gpt2" else model.model.rotary_emb.inv_freq.clone()
    assert inv_freq is None or inv_freq.dtype == torch.float32
    return model.to(dtype), inv_freq


def check_rms_norm(model):
    """rms_norm(·, 'lrp') is LXT's rms_norm_forward in float32, bit for bit, value and gradient."""
    module = model.model.layers[0].input_layernorm
    x = torch.randn(3, module.weight.shape[0], generator=torch.Generator().manual_seed(0))
    grads = []
    for fn in (lambda z: rms_norm(module, z, "lrp"), lambda z: patches.rms_norm_forward(module, z)):
        leaf = x.clone().requires_grad_(True)
        y = fn(leaf)
        y.backward(torch.ones_like(y))
        grads.append((y.detach(), leaf.grad))
    assert torch.equal(grads[0][0], grads[1][0]) and torch.equal(grads[0][1], grads[1][1])


def family_of(model):
    return {"gpt2": "gpt2", "llama": "llama", "qwen2": "qwen2"}[model.config.model_type]


def greedy(decoder, prompt, steps):
    """Greedy continuation by argmax of the plain forward; returns (ids, min top-1 − top-2 margin)."""
    sequence, margin = list(prompt), math.inf
    with torch.no_grad():
        for _ in range(steps):
            last = decoder.logits(decoder.embed(sequence), "gradxinput")[-1]
            top = last.topk(2).values
            margin = min(margin, (top[0] - top[1]).item())
            sequence.append(int(last.argmax()))
    return sequence[len(prompt):], margin


def tiny_case(name, folder, methods, expected):
    case = next(c for c in expected["cases"] if c["name"] == name)
    ids = case["input_ids"]
    prompt = ids[:PROMPT_LENGTH]
    models = {dtype: load(DECODERS / folder, dtype) for dtype in DTYPES}
    family = family_of(models[torch.float32][0])
    if family != "gpt2":
        check_rms_norm(models[torch.float32][0])
    decoders = {dtype: Decoder(m, family, inv) for dtype, (m, inv) in models.items()}
    d64 = decoders[torch.float64]

    # the forward written out is the model's forward (plain, and with each method's rules in place)
    with torch.no_grad():
        for dtype, decoder in decoders.items():
            theirs = models[dtype][0](input_ids=torch.tensor([ids])).logits[0]
            for method in methods + ("gradxinput",):
                mine = decoder.logits(decoder.embed(ids), method)
                tolerance = 2e-5  # 1e-6 relative; HF's float64 rounds through float32 (see ROUTE_TOLERANCE)
                assert (mine - theirs).abs().max() < tolerance, (name, dtype, method)
        stored = torch.tensor(case["logits"], dtype=torch.float64)
        assert (d64.logits(d64.embed(ids), "gradxinput") - stored).abs().max() < 6e-5, name

    # token choices, from the float64 forward; float32 (HF) must make the same choices
    with torch.no_grad():
        last = d64.logits(d64.embed(ids), "gradxinput")[-1]
    order = last.argsort(descending=True)
    target_id, contrast_id = int(order[0]), int(order[1])
    generated, margin = greedy(d64, prompt, GENERATED)
    generated32, _ = greedy(decoders[torch.float32], prompt, GENERATED)
    assert generated == generated32, name
    sequence = prompt + generated
    step_rows = [(PROMPT_LENGTH + k - 1, generated[k]) for k in range(GENERATED)]  # (position, token)
    span_pairs = step_rows[SPAN[0] - 1:SPAN[1]]

    targets = {
        "next": (ids, [("value", logit_at(len(ids) - 1, target_id))]),
        "contrast": (ids, [("value", contrast_at(len(ids) - 1, target_id, contrast_id))]),
        "steps": (sequence, [(p, logit_at(p, tok)) for p, tok in step_rows]),
        "span": (sequence, [("value", log_probability_sum(span_pairs))]),
    }
    out = {
        "name": name, "folder": folder, "family": family, "methods": list(methods),
        "prompt": prompt, "generated": generated, "greedy_min_margin": round(margin, 4),
        "targets": {
            "next": {"input_ids": ids, "position": len(ids) - 1, "target_id": target_id,
                     "f": "logits[position][target_id]", "target_margin": round((last[order[0]] - last[order[1]]).item(), 4)},
            "contrast": {"input_ids": ids, "position": len(ids) - 1, "target_id": target_id,
                         "contrast_id": contrast_id,
                         "f": "logits[position][target_id] - logits[position][contrast_id]"},
            "steps": {"input_ids": sequence,
                      "rows": [{"step": k + 1, "position": p, "target_id": tok} for k, (p, tok) in enumerate(step_rows)],
                      "f": "row k: logits[position_k][target_id_k], position_k = 7 + k (1-based k), the "
                           "token at position_k + 1 = generated token k; relevance row k covers positions "
                           "0 ... position_k (later positions are exactly 0 and are left out)"},
            "span": {"input_ids": sequence, "generated_tokens": list(range(SPAN[0], SPAN[1] + 1)),
                     "pairs": [{"position": p, "target_id": tok} for p, tok in span_pairs],
                     "f": "sum over pairs of log_softmax(logits[position])[target_id] (log-softmax over the "
                          "whole vocabulary, differentiated plainly; one backward)"},
        },
    }
    summary = {}
    for target_name, (seq, rows) in targets.items():
        entry = out["targets"][target_name]
        entry["methods"] = {}
        for method in methods:
            result = {}
            for dtype, decoder in decoders.items():
                rel, val = [], []
                for position, fn in rows:
                    r, f = decoder.relevance(seq, method, fn)
                    if position != "value":
                        assert r[position + 1:].abs().max() == 0, (name, target_name, position)
                        r = r[:position + 1]
                    rel.append(r)
                    val.append(f)
                result[dtype] = (rel, val)
                if dtype == torch.float64:  # route C: the rule table by hand
                    for (position, fn), mine in zip(rows, rel):
                        deviation = by_hand_deviation(decoder, seq, method, fn, mine)
                        assert deviation < 1e-12, (name, target_name, method, deviation)
                        summary[f"route_c_{method}_float64"] = max(summary.get(f"route_c_{method}_float64", 0.0),
                                                                   deviation)
                # route A: LXT's monkey_patch on HF's model (or plain HF for gradxinput)
                model = models[dtype][0]
                for (position, fn), mine in zip(rows, rel):
                    theirs, _ = hf_relevance(model, family, seq, method, fn)
                    if position != "value":
                        theirs = theirs[:position + 1]
                    deviation = ((theirs - mine).abs().max() / mine.abs().max()).item()
                    assert deviation < ROUTE_TOLERANCE[dtype], (name, target_name, method, dtype, deviation)
                    key = f"route_a_{method}_{'float64' if dtype == torch.float64 else 'float32'}"
                    summary[key] = max(summary.get(key, 0.0), deviation)
            (rel64, val64), (rel32, val32) = result[torch.float64], result[torch.float32]
            single = target_name != "steps"
            record = {
                "f": r7(val64[0] if single else val64),
                "relevance": r7(rel64[0] if single else rel64),
                "sum": r7(rel64[0].sum() if single else [r.sum() for r in rel64]),
                "float32_deviation": {"f": max_abs(val32, val64), "relevance": max_abs(rel32, rel64)},
            }
            entry["methods"][method] = record
        if target_name == "steps" and "gradxinput" in methods:
            entry["captum"] = captum_record(models, decoders, family, prompt, generated, step_rows, summary, name)
    out["checks"] = {k: float(f"{v:.2g}") for k, v in sorted(summary.items())}
    return out


def captum_record(models, decoders, family, prompt, generated, step_rows, summary, name):
    sequence = prompt + generated
    layers = [("e", lambda m: embedding_layer(m, family))]
    if family == "gpt2":
        layers.append(("wte", lambda m: m.transformer.wte))
    record = {"target": "Captum's fixed target: log_softmax(logits[position_k])[target_id_k] (log-probability, "
                        "not the logit), generated tokens k = 1..6 teacher-forced",
              "columns": f"the {PROMPT_LENGTH} prompt positions only (Captum cuts the generated ones)"}
    mine = {}
    for dtype, decoder in decoders.items():
        rows = []
        for p, tok in step_rows:
            r, _ = decoder.relevance(sequence, "gradxinput", log_probability_sum([(p, tok)]))
            rows.append(r[:p + 1])
        mine[dtype] = rows
    record["gradxinput_log_probability"] = {
        "relevance": r7(mine[torch.float64]),
        "float32_deviation": {"relevance": max_abs(mine[torch.float32], mine[torch.float64])},
        "note": "route B gradxinput with f = log-probability of generated token k (rows over positions 0 ... position_k)"}
    for label, layer in layers:
        values = {dtype: captum_matrix(models[dtype][0], layer(models[dtype][0]), prompt, generated)
                  for dtype in DTYPES}
        key = "captum_layer_gradient_x_activation" + ("" if label == "e" else "_wte")
        entry = {"layer": {"e": "transformer.drop (output wte + wpe, the block-0 input)" if family == "gpt2"
                           else "model.embed_tokens (the block-0 input)",
                           "wte": "transformer.wte (token embedding only, without wpe)"}[label],
                 "relevance": r7(values[torch.float64]),
                 "float32_deviation": {"relevance": max_abs(values[torch.float32], values[torch.float64])}}
        if label == "e":
            for dtype in DTYPES:
                ours = torch.stack([r[:PROMPT_LENGTH] for r in mine[dtype]])
                deviation = ((values[dtype] - ours).abs().max() / ours.abs().max()).item()
                assert deviation < ROUTE_TOLERANCE[dtype], (name, dtype, deviation)
                entry["max_abs_difference_vs_route_b_" + ("float64" if dtype == torch.float64 else "float32")] = \
                    float(f"{(values[dtype] - ours).abs().max().item():.2g}")
        else:
            ours = torch.stack([r[:PROMPT_LENGTH] for r in mine[torch.float64]])
            entry["max_abs_difference_vs_e"] = float(f"{(values[torch.float64] - ours).abs().max().item():.3g}")
        record[key] = entry
    return record


# ---------------------------------------------------------------------------------------------
# The rules as applied, per op (what a reimplementation needs; LXT 2.1 "efficient" mode)

COMMON = {
    "notation": "g_z = the (modified) gradient of f at tensor z, flowing backwards; R_s = sum_d e[s,d] * g_e[s,d]",
    "embedding": "e = block-0 input (Llama/Qwen2: embed_tokens[id]; GPT-2: wte[id] + wpe[s]); relevance stops here",
    "residual": "x + sublayer(x): plain, g_x += g_out",
    "linear": "every projection (q/k/v/o, c_attn/c_proj, gate/up/down, c_fc, lm_head) plain: g_x = W^T g_y; a "
              "bias gets no share passed on (the sum of R misses it): GPT-2 has biases everywhere, Qwen2 on q/k/v",
    "lm_head": "plain linear (tied to the embedding or not), no rule, after the final norm (which follows the "
               "method's norm rule); the target (logit, logit difference, or log-softmax for span/Captum) is "
               "differentiated plainly",
    "causal_mask": "masked scores are -inf before softmax (probability exactly 0, no gradient)",
    "dropout": "identity (eval; LXT's maps also patch Dropout to the identity)",
}
GRADXINPUT = {"all_ops": "plain autograd gradient (no rule anywhere): norms with their normaliser live, softmax "
                         "plain, activations and the gate*up product by the ordinary chain rule"}
ATTENTION_FORMULA = ("per head, P = softmax(q k^T * scale + mask) row-wise, context = P v, G = g_context: ")
CP_ATTENTION = {
    "attention": "LXT patch_cp_attention: q and k go through stop_gradient at the attention function's input "
                 "(after the head split; Llama/Qwen2: after RoPE, before the kv heads are repeated), so the "
                 "scores q.k^T and the softmax probabilities P are constants",
    "attention_backward": ATTENTION_FORMULA + "g_v = P^T G (full, not halved); g_q = g_k = 0 (nothing reaches "
                          "the softmax, q.k^T or RoPE); GQA: the g_v of the query heads sharing a kv head add up",
}
ATTNLRP_ATTENTION = {
    "attention": "LXT patch_attention (wrap_attention_forward): at the attention function's input, q <- "
                 "divide_gradient(q, 4), k <- divide_gradient(k, 4), v <- divide_gradient(v, 2) (forward "
                 "unchanged; backward gradient divided); Llama/Qwen2: after RoPE, before the kv heads are repeated. "
                 "Equivalent to the uniform rule halving the gradient at the outputs of P.v and of q.k^T",
    "attention_backward": ATTENTION_FORMULA + "g_v = (1/2) P^T G; g_P = G v^T (not divided: the halving sits on "
                          "v and q/k); softmax differentiated plainly: g_S = P * (g_P - rowsum(P * g_P)) "
                          "(S = scaled masked scores); g_q = (1/4) g_S k * scale; g_k = (1/4) g_S^T q * scale; "
                          "GQA: the g_k, g_v of the query heads sharing a kv head add up; RoPE is linear and "
                          "differentiated plainly",
}
IDENTITY = "identity rule (rules.identity_rule_implicit): forward y = act(x); backward g_x = g_y * act(x) / (x + 1e-10)"
LAYER_NORM = ("patches.layer_norm_forward on every LayerNorm (ln_1, ln_2, ln_f): y = (x - mean(x)) / stop_grad(sqrt(var(x) "
              "+ eps)) * gamma + beta: sigma is a constant, the centring is live: g_x = u - mean(u), u = g_y * gamma / sigma")
RMS_NORM = ("patches.rms_norm_forward on every RMSNorm (input, post-attention, final): y = w * x * stop_grad(rsqrt(mean(x^2) "
            "+ eps)): g_x = g_y * w * r with r the constant normaliser (LXT computes the norm in float32; the float64 "
            "values here do not round)")

RULES = {
    "common": COMMON,
    "gradxinput": GRADXINPUT,
    "gpt2": {
        "lrp": {"lxt_map": "lxt/efficient/models/gpt2.py cp_LRP: GPT2MLP -> gpt2.mlp_forward, nn.LayerNorm -> "
                           "patches.layer_norm_forward, Dropout -> dropout_forward, modeling_gpt2 -> patch_cp_attention",
                "layer_norm": LAYER_NORM, **CP_ATTENTION,
                "gelu_new": IDENTITY + " (models/gpt2.py mlp_forward; the same in both maps)"},
        "attnlrp": {"lxt_map": "lxt/efficient/models/gpt2.py attnLRP: GPT2MLP -> gpt2.mlp_forward, nn.LayerNorm -> "
                               "patches.layer_norm_forward, Dropout -> dropout_forward, modeling_gpt2 -> patch_attention",
                    "layer_norm": LAYER_NORM, **ATTNLRP_ATTENTION,
                    "gelu_new": IDENTITY + " (models/gpt2.py mlp_forward)"},
    },
}
for _family, _mlp, _norm in (("llama", "LlamaMLP", "LlamaRMSNorm"), ("qwen2", "Qwen2MLP", "Qwen2RMSNorm")):
    RULES[_family] = {
        "lrp": {"lxt_map": f"lxt/efficient/models/{_family}.py cp_LRP: {_mlp} -> patches.cp_gated_mlp_forward, "
                           f"{_norm} -> patches.rms_norm_forward, Dropout -> dropout_forward, modeling_{_family} -> "
                           "patch_cp_attention",
                "rms_norm": RMS_NORM, **CP_ATTENTION,
                "mlp": "patches.cp_gated_mlp_forward: h = silu(stop_grad(gate_proj(x))) * up_proj(x), out = "
                       "down_proj(h): the gate factor a = silu(z) is a constant",
                "silu": "no rule (its input is detached)",
                "gate_up": "g_up = g_h * a (full, not halved); g_z = 0 (nothing flows through gate_proj)"},
        "attnlrp": {"lxt_map": f"lxt/efficient/models/{_family}.py attnLRP: {_mlp} -> patches.gated_mlp_forward, "
                               f"{_norm} -> patches.rms_norm_forward, Dropout -> dropout_forward, modeling_{_family} "
                               "-> patch_attention",
                    "rms_norm": RMS_NORM, **ATTNLRP_ATTENTION,
                    "mlp": "patches.gated_mlp_forward: a = identity_rule_implicit(silu, z), z = gate_proj(x); h = "
                           "divide_gradient(a * up_proj(x), 2); out = down_proj(h)",
                    "silu": IDENTITY + ", on z = gate_proj(x)",
                    "gate_up": "uniform rule: g_a = g_h * up / 2, g_up = g_h * a / 2 (each half of the product-rule "
                               "gradient); then g_z = g_a * silu(z) / (z + 1e-10)"},
    }


def dumps(value, indent=0):
    """JSON with one line per list of numbers (or of such lists) and per short dict."""
    pad = " " * indent
    flat = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    numeric = isinstance(value, list) and all(isinstance(v, (int, float)) or (isinstance(v, list) and all(
        isinstance(w, (int, float)) for w in v)) for v in value)
    if not isinstance(value, (dict, list)) or numeric or len(flat) + indent <= 100:
        return flat
    if isinstance(value, dict):
        items = [f"{pad} {json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [f"{pad} {dumps(v, indent + 1)}" for v in value]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


def write(path, payload):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = dumps(payload) + "\n"
    json.loads(text)
    path.write_text(text, encoding="utf-8")
    return len(text.encode())


def tiny():
    expected = json.loads((DECODERS / "expected.json").read_text())
    cases = []
    for name, folder, methods in CASES:
        cases.append(tiny_case(name, folder, methods, expected))
        print(f"{name}: " + ", ".join(f"{k} {v:.1e}" for k, v in cases[-1]["checks"].items()), flush=True)
    payload = {
        "description": "Relevance of decoder LMs for next-token, contrastive, per-step and span targets: "
                       "gradxinput, lrp (LXT 2.1 cp_LRP) and attnlrp (LXT 2.1 attnLRP); see "
                       "scripts/reference_decoder_attribution.py.",
        "definition": "R[s] = sum_d e[s,d] * g[s,d]: e = input of the first block (Llama/Qwen2: embed_tokens "
                      "row; GPT-2: wte[id] + wpe[s]); g = gradient of f at e with the method's rules in the "
                      "backward. 'sum' = sum_s R[s], to compare with 'f' (conservation).",
        "dtype": "values in float64 (weights exact), 7 significant digits; float32_deviation = max |float32 - "
                 "float64| of PyTorch's float32 run of the same computation (same token choices)",
        "prompt": f"first {PROMPT_LENGTH} input_ids of the case in Tests/ModelsTests/Fixtures/decoders/expected.json; "
                  f"generated = the {GENERATED} greedy (argmax) tokens after it; next and contrast use all the "
                  "case's input_ids; contrast_id = the runner-up (second largest logit) at the last position",
        "checks": "route_a_* = max |R(LXT monkey_patch on HF's model, or plain HF for gradxinput) - R(written "
                  "out)| / max |R| per method and dtype (asserted < 1e-5 in float32, 1e-4 in float64, where HF's model "
                  "rounds through float32 in RMSNorm, the eager softmax and the rotary cos/sin); route_c_* = the "
                  "same for the 'rules' table implemented by hand, op by op, without autograd (asserted < 1e-12)",
        "rules": RULES,
        "cases": cases,
    }
    size = write(OUT / "attribution.json", payload)
    print(f"wrote {OUT / 'attribution.json'} ({size} bytes)")


def smollm2(models_dir):
    path = Path(models_dir) / SMOLLM2
    if not path.exists():
        sys.exit(f"{path} is missing: run `make models` first")
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model, inv_freq = load(path.parent, torch.float32, gguf_file=path.name)
    family = family_of(model)
    check_rms_norm(model)
    decoder = Decoder(model, family, inv_freq)
    model64, _ = load(path.parent, torch.float64, gguf_file=path.name)  # only for float32_deviation
    decoder64 = Decoder(model64, family, inv_freq)
    cases = []
    for text in SMOLLM2_PROMPTS:
        ids = tokenizer(text)["input_ids"]
        with torch.no_grad():
            theirs = model(input_ids=torch.tensor([ids])).logits[0]
            for method in ("gradxinput", "lrp", "attnlrp"):
                mine = decoder.logits(decoder.embed(ids), method)
                assert (mine - theirs).abs().max() < 1e-3 * theirs.abs().max(), (text, method)
            top = theirs[-1].topk(2)
        target_id = int(top.indices[0])
        fn = logit_at(len(ids) - 1, target_id)
        methods = {}
        for method in ("lrp", "attnlrp"):
            r, f = decoder.relevance(ids, method, fn)
            r64, f64 = decoder64.relevance(ids, method, fn)
            by_hand_check = by_hand_deviation(decoder64, ids, method, fn, r64)
            assert by_hand_check < 1e-12, (text, method, by_hand_check)
            theirs_r, theirs_f = hf_relevance(model, family, ids, method, fn)
            deviation = ((theirs_r - r).abs().max() / r.abs().max()).item()
            assert deviation < ROUTE_TOLERANCE[torch.float32], (text, method, deviation)
            methods[method] = {"f": r7(f.item()), "relevance": r7(r), "sum": r7(r.sum().item()),
                               "float32_deviation": {"f": max_abs(f, f64), "relevance": max_abs(r, r64)},
                               "route_a_deviation": float(f"{deviation:.2g}"),
                               "route_c_deviation_float64": float(f"{by_hand_check:.2g}")}
            print(f"{text!r} {method}: f {f.item():.4f}, sum R {r.sum().item():.4f}, route A {deviation:.1e}")
        cases.append({"text": text, "input_ids": ids, "tokens": tokenizer.convert_ids_to_tokens(ids),
                      "position": len(ids) - 1, "target_id": target_id,
                      "target_token": tokenizer.convert_ids_to_tokens([target_id])[0],
                      "target_margin": round((top.values[0] - top.values[1]).item(), 4), "methods": methods})
    payload = {
        "description": "Next-token LRP (LXT 2.1 cp_LRP) and AttnLRP (LXT 2.1 attnLRP) relevance of the real "
                       "SmolLM2-135M-Instruct Q4_1 GGUF as transformers dequantises it (float32 values); see "
                       "scripts/reference_decoder_attribution.py and attribution.json there for the rules (llama).",
        "model": SMOLLM2,
        "definition": "R[s] = sum_d e[s,d] * g[s,d], e = embed_tokens row; f = logit of the argmax token at "
                      "the last position; token ids from transformers' tokenizer of the GGUF (add_special_tokens "
                      "default: no BOS is added).",
        "dtype": "values from PyTorch float32 (1 thread; route B of the script); float32_deviation = max |float32 - "
                 "float64| against the same computation in float64 (same dequantised weights, same target); "
                 "route_a_deviation = max |R(LXT monkey_patch on HF's model, float32) - R| / max |R|",
        "cases": cases,
    }
    out = OUT / "smollm2-attribution.json"
    size = write(out, payload)
    print(f"wrote {out} ({size} bytes)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--smollm2", action="store_true", help="write smollm2-attribution.json instead")
    parser.add_argument("--models", default=str(ROOT / "models"), help="where smollm2-135m-instruct.gguf is")
    args = parser.parse_args()
    if args.smollm2:
        smollm2(args.models)
    else:
        tiny()


if __name__ == "__main__":
    main()

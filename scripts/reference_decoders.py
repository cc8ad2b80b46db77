"""Writes the decoder language-model fixtures of Tests/ModelsTests/Fixtures/decoders/.

Tiny causal LMs with random weights (fixed seeds), each saved as an unmodified Hugging Face
folder and/or as GGUF files written the way llama.cpp's convert_hf_to_gguf.py writes them,
and expected.json: per case the input ids, the float32 logits at every position, and the 32
ids greedy decoding produces.

Folders (save_pretrained, transformers 5.23; every model has a vocabulary of 64 and 2 layers):
- gpt2/          GPT2LMHeadModel, n_embd 32, 4 heads, 64 positions, tied head, F32.
- llama-gqa/     LlamaForCausalLM, hidden 32, 4 heads / 2 kv heads, ffn 64, untied head, F16.
- llama3-scaled/ LlamaForCausalLM, hidden 32, 4 heads / 1 kv head, ffn 48, llama3 rope
                 scaling, tied head, BF16, sharded in 3 (model.safetensors.index.json).
- qwen2/         Qwen2ForCausalLM, hidden 32, 4 heads / 2 kv heads, ffn 64, q/k/v biases,
                 tied head, F32, no sliding window.
GGUF files (gguf-py's GGUFWriter, keys and tensors as convert_hf_to_gguf.py writes them for
these architectures): llama-gqa in F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1; gpt2 Q8_0;
qwen2 Q8_0; llama3-scaled F16 (with its rope_freqs tensor); llama-k, 1 layer of hidden 256
(4 heads / 2 kv heads of head_dim 8, ffn 32) whose matrices mix Q4_K, Q5_K, Q6_K and Q8_0
(its folder is not kept). The K-quants are quantised by this script (gguf-py only
dequantises them). The vocabulary (64, not a larger one) and llama-k's narrow heads and ffn
keep the folder under 1 MB. Each GGUF carries a tiny byte-level BPE tokenizer of exactly the
vocabulary size, which transformers can build a tokenizer from.

The reference logits of a folder are those of transformers loading the folder in float32.
The reference of a GGUF file is transformers loading the GGUF itself
(`from_pretrained(dir, gguf_file=...)`, which dequantises with gguf-py and undoes the Q/K
permutation and the GPT-2 transposition its own way), checked against an independent torch
model built from gguf-py's dequantisation of the same bytes; where transformers cannot load a
file or gets it wrong, the torch model is the reference ("reference": "torch", with the
reason in "transformers_note").

Config keys the HF folders carry (config.json as transformers 5.23 writes it; older
checkpoints spell some differently, noted) -- what a Swift loader must read or refuse:
- every family: model_type, architectures, vocab_size, num_hidden_layers (gpt2: n_layer),
  tie_word_embeddings, bos_token_id, eos_token_id, pad_token_id, dtype (older: torch_dtype).
- gpt2: n_embd, n_head, n_layer, n_positions, n_ctx (legacy; llama.cpp's converter reads
  context_length from it), n_inner (null = 4 * n_embd), activation_function ("gelu_new"),
  layer_norm_epsilon, scale_attn_weights (true), scale_attn_by_inverse_layer_idx (false),
  reorder_and_upcast_attn (false), add_cross_attention (false).
- llama: hidden_size, intermediate_size, num_attention_heads, num_key_value_heads, head_dim
  (written by transformers 5 even when it is hidden_size / heads), hidden_act ("silu"),
  max_position_embeddings, rms_norm_eps, attention_bias (false), mlp_bias (false),
  pretraining_tp (1), rope_parameters {rope_type, rope_theta, and for "llama3": factor,
  low_freq_factor, high_freq_factor, original_max_position_embeddings}. transformers 4
  checkpoints write instead rope_theta at the top level and rope_scaling {rope_type (or
  "type"), factor, ...} (null when there is no scaling); transformers 5 reads both.
- qwen2: as llama without head_dim, attention_bias and mlp_bias (Qwen2 always has q/k/v
  biases and no o/mlp biases), plus use_sliding_window (false), sliding_window (null),
  max_window_layers, layer_types (["full_attention", ...]); rope_parameters
  {rope_type "default", rope_theta}.

Run through `make reference` (needs the `accelerate` package: transformers refuses to load a
GGUF model without it).
"""

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import torch
import gguf
from gguf import GGMLQuantizationType as T
from transformers import (AutoModelForCausalLM, AutoTokenizer, GenerationConfig, GPT2Config,
                          GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM)
from transformers.utils import logging as hf_logging
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/ModelsTests/Fixtures/decoders"

torch.set_num_threads(1)
hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()

DECIMALS = 4          # logits are rounded to this many decimals (error <= 5e-5)
GREEDY_TOKENS = 32
GREEDY_PROMPT = 6
MIN_MARGIN = 0.005   # smallest top-1 minus top-2 logit allowed along a greedy path

# ---------------------------------------------------------------------------------------------
# A tiny byte-level BPE vocabulary: special tokens, a byte-level alphabet of 30 characters, then
# merges learned from a fixed text until the vocabulary has exactly `size` tokens.

CORPUS = """
the cat sat on the mat and the dog sat on the log. a small model reads the text and then it
writes the next word, one token at a time. the rain in the plain stays mainly in the plain.
she sells sea shells on the sea shore, and the shells she sells are sea shells for sure.
an explanation tells which input tokens the model used to make its choice, and how much.
"""


def byte_unicode():
    """GPT-2's byte-to-character table (printable bytes map to themselves)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def tiny_bpe(size, specials):
    """(tokens, token_types, merges) with len(tokens) == size; tokens in byte-level spelling."""
    spell = byte_unicode()
    alphabet = [spell[ord(c)] for c in " \n.,abcdefghijklmnopqrstuvwxyz"]
    tokens = list(specials) + alphabet
    types = [3] * len(specials) + [1] * len(alphabet)
    # GPT-2 style pre-tokens: a word keeps the space before it
    words = {}
    for piece in re.findall(r" ?[a-z]+| ?[^a-z\s]+|\s+", CORPUS.strip().replace("\n", " ")):
        key = tuple(spell[b] for b in piece.encode())
        words[key] = words.get(key, 0) + 1
    merges = []
    while len(tokens) < size:
        pairs = {}
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + count
        (a, b), _ = min(pairs.items(), key=lambda item: (-item[1], item[0]))
        merges.append(f"{a} {b}")
        tokens.append(a + b)
        types.append(1)
        merged = {}
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        words = merged
    assert len(set(tokens)) == size
    return tokens, types, merges


# ---------------------------------------------------------------------------------------------
# The models.

def reinit(model, seed, fan_in_scaled=False):
    """Every matrix N(0, 0.3), every norm weight 1 + N(0, 0.1), every bias N(0, 0.1); with
    `fan_in_scaled`, a matrix of rows n wide gets N(0, 0.3 * sqrt(32 / n)) instead (the spread
    of a hidden-32 model's activations)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm = "norm" in name or ".ln_" in name or name.startswith("ln_")
            if p.dim() == 1 and is_norm and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
            else:
                std = 0.3 * math.sqrt(32 / p.shape[1]) if fan_in_scaled else 0.3
                p.copy_(std * torch.randn_like(p))
    model.eval()
    return model


def make_models():
    """name -> (family, model in float32 with the stored precision's values, save options)."""
    models = {}
    cfg = GPT2Config(vocab_size=64, n_positions=64, n_ctx=64, n_embd=32, n_layer=2, n_head=4,
                     bos_token_id=0, eos_token_id=0)
    models["gpt2"] = ("gpt2", reinit(GPT2LMHeadModel(cfg), 1), torch.float32, None)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                      bos_token_id=0, eos_token_id=1)
    models["llama-gqa"] = ("llama", reinit(LlamaForCausalLM(cfg), 2), torch.float16, None)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=64,
                      rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
                      rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
                      bos_token_id=0, eos_token_id=1)
    models["llama3-scaled"] = ("llama", reinit(LlamaForCausalLM(cfg), 3), torch.bfloat16, "16KB")
    cfg = Qwen2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                      use_sliding_window=False, bos_token_id=0, eos_token_id=0)
    models["qwen2"] = ("qwen2", reinit(Qwen2ForCausalLM(cfg), 4), torch.float32, None)
    # K-quant blocks are 256 wide: a hidden size of 256 makes every matrix that reads the
    # residual stream (q, k, v, gate, up, the embedding and the head) quantisable in them; the
    # narrow head_dim and ffn keep the file small (o_proj and down_proj, 32 wide, are Q8_0).
    cfg = LlamaConfig(vocab_size=64, hidden_size=256, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                      max_position_embeddings=64, rope_theta=10000.0, rms_norm_eps=1e-5,
                      tie_word_embeddings=False, bos_token_id=0, eos_token_id=1)
    models["llama-k"] = ("llama", reinit(LlamaForCausalLM(cfg), 5, fan_in_scaled=True),
                         torch.float32, None)
    return models


# ---------------------------------------------------------------------------------------------
# K-quant quantisers (gguf-py dequantises Q4_K/Q5_K/Q6_K but cannot quantise them): any valid
# blocks will do, the fixtures test dequantisation plus inference. Block layouts (QK_K = 256):
# Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit sub-block scales and mins, 128 bytes of nibbles;
# Q5_K: the same plus 32 bytes of fifth bits before the nibbles; Q6_K: 128 bytes of low
# nibbles, 64 bytes of high 2-bit pairs, 16 int8 scales, f16 d.

QK_K = 256


def _f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16)


def _pack_scales_mins(sc, mn):
    """8 six-bit scales and 8 six-bit mins per block -> 12 bytes (llama.cpp's get_scale_min_k4)."""
    out = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (mn[:, 0:4] & 63) | ((mn[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((mn[:, 4:8] & 15) << 4)
    return out


def _affine_k(blocks, levels):
    """Blocks (n, 256) -> d, dmin (f16), 6-bit scales and mins (n, 8), codes (n, 8, 32)."""
    x = blocks.reshape(-1, 8, 32)
    lo = np.minimum(x.min(axis=-1), 0)
    hi = np.maximum(x.max(axis=-1), lo)
    scale, minimum = (hi - lo) / levels, -lo
    d, dmin = _f16(scale.max(axis=-1) / 63), _f16(minimum.max(axis=-1) / 63)
    df, dminf = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    sc = np.where(df > 0, np.clip(np.round(scale / np.where(df > 0, df, 1)), 0, 63), 0).astype(np.uint8)
    mn = np.where(dminf > 0, np.clip(np.round(minimum / np.where(dminf > 0, dminf, 1)), 0, 63), 0).astype(np.uint8)
    step = (df * sc)[..., None]
    offset = (dminf * mn)[..., None]
    q = np.where(step > 0, np.round((x + offset) / np.where(step > 0, step, 1)), 0)
    return d, dmin, sc, mn, np.clip(q, 0, levels).astype(np.uint8)


def quantize_q4_k(rows):
    blocks = rows.reshape(-1, QK_K).astype(np.float32)
    d, dmin, sc, mn, q = _affine_k(blocks, 15)
    qs = (q[:, 0::2, :] | (q[:, 1::2, :] << 4)).reshape(-1, 128)
    out = np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2),
                          _pack_scales_mins(sc, mn), qs], axis=1)
    return out.reshape(rows.shape[0], -1)


def quantize_q5_k(rows):
    blocks = rows.reshape(-1, QK_K).astype(np.float32)
    d, dmin, sc, mn, q = _affine_k(blocks, 31)
    low = q & 15
    qs = (low[:, 0::2, :] | (low[:, 1::2, :] << 4)).reshape(-1, 128)
    qh = np.zeros((blocks.shape[0], 32), dtype=np.uint8)
    for i in range(8):
        qh |= ((q[:, i, :] >> 4) & 1) << i
    out = np.concatenate([d.view(np.uint8).reshape(-1, 2), dmin.view(np.uint8).reshape(-1, 2),
                          _pack_scales_mins(sc, mn), qh, qs], axis=1)
    return out.reshape(rows.shape[0], -1)


def quantize_q6_k(rows):
    blocks = rows.reshape(-1, QK_K).astype(np.float32)
    n = blocks.shape[0]
    x = blocks.reshape(n, 16, 16)
    scale = np.abs(x).max(axis=-1) / 31
    d = _f16(scale.max(axis=-1) / 127)
    df = d.astype(np.float32)[:, None]
    sc = np.where(df > 0, np.clip(np.round(scale / np.where(df > 0, df, 1)), -128, 127), 0).astype(np.int8)
    step = (df * sc.astype(np.float32))[..., None]
    q = np.where(step != 0, np.round(x / np.where(step != 0, step, 1)), 0)
    q = (np.clip(q, -32, 31) + 32).astype(np.uint8).reshape(n, 8, 32)  # chunk c, lane l
    ql = np.zeros((n, 128), dtype=np.uint8)
    qh = np.zeros((n, 64), dtype=np.uint8)
    for c in range(8):
        group, shift, half = c // 4, (c // 2) % 2, c % 2
        start = group * 64 + half * 32
        ql[:, start:start + 32] |= (q[:, c, :] & 15) << (4 * shift)
        qh[:, (c // 4) * 32:(c // 4) * 32 + 32] |= (q[:, c, :] >> 4) << (2 * (c % 4))
    out = np.concatenate([ql, qh, sc.view(np.uint8), d.view(np.uint8).reshape(-1, 2)], axis=1)
    return out.reshape(rows.shape[0], -1)


K_QUANTISERS = {T.Q4_K: quantize_q4_k, T.Q5_K: quantize_q5_k, T.Q6_K: quantize_q6_k}


def quantize(data, qtype):
    data = np.asarray(data, dtype=np.float32)
    if qtype in K_QUANTISERS:
        out = K_QUANTISERS[qtype](data.reshape(-1, data.shape[-1]))
        return out.reshape(*data.shape[:-1], out.shape[-1])
    return gguf.quants.quantize(data, qtype)


def check_k_quantisers():
    """Round trip through gguf-py's dequantisation: the error stays within one step."""
    rng = np.random.default_rng(7)
    data = (rng.normal(size=(4, 512)) * np.array([1, 0.01, 100, 3])[:, None]).astype(np.float32)
    data[3, :256] = np.abs(data[3, :256])  # a block with no negative value
    for qtype, levels in [(T.Q4_K, 15), (T.Q5_K, 31), (T.Q6_K, 63)]:
        back = gguf.quants.dequantize(quantize(data, qtype), qtype)
        span = data.reshape(4, -1, 32).max(-1) - np.minimum(data.reshape(4, -1, 32).min(-1), 0)
        err = np.abs(back - data).reshape(4, -1, 32).max(-1)
        assert np.all(err <= 1.5 * span / levels + 1e-6), (qtype.name, float((err / span).max()))


# ---------------------------------------------------------------------------------------------
# HF weights -> GGUF tensors, as convert_hf_to_gguf.py does it.

ARCH = {"gpt2": gguf.MODEL_ARCH.GPT2, "llama": gguf.MODEL_ARCH.LLAMA, "qwen2": gguf.MODEL_ARCH.QWEN2}


def llama_permute(w, n_head, n_head_kv):
    """LlamaModel.permute: within each head, rows (2 halves x d/2) -> interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama_unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tensors(family, config, state):
    """[(gguf name, float32 array)] in the converter's order and layout."""
    tmap = gguf.get_tensor_name_map(ARCH[family], config.num_hidden_layers)
    out = []
    if family == "llama" and (config.rope_parameters or {}).get("rope_type") == "llama3":
        out.append(("rope_freqs.weight", llama3_rope_factors(config)))
    for name in sorted(state):
        w = state[name].float().numpy()
        if family == "gpt2" and name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            w = w.T.copy()  # Conv1D stores [in, out]; GGUF wants [out, in] rows
        if family == "llama" and name.endswith(("q_proj.weight", "q_proj.bias")):
            w = llama_permute(w, config.num_attention_heads, config.num_attention_heads)
        if family == "llama" and name.endswith(("k_proj.weight", "k_proj.bias")):
            w = llama_permute(w, config.num_attention_heads, config.num_key_value_heads)
        base, suffix = name.rsplit(".", 1)
        mapped = tmap.get_name(base)
        assert mapped is not None, name
        out.append((f"{mapped}.{suffix}", w))
    return out


def llama3_rope_factors(config):
    """The rope_freqs tensor LlamaModel.generate_extra_tensors writes: per frequency, the
    divisor llama3 scaling applies (1 high, factor low, smoothed between)."""
    rope = config.rope_parameters
    dim = config.head_dim
    freqs = 1.0 / (rope["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    # the converter reads hparams["original_max_position_embeddings"] (default 8192) at the
    # top level of config.json, where no transformers version writes it; the value the model
    # was built with is in rope_parameters, and the file has to describe that model.
    old = rope["original_max_position_embeddings"]
    factors = []
    for freq in freqs.tolist():
        wavelen = 2 * math.pi / freq
        if wavelen < old / high:
            factors.append(1.0)
        elif wavelen > old / low:
            factors.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def tensor_type(gguf_name, array, file_types):
    """The converter's choice: 1-D tensors, norms, biases and position embeddings stay F32."""
    if array.ndim <= 1 or gguf_name.endswith("_norm.weight") or not gguf_name.endswith(".weight"):
        return T.F32
    if gguf_name == "position_embd.weight":
        return T.F32
    if isinstance(file_types, dict):
        return file_types[gguf_name.split(".")[-2] if gguf_name.startswith("blk.") else gguf_name[:-7]]
    return file_types


FILE_TYPE = {T.F32: 0, T.F16: 1, T.Q4_0: 2, T.Q4_1: 3, T.Q8_0: 7, T.Q5_0: 8, T.Q5_1: 9, T.BF16: 32}
PRE = {"gpt2": "gpt-2", "llama": "llama-bpe", "qwen2": "qwen2"}
SPECIALS = {"gpt2": ["<|endoftext|>"], "llama": ["<|begin_of_text|>", "<|end_of_text|>"],
            "qwen2": ["<|endoftext|>"]}


def write_gguf(path, name, family, config, state, file_types, file_type):
    arch = gguf.MODEL_ARCH_NAMES[ARCH[family]]
    w = gguf.GGUFWriter(path, arch)
    w.add_type(gguf.GGUFType.MODEL)
    w.add_name(name)
    if family == "gpt2":  # GPT2Model.set_gguf_parameters: no head_count_kv, no rope keys
        w.add_block_count(config.n_layer)
        w.add_context_length(config.n_ctx)
        w.add_embedding_length(config.n_embd)
        w.add_feed_forward_length(4 * config.n_embd)
        w.add_head_count(config.n_head)
        w.add_layer_norm_eps(config.layer_norm_epsilon)
        w.add_file_type(file_type)
    else:
        w.add_block_count(config.num_hidden_layers)
        w.add_context_length(config.max_position_embeddings)
        w.add_embedding_length(config.hidden_size)
        w.add_feed_forward_length(config.intermediate_size)
        w.add_head_count(config.num_attention_heads)
        w.add_head_count_kv(config.num_key_value_heads)
        w.add_rope_freq_base(config.rope_parameters["rope_theta"])
        w.add_layer_norm_rms_eps(config.rms_norm_eps)
        if getattr(config, "head_dim", None) is not None and family == "llama":
            # TextModel.set_gguf_parameters: only when config.json has head_dim (llama does)
            w.add_key_length(config.head_dim)
            w.add_value_length(config.head_dim)
        w.add_file_type(file_type)
        if family == "llama":
            # LlamaModel adds these two; Qwen2Model and GPT2Model do not (no vocab_size key,
            # no rope.dimension_count: llama.cpp then takes the head size for the rope width)
            w.add_vocab_size(config.vocab_size)
            w.add_rope_dimension_count(config.head_dim)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    tokens, types, merges = tiny_bpe(config.vocab_size, SPECIALS[family])
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(PRE[family])
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(config.bos_token_id)
    w.add_eos_token_id(config.eos_token_id)
    w.add_add_bos_token(family == "llama")
    used = {}
    for gname, array in gguf_tensors(family, config, state):
        qtype = tensor_type(gname, array, file_types)
        used[gname] = qtype.name
        w.add_tensor(gname, quantize(array, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return used


# ---------------------------------------------------------------------------------------------
# References.

def logits_of(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def greedy_margin(model, prompt):
    """The smallest top-1 minus top-2 logit along the greedy path from `prompt`."""
    return greedy_path(model, prompt)[1]


def greedy_path(model, prompt):
    ids, margin = list(prompt), math.inf
    for _ in range(GREEDY_TOKENS):
        last = logits_of(model, ids)[-1].astype(np.float64)
        top = np.sort(last)[-2:]
        margin = min(margin, float(top[1] - top[0]))
        ids.append(int(np.argmax(last)))
    return ids[len(prompt):], margin


def greedy_of(model, prompt):
    """The 32 ids of generate(do_sample=False) with no end-of-sequence id, checked against a
    plain argmax loop over full forward passes; and the smallest top-1 minus top-2 margin."""
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    config = GenerationConfig(do_sample=False, max_new_tokens=GREEDY_TOKENS, eos_token_id=None,
                              pad_token_id=0, num_beams=1)
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), generation_config=config,
                             attention_mask=torch.ones(1, len(prompt), dtype=torch.long))
    generated = out[0, len(prompt):].tolist()
    path, margin = greedy_path(model, prompt)
    assert path == generated, (generated, path)
    return generated, margin


def torch_model_from_gguf(path, family, config):
    """A transformers model (built from `config`) holding gguf-py's dequantisation of the
    file's tensors, with the converter's permutation and transposition undone."""
    reader = gguf.GGUFReader(path)
    model = MODEL_CLASSES[family](config).float()
    tmap = gguf.get_tensor_name_map(ARCH[family], config.num_hidden_layers)
    hf_names = {}
    for hf_name in model.state_dict():
        base, suffix = hf_name.rsplit(".", 1)
        mapped = tmap.get_name(base)
        if mapped is not None:
            hf_names[f"{mapped}.{suffix}"] = hf_name
    state = {}
    for t in reader.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        if t.name == "rope_freqs.weight":
            np.testing.assert_allclose(w, expected_rope_factors(model), rtol=1e-5)
            continue
        if family == "llama" and ".attn_q." in t.name:
            w = llama_unpermute(w, config.num_attention_heads)
        if family == "llama" and ".attn_k." in t.name:
            w = llama_unpermute(w, config.num_key_value_heads)
        if family == "gpt2" and re.search(r"\.(attn_qkv|attn_output|ffn_up|ffn_down)\.weight$", t.name):
            w = w.T
        state[hf_names[t.name]] = torch.from_numpy(np.ascontiguousarray(w))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    if missing:
        assert config.tie_word_embeddings
    model.tie_weights()
    model.eval()
    return model


def expected_rope_factors(model):
    """What rope_freqs must hold for this model: unscaled over llama3-scaled inverse frequencies."""
    config = model.config
    dim = config.head_dim
    base = config.rope_parameters["rope_theta"]
    plain = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    scaled = model.model.rotary_emb.inv_freq
    return (plain / scaled).numpy()


MODEL_CLASSES = {"gpt2": GPT2LMHeadModel, "llama": LlamaForCausalLM, "qwen2": Qwen2ForCausalLM}


def rounded(logits):
    return [[round(float(v), DECIMALS) + 0.0 for v in row] for row in logits]


GGUF_PLAN = [("llama-gqa", f"llama-gqa.{t.name.lower()}.gguf", t, FILE_TYPE[t])
             for t in [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1]] + [
    ("gpt2", "gpt2.q8_0.gguf", T.Q8_0, FILE_TYPE[T.Q8_0]),
    ("qwen2", "qwen2.q8_0.gguf", T.Q8_0, FILE_TYPE[T.Q8_0]),
    ("llama3-scaled", "llama3-scaled.f16.gguf", T.F16, FILE_TYPE[T.F16]),
    # per tensor, as llama-quantize mixes them (a Q4_K_M file keeps output in Q6_K); the 32-wide
    # matrices cannot hold 256-wide blocks and are Q8_0
    ("llama-k", "llama-k.mixed-k.gguf",
     {"token_embd": T.Q8_0, "attn_q": T.Q4_K, "attn_k": T.Q5_K, "attn_v": T.Q6_K,
      "attn_output": T.Q8_0, "ffn_gate": T.Q5_K, "ffn_up": T.Q4_K, "ffn_down": T.Q8_0,
      "output": T.Q6_K},
     int(gguf.LlamaFileType.MOSTLY_Q4_K_M)),
]
LENGTHS = {"gpt2": 20, "llama-gqa": 20, "llama3-scaled": 24, "qwen2": 20, "llama-k": 20}


def gguf_reference(file_name, family, config, probe):
    """(reference, model, extra fields) for a GGUF file: transformers' own loading when it
    agrees with the dequantised torch model on `probe`, else the torch model and why."""
    torch_model = torch_model_from_gguf(OUT / file_name, family, config)
    torch_logits = logits_of(torch_model, probe)
    scale = float(np.abs(torch_logits).max())
    try:
        hf = AutoModelForCausalLM.from_pretrained(OUT, gguf_file=file_name, dtype=torch.float32,
                                                  attn_implementation="eager").eval()
    except Exception as error:  # noqa: BLE001 - the reason goes into the fixture
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = next((line for line in lines if "wpe" in line), lines[0])
        note = f"transformers cannot load the file: {type(error).__name__}: {detail[:240]}"
        if family == "gpt2":
            note += (" (it maps gpt2.context_length to n_ctx, not n_positions, so it builds "
                     "1024 position embeddings)")
        override = {"n_positions": config.n_positions} if family == "gpt2" else None
    else:
        diff = float(np.abs(logits_of(hf, probe) - torch_logits).max())
        if diff <= 1e-5 * scale:
            return "transformers", hf, {"torch_check": torch_model}
        note = (f"transformers loads the file but its logits differ from those of the "
                f"dequantised weights by up to {diff:.3g} (scale {scale:.3g})")
        override = None
        if family == "llama" and config.rope_parameters.get("rope_type") == "llama3":
            note += "; its GGUF loader drops rope_freqs and builds the model without rope scaling"
            override = {"rope_parameters": dict(config.rope_parameters)}
    extra = {"transformers_note": note}
    if override:
        # transformers loading the same file with the one setting it misreads given: a check
        # of the torch model's un-permuting / un-transposing, not the reference
        hf = AutoModelForCausalLM.from_pretrained(OUT, gguf_file=file_name, dtype=torch.float32,
                                                  attn_implementation="eager", **override).eval()
        extra["override_check"] = (override, hf)
    return "torch", torch_model, extra


def pick_input_ids(models, vocab_size, length, seed):
    """BOS (id 0) then random ids: the first draw (seed, seed + 1000, ...) on which no model of
    `models` meets a near-tie along its greedy path (top-1 minus top-2 logit >= MIN_MARGIN at
    every step), so that a float32 implementation summing in another order takes the same path."""
    for attempt in range(400):
        rng = np.random.default_rng(seed + 1000 * attempt)
        ids = [0] + [int(i) for i in rng.integers(3, vocab_size, size=length - 1)]
        if all(greedy_margin(model, ids[:GREEDY_PROMPT]) >= MIN_MARGIN for model in models):
            return ids
    raise RuntimeError("no input ids with a clear greedy path")


def main():
    check_k_quantisers()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)

    # Folders: save, then reload in float32 as the reference.
    bases, cases = {}, {}
    for name, (family, model, dtype, shard) in make_models().items():
        if name == "llama-k":  # only its GGUF is kept
            state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            folder = OUT / name
            model.to(dtype)
            model.save_pretrained(folder, **({"max_shard_size": shard} if shard else {}))
            model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32,
                                                         attn_implementation="eager").eval()
            state = {}
            for part in sorted(folder.glob("*.safetensors")):
                state.update(load_file(part))
            cases[name] = (name, {"folder": name}, "transformers", model,
                           {"stored_dtype": str(dtype).replace("torch.", "")})
        bases[name] = (family, model.config, state)

    # GGUF files, and which model is each one's reference.
    probe = [0] + list(range(3, 22))
    for base, file_name, types, file_type in GGUF_PLAN:
        family, config, state = bases[base]
        used = write_gguf(OUT / file_name, base, family, config, state, types, file_type)
        reference, model, extra = gguf_reference(file_name, family, config, probe)
        extra = {"types": sorted(set(used.values())),
                 **({"tensor_types": used} if isinstance(types, dict) else {}),
                 "file_type": file_type, **extra}
        cases[file_name] = (file_name[:-5], {"gguf": file_name}, reference, model, extra)
        # transformers must also build a tokenizer from the file's vocabulary
        tok = AutoTokenizer.from_pretrained(OUT, gguf_file=file_name)
        file_tokens = tiny_bpe(config.vocab_size, SPECIALS[family])[0]
        assert tok.convert_tokens_to_ids(file_tokens) == list(range(config.vocab_size)), file_name
        assert tok.decode(tok.encode(" the cat sat", add_special_tokens=False)) == " the cat sat"

    # Input ids per base model, shared by its folder and its GGUF files; then the references.
    entries = []
    for seed, (base, (family, config, _)) in enumerate(bases.items(), start=11):
        keys = [base] * (base in cases) + [f for b, f, _, _ in GGUF_PLAN if b == base]
        ids = pick_input_ids([cases[k][3] for k in keys], config.vocab_size, LENGTHS[base], seed)
        for key in keys:
            name, source, reference, model, extra = cases[key]
            logits = logits_of(model, ids)
            if "torch_check" in extra:
                diff = float(np.abs(logits - logits_of(extra.pop("torch_check"), ids)).max())
                assert diff <= 1e-5 * np.abs(logits).max(), (name, diff)
                extra["torch_check_max_abs_diff"] = float(f"{diff:.3g}")
            if "override_check" in extra:
                override, hf = extra.pop("override_check")
                diff = float(np.abs(logits - logits_of(hf, ids)).max())
                assert diff <= 1e-5 * np.abs(logits).max(), (name, diff)
                extra["transformers_with_override"] = {"config": override,
                                                       "max_abs_diff": float(f"{diff:.3g}")}
            greedy, margin = greedy_of(model, ids[:GREEDY_PROMPT])
            entries.append({
                "name": name, "source": source, "family": family, "reference": reference,
                "input_ids": ids,
                "scale": round(float(np.abs(logits).max()), DECIMALS),
                "greedy_prompt": ids[:GREEDY_PROMPT], "greedy": greedy,
                "greedy_min_margin": round(margin, DECIMALS),
                **extra,
                "logits": rounded(logits),
            })
    order = [n for n in bases if n in cases] + [f for _, f, _, _ in GGUF_PLAN]
    entries.sort(key=lambda e: order.index(e["source"].get("folder") or e["source"]["gguf"]))

    document = {
        "description": "Tiny decoder LMs (random weights): float32 logits at every input position "
                       "and greedy continuations; see scripts/reference_decoders.py.",
        "logits_decimals": DECIMALS,
        "greedy_method": f"generate(do_sample=False, num_beams=1, max_new_tokens={GREEDY_TOKENS}, "
                         "eos_token_id=None): pure argmax for 32 steps, no stop id; prompt = the "
                         f"first {GREEDY_PROMPT} input ids; greedy = the {GREEDY_TOKENS} new ids only",
        "cases": entries,
    }
    (OUT / "expected.json").write_text(dump(document) + "\n")
    for entry in entries:
        if "transformers_note" in entry:
            print(f"fallback: {entry['name']}: {entry['transformers_note']}")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{len(entries)} cases, {total} bytes under {OUT.relative_to(ROOT)}")


def dump(value, indent=0):
    """JSON with one line per object key and per row of a matrix."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dump(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value and isinstance(value[0], (dict, list)):
        return "[\n" + ",\n".join(inner + dump(v, indent + 2) for v in value) + f"\n{pad}]"
    return json.dumps(value, separators=(",", ":"))


if __name__ == "__main__":
    main()

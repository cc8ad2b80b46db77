"""Language-model explanation rows of `make bench` (issue #24): `xai explain` on SmolLM2-135M-Instruct
Q4_1 (`make models`) against PyTorch (transformers' LlamaForCausalLM on the weights it dequantises from
the same GGUF, float32, LXT 2.1's rules applied by its own monkey_patch with the cp_LRP / attnLRP maps,
see scripts/reference_decoder_attribution.py), same threads. Median of RUNS runs after one warm-up.

B13 next token, 64-token prompt, lrp and attnlrp. xai: wall time of the whole `xai explain` process, and
    that minus the median wall time of the same command on a 1-token prompt (start-up, model load,
    tokenizer: what is left is the explanation). PyTorch: one forward (logits of the last position
    only) with grad on the embedding output, backward from the argmax logit, R = (e * grad).sum(-1);
    only that is timed (model loaded and patched before; the weights do not require grad).
    Agreement: max |R_xai - R_torch| / max |R_torch| (B14: over the whole matrix).
B14 the 20-step matrix, 16-token prompt, attnlrp: `xai explain --generate 20` (generates greedily, then
    explains each generated token over every earlier position) against, in PyTorch, HF `generate`
    (greedy, KV cache, no grad) for the 20 tokens + one forward with grad over prompt + generated
    (logits of the 20 predicting positions) + 20 backwards (autograd.grad, retain_graph=True), the
    generation included in PyTorch's time as it is in xai's.
B15 growth with prompt length: next-token lrp at 64, 256 and 1024 tokens, time and peak RSS.
Peak RSS is that of a whole process, from GNU time (-f %M) around it: xai's explain process, and a fresh
PyTorch process per case (`attribution_lm.py --torch-case ...`: imports, model load, warm-up and RUNS
runs). "load" is the peak of a PyTorch process that only imports and loads the model, so the
explanation's own memory can be read off as the difference; as the loader's transient peak (dequantising
the GGUF) exceeds the explanation's at short prompts, each PyTorch case also reports its own peak: VmHWM
reset after the model is loaded (/proc/self/clear_refs), minus VmRSS then. xai's "own" is its peak minus
that of the 1-token start-up run.
PyTorch's attention is HF's default (sdpa: the softmax is not kept for the backward); B15's PyTorch cases
are run again with attn_implementation="eager" (the softmax kept, [heads, T, T] per layer, as xai keeps it).
XAI_BENCH_MODEL / XAI_BENCH_BINARY override the GGUF and the xai binary; XAI_BENCH_THREADS, XAI_BENCH_RUNS.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.environ.get("XAI_BENCH_MODEL", os.path.join(ROOT, "models", "smollm2-135m-instruct.gguf"))
XAI = os.environ.get("XAI_BENCH_BINARY", os.path.join(ROOT, ".build", "release", "xai"))
THREADS = int(os.environ.get("XAI_BENCH_THREADS", str(os.cpu_count() or 1)))
RUNS = int(os.environ.get("XAI_BENCH_RUNS", "5"))
ATTENTION = os.environ.get("XAI_BENCH_ATTENTION", "sdpa")
LENGTHS = (64, 256, 1024)
MATRIX_PROMPT = 16
MATRIX_NEW = 20
# every word is one SmolLM2 token (checked against xai's ids below)
WORDS = ("the river flows past old stone bridges while merchants call out prices and children "
         "chase pigeons across the square under a pale autumn sky ").split()
TIME = ["/usr/bin/time", "-f", "%M"]


def prompt_of(length):
    return " ".join((WORDS * (length // len(WORDS) + 1))[:length]).capitalize()


def timed(command, **env):
    """(stdout, wall seconds, peak RSS in KB of that process, from GNU time)."""
    start = time.perf_counter()
    result = subprocess.run(TIME + command, capture_output=True, text=True,
                            env={**os.environ, "TQDM_DISABLE": "1", **env})  # TQDM: the GGUF loader's bar
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:3])} ... failed:\n{result.stderr[-2000:]}")
    return result.stdout, seconds, int(result.stderr.strip().splitlines()[-1])


def xai_explain(text, method, *extra):
    """Warm-up + RUNS runs: (json of the last run, median wall seconds, max peak RSS KB)."""
    command = [XAI, "explain", "--model", MODEL, "--threads", str(THREADS), "--format", "json",
               "--method", method, *extra, text]
    runs = [timed(command) for _ in range(RUNS + 1)][1:]
    return json.loads(runs[-1][0]), statistics.median(r[1] for r in runs), max(r[2] for r in runs)


def torch_case(*args, attention=ATTENTION):
    """A fresh PyTorch process for one case: (its json, peak RSS KB)."""
    out, _, peak = timed([sys.executable, os.path.abspath(__file__), "--torch-case", *args],
                         XAI_BENCH_ATTENTION=attention)
    return json.loads(out.strip().splitlines()[-1]), peak


# ---------------------------------------------------------------------------------------------
# PyTorch side (runs in its own process)

def vm(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def reset_peak():
    """Resident KB now, after resetting this process's peak (VmHWM) to it: the loader's transient
    peak (dequantising the GGUF) would otherwise hide the explanation's own memory."""
    import ctypes
    import gc
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return vm("VmRSS")


def run_torch_case(args):
    import torch
    spec = importlib.util.spec_from_file_location(
        "reference_decoder_attribution", os.path.join(ROOT, "scripts", "reference_decoder_attribution.py"))
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)  # loads LXT by path; sets 1 thread, so set ours after
    torch.set_num_threads(THREADS)
    from transformers import AutoModelForCausalLM
    folder, name = os.path.split(MODEL)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation=ATTENTION).eval()
    model.requires_grad_(False)  # only the embedding output needs a gradient (xai computes no weight gradients)
    if args.torch_case == "load":
        print(json.dumps({}))
        return
    base = reset_peak()
    ids = torch.tensor([[int(i) for i in args.ids.split(",")]])
    embed = model.model.embed_tokens

    def median(body):
        body()
        times, result = [], None
        for _ in range(RUNS):
            start = time.perf_counter()
            result = body()
            times.append(time.perf_counter() - start)
        return statistics.median(times), result

    def next_token():
        e = embed(ids).detach().requires_grad_(True)
        logits = model(inputs_embeds=e, logits_to_keep=1).logits[0, -1]
        target = int(logits.argmax())
        logits[target].backward()
        return target, (e * e.grad)[0].sum(-1).detach()

    def matrix():
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                 max_new_tokens=MATRIX_NEW, min_new_tokens=MATRIX_NEW, pad_token_id=2)
        generation.append(time.perf_counter() - start)
        generated = out[0, ids.shape[1]:]
        full = out[:, :-1]  # the last generated token is predicted, never read
        e = embed(full).detach().requires_grad_(True)
        logits = model(inputs_embeds=e, logits_to_keep=MATRIX_NEW).logits[0]
        rows = []
        for k in range(MATRIX_NEW):
            (grad,) = torch.autograd.grad(logits[k, generated[k]], e, retain_graph=True)
            rows.append((e * grad)[0, :ids.shape[1] + k].sum(-1).detach())
        return generated.tolist(), rows

    generation = []
    with ref.lxt_patched("llama", args.method):
        if args.torch_case == "next":
            seconds, (target, relevance) = median(next_token)
            print(json.dumps({"seconds": seconds, "own_kb": vm("VmHWM") - base, "target": target,
                              "relevance": relevance.tolist()}))
        else:
            seconds, (generated, rows) = median(matrix)
            print(json.dumps({"seconds": seconds, "own_kb": vm("VmHWM") - base,
                              "generate_seconds": statistics.median(generation[1:]),
                              "generated": generated,
                              "relevance": [r.tolist() for r in rows]}))


# ---------------------------------------------------------------------------------------------

def deviation(mine, theirs):
    """max |Δ| / max |R_torch| over all (flattened) values."""
    mine = [v for row in mine for v in (row if isinstance(row, list) else [row])]
    theirs = [v for row in theirs for v in (row if isinstance(row, list) else [row])]
    assert len(mine) == len(theirs), (len(mine), len(theirs))
    return max(abs(a - b) for a, b in zip(mine, theirs)) / max(abs(b) for b in theirs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--torch-case", choices=("load", "next", "matrix"))
    parser.add_argument("--method", default="lrp")
    parser.add_argument("--ids", default="")
    args = parser.parse_args()
    if not os.path.exists(MODEL):
        print("B13-B15 skipped: models/smollm2-135m-instruct.gguf is absent (make models)")
        return
    if args.torch_case:
        return run_torch_case(args)
    if not os.path.exists(TIME[0]):
        sys.exit("B13-B15 need GNU time (/usr/bin/time, apt-get install time)")

    load_before = os.getloadavg()
    _, start_up, start_up_peak = xai_explain("The", "lrp")
    _, torch_load_peak = torch_case("load")
    rows = []  # (id, label, xai json, xai s, xai KB, torch json, torch KB, deviation)
    eager = []  # B15's PyTorch cases again with the eager softmax (kept for the backward, as in xai)
    for length in LENGTHS:
        for method in (("lrp", "attnlrp") if length == LENGTHS[0] else ("lrp",)):
            data, seconds, peak = xai_explain(prompt_of(length), method)
            assert len(data["ids"]) == length, (length, len(data["ids"]))
            theirs, theirs_peak = torch_case("next", "--method", method, "--ids", ",".join(map(str, data["ids"])))
            assert theirs["target"] == data["steps"][0]["token_ids"][0], "xai and PyTorch predict different tokens"
            label = f"next token, {length} tokens, {method}"
            rows.append(("B13" if length == LENGTHS[0] else "B15", label, data, seconds, peak, theirs, theirs_peak,
                         deviation(data["steps"][0]["relevance"], theirs["relevance"])))
            if method == "lrp" and ATTENTION != "eager":
                eager.append((length, *torch_case("next", "--method", method, "--ids", ",".join(map(str, data["ids"])),
                                                  attention="eager")))
    data, seconds, peak = xai_explain(prompt_of(MATRIX_PROMPT), "attnlrp", "--generate", str(MATRIX_NEW))
    assert data["prompt_count"] == MATRIX_PROMPT, data["prompt_count"]
    prompt_ids = data["ids"][:MATRIX_PROMPT]
    theirs, theirs_peak = torch_case("matrix", "--method", "attnlrp", "--ids", ",".join(map(str, prompt_ids)))
    same = theirs["generated"] == data["ids"][MATRIX_PROMPT:]
    rows.append(("B14", f"{MATRIX_NEW}-step matrix, {MATRIX_PROMPT}+{MATRIX_NEW} tokens, attnlrp", data, seconds,
                 peak, theirs, theirs_peak,
                 deviation([s["relevance"] for s in data["steps"]], theirs["relevance"]) if same else None))
    load_after = os.getloadavg()

    print(f"SmolLM2-135M Q4_1, {THREADS} threads, median of {RUNS} after a warm-up; PyTorch {ATTENTION} "
          f"attention + LXT 2.1; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"xai start-up (explain of a 1-token prompt): {start_up * 1e3:.0f} ms, {start_up_peak / 1024:.0f} MB; "
          f"PyTorch process that only loads the model: {torch_load_peak / 1024:.0f} MB")
    print(f"{'id':4} {'case':42} {'xai ms':>7} {'-start':>7} {'torch ms':>8} {'torch/xai':>9} "
          f"{'xai MB':>7} {'own':>5} {'torch MB':>8} {'own':>5} {'max|Δ|/max|R|':>13}")
    for ident, label, _, seconds, peak, theirs, theirs_peak, dev in rows:
        net = seconds - start_up
        print(f"{ident:4} {label:42} {seconds * 1e3:7.0f} {net * 1e3:7.0f} {theirs['seconds'] * 1e3:8.0f} "
              f"{theirs['seconds'] / net:8.2f}x {peak / 1024:7.0f} {(peak - start_up_peak) / 1024:5.0f} "
              f"{theirs_peak / 1024:8.0f} {theirs['own_kb'] / 1024:5.0f} "
              + (f"{dev:13.1e}" if dev is not None else "  tokens differ"))
    if eager:
        print("PyTorch with eager attention, next-token lrp: " + ", ".join(
            f"{n} tokens {t['seconds'] * 1e3:.0f} ms, {p / 1024:.0f} MB (own {t['own_kb'] / 1024:.0f})"
            for n, t, p in eager))
    print("torch/xai = PyTorch's forward+backward time over xai's time without start-up; B14's PyTorch time "
          f"includes HF generate (KV cache) of the {MATRIX_NEW} tokens, as xai's does "
          f"({rows[-1][5]['generate_seconds'] * 1e3:.0f} ms of it)")


if __name__ == "__main__":
    sys.exit(main())

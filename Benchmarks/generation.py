"""Language-model rows of `make bench` (issue #23): SmolLM2-135M-Instruct Q4_1 (`make models`),
the same file for every engine, same threads, greedy decoding.

B10 decoding speed: tokens/s after a 15-token prompt, 64 new tokens (end token ignored), for
    `xai generate`, transformers' generate on the GGUF it dequantises itself (torch CPU), and
    llama.cpp (llama-cpp-python 0.3.36, built from source) on the same file.
B11 prefill of a 256-token prompt: seconds until the first new token's logits, xai against
    one transformers forward (logits of the last position only, as generate's prefill).
B12 peak RSS of `xai generate` (B10's run) against the size of the GGUF file.
Median of RUNS runs each; decode rates exclude the prefill (time of 64 tokens minus time of 1).
"""
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "smollm2-135m-instruct.gguf")
XAI = os.path.join(ROOT, ".build", "release", "xai")
THREADS = int(os.environ.get("XAI_BENCH_THREADS", str(os.cpu_count() or 1)))
RUNS = int(os.environ.get("XAI_BENCH_RUNS", "5"))
NEW_TOKENS = 64
PROMPT_15 = "The history of the Roman Empire begins with the founding of the city of Rome in"
WORDS = ("the river flows past old stone bridges while merchants call out prices and children "
         "chase pigeons across the square under a pale autumn sky ").split()


def xai_generate(prompt, new_tokens):
    """One `xai generate --format json` run: (json, peak RSS of that process in KB, from
    GNU time: a child's own rusage would include this Python process's pages before exec)."""
    timer = ["/usr/bin/time", "-f", "%M"] if os.path.exists("/usr/bin/time") else []
    result = subprocess.run(
        timer + [XAI, "generate", "--model", MODEL, "--threads", str(THREADS), "--format", "json",
                 "--ignore-eos", "--max-new-tokens", str(new_tokens), prompt],
        capture_output=True, text=True, check=True)
    peak = int(result.stderr.strip().splitlines()[-1]) if timer else 0
    return json.loads(result.stdout), peak


def long_prompt(target=256):
    """The first `target` token ids xai's tokenizer gives for a long text of plain words."""
    data, _ = xai_generate(" ".join(WORDS * 40), 1)
    return data["prompt_ids"][:target]


def main():
    if not os.path.exists(MODEL):
        print("B10-B12 skipped: models/smollm2-135m-instruct.gguf is absent (make models)")
        return
    import torch
    torch.set_num_threads(THREADS)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    rows = {}
    # xai: decode rate and prefill from its own timing; RSS of the process.
    rates, peaks = [], []
    prompt_ids = None
    for _ in range(RUNS):
        data, peak = xai_generate(PROMPT_15, NEW_TOKENS)
        rates.append(data["timing"]["decode_tokens_per_second"])
        peaks.append(peak)
        prompt_ids = data["prompt_ids"]
    rows["xai_rate"] = statistics.median(rates)
    rows["xai_rss_mb"] = max(peaks) / 1024
    ids256 = long_prompt()
    folder, name = os.path.split(MODEL)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    text256 = tokenizer.decode(ids256)
    prefills = []
    for _ in range(RUNS):
        data, _ = xai_generate(text256, 1)
        prefills.append(data["timing"]["prefill_seconds"])
    rows["xai_prefill"] = statistics.median(prefills)
    rows["prefill_tokens"] = len(data["prompt_ids"])

    # transformers on the same GGUF (dequantised to float32 by its own loader).
    import transformers
    transformers.logging.set_verbosity_error()
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    prompt = torch.tensor([prompt_ids])

    def hf_time(new_tokens):
        start = time.perf_counter()
        with torch.no_grad():
            model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=False,
                           max_new_tokens=new_tokens, min_new_tokens=new_tokens, pad_token_id=2)
        return time.perf_counter() - start

    hf_time(4)
    one = statistics.median(hf_time(1) for _ in range(RUNS))
    full = statistics.median(hf_time(NEW_TOKENS) for _ in range(RUNS))
    rows["torch_rate"] = (NEW_TOKENS - 1) / (full - one)
    long_ids = torch.tensor([ids256[:rows["prefill_tokens"]]])

    def hf_prefill():
        start = time.perf_counter()
        with torch.no_grad():
            model(long_ids, logits_to_keep=1)
        return time.perf_counter() - start

    hf_prefill()
    rows["torch_prefill"] = statistics.median(hf_prefill() for _ in range(RUNS))
    del model

    # llama.cpp on the same file.
    try:
        from llama_cpp import Llama
    except ImportError:
        Llama = None
    if Llama is not None:
        llm = Llama(model_path=MODEL, n_threads=THREADS, n_threads_batch=THREADS, n_ctx=512,
                    verbose=False, seed=0)
        eos = llm.token_eos()

        def cpp_time(new_tokens):
            llm.reset()
            start = time.perf_counter()
            llm.create_completion(prompt_ids, max_tokens=new_tokens, temperature=0.0,
                                  logit_bias={eos: -1e9})
            return time.perf_counter() - start

        cpp_time(4)
        one = statistics.median(cpp_time(1) for _ in range(RUNS))
        full = statistics.median(cpp_time(NEW_TOKENS) for _ in range(RUNS))
        rows["cpp_rate"] = (NEW_TOKENS - 1) / (full - one)

    size_mb = os.path.getsize(MODEL) / 2**20
    print(f"B10 decode tokens/s, SmolLM2-135M Q4_1, {len(prompt_ids)}-token prompt, {NEW_TOKENS} new, "
          f"{THREADS} threads:")
    print(f"    xai {rows['xai_rate']:.1f}   transformers {rows['torch_rate']:.1f} "
          f"(xai/transformers {rows['xai_rate'] / rows['torch_rate']:.2f}x)", end="")
    if "cpp_rate" in rows:
        print(f"   llama.cpp {rows['cpp_rate']:.1f} (xai/llama.cpp {rows['xai_rate'] / rows['cpp_rate']:.2f}x)")
    else:
        print("   llama.cpp not installed (pip install llama-cpp-python==0.3.36)")
    print(f"B11 prefill {rows['prefill_tokens']} tokens: xai {rows['xai_prefill'] * 1e3:.0f} ms, "
          f"PyTorch {rows['torch_prefill'] * 1e3:.0f} ms "
          f"(PyTorch/xai {rows['torch_prefill'] / rows['xai_prefill']:.2f}x)")
    print(f"B12 peak RSS of xai generate: {rows['xai_rss_mb']:.0f} MB for a {size_mb:.0f} MB GGUF "
          f"({rows['xai_rss_mb'] / size_mb:.2f}x)")


if __name__ == "__main__":
    sys.exit(main())

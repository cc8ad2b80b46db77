"""`make bench`: runs xai-bench and its PyTorch counterpart in one go (same machine,
same thread count) and prints one table with the ratio xai / PyTorch."""

import json
import os
import platform
import statistics
import subprocess
import sys
import time

THREADS = str(os.cpu_count() or 1)
SAMPLE = "samples/models/minilm-rt-sentiment"
TEXT = "This was one of the best movies I have ever seen."


def measurements(command):
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    values = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                values[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return values


def process_time(runs=11):
    times = []
    for index in range(runs + 2):
        start = time.perf_counter()
        subprocess.run([".build/release/xai", "explain", "--format", "json", TEXT], check=True,
                       capture_output=True)
        if index >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


CLI_SENTENCES = ".build/bench-cli-sentences.txt"


def cli_sentences(count=24):
    """B9: Rotten Tomatoes test sentences of 8-40 words (about 10-50 tokens)."""
    sentences = []
    with open("samples/data/rotten_tomatoes_test.jsonl", encoding="utf-8") as lines:
        for line in lines:
            text = json.loads(line)["text"]
            if 8 <= len(text.split()) <= 40:
                sentences.append(text)
            if len(sentences) == count:
                break
    with open(CLI_SENTENCES, "w", encoding="utf-8") as out:
        out.write("\n".join(sentences) + "\n")
    return sentences


def cli_per_sentence(method, sentences, runs=5):
    """B9: seconds per sentence of `xai explain --format json -` with one sentence per
    line: (all sentences − the first alone) / (count − 1), medians of `runs`, so that
    process start and model loading drop out."""
    def timed(text):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([".build/release/xai", "explain", "--method", method, "--format", "json", "-"],
                           input=text, check=True, capture_output=True, text=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    all_lines = timed("\n".join(sentences) + "\n")
    first = timed(sentences[0] + "\n")
    return (all_lines - first) / (len(sentences) - 1)


def cpu_model():
    """The CPU's name as the kernel reports it (platform.processor() is empty on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def torch_description():
    """PyTorch's version, BLAS and the instruction set its kernels chose on this CPU."""
    code = ("import torch; c = torch.__config__.show(); "
            "cap = [l.split(':')[1].strip() for l in c.splitlines() if 'CPU capability usage' in l]; "
            "blas = 'MKL' if 'Math Kernel Library' in c else 'other BLAS'; "
            "print(f'PyTorch {torch.__version__}: {blas}, oneDNN, kernels for {cap[0] if cap else \"?\"}')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return result.stdout.strip() or "PyTorch: version unknown"


def main():
    sentences = cli_sentences()
    xai = measurements([".build/release/xai-bench", "methods", SAMPLE, "--threads", THREADS])
    torch = measurements([sys.executable, "Benchmarks/torch_bench.py", "--threads", THREADS,
                          "--sample", SAMPLE, "--cli-sentences", CLI_SENTENCES])
    for method in ["lrp", "integrated-gradients"]:
        xai[f"B9_cli_{method}"] = cli_per_sentence(method, sentences)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, {THREADS} threads; median of >= 5 runs")
    print(subprocess.run([".build/release/xai-bench", "machine", "--threads", THREADS], check=True,
                         capture_output=True, text=True).stdout.rstrip())
    print(torch_description())
    print(f"{'id':<34} {'xai ms':>10} {'PyTorch ms':>11} {'xai/PyTorch':>12}")
    rows = [
        ("B1 lrp base, 32 tok (torch grad params)", "B1_lrp_base_32", "B1_lrp_base_32_grad_params"),
        ("B1 lrp base, 32 tok (frozen)", "B1_lrp_base_32", "B1_lrp_base_32"),
        ("B2 IG 32 steps base, 32 tok", "B2_ig32_base_32", "B2_ig32_base_32"),
        ("B3 lrp sample model", "B3_sample_lrp", "B3_sample_lrp"),
        ("B3 gradxinput sample model", "B3_sample_gradxinput", "B3_sample_gradxinput"),
        ("B3 IG 32 sample model", "B3_sample_integrated-gradients", "B3_sample_integrated-gradients"),
        ("B9 xai explain - lrp, per sentence", "B9_cli_lrp", "B9_cli_lrp"),
        ("B9 xai explain - IG 32, per sentence", "B9_cli_integrated-gradients",
         "B9_cli_integrated-gradients"),
    ]
    for label, mine, theirs in rows:
        if mine in xai and theirs in torch:
            print(f"{label:<40} {xai[mine] * 1e3:10.2f} {torch[theirs] * 1e3:11.2f} "
                  f"{xai[mine] / torch[theirs]:12.2f}")
    if "B4_lrp_batch_256" in xai and "B4_lrp_batch_256" in torch:
        mine, theirs = xai["B4_lrp_batch_256"], torch["B4_lrp_batch_256"]
        print(f"{'B4 lrp 256 sentences (examples/s)':<40} {256 / mine:10.1f} {256 / theirs:11.1f} "
              f"{theirs / mine:11.2f}× speed-up (PyTorch time / xai time, ≥ 1.5× wanted)")
        details = [f"PyTorch best batch {torch.get('B4_best_batch_size', 0):.0f} sentences"]
        if "B4_best_batch_tokens" in xai:
            details.append(f"xai best batch {xai['B4_best_batch_tokens']:.0f} tokens")
        if "B4_gflops" in xai:
            details.append(f"B4 achieved GFLOP/s: {xai['B4_gflops']:.1f}")
        print(f"   {'; '.join(details)}; {torch.get('B4_tokens', 0):.0f} real tokens")
    print(f"B6 xai explain, process start to exit: {process_time() * 1e3:.1f} ms")
    print(f"B7 peak RSS of B1: {xai.get('B7_peak_rss_mb', 0):.0f} MB, after IG "
          f"{xai.get('B2_peak_rss_mb', 0):.0f} MB "
          f"(weights {30522 * 768 * 4 / 1e6 + 6 * (4 * 768 * 768 + 2 * 768 * 3072) * 4 / 1e6:.0f} MB)")
    print(f"B8 achieved GFLOP/s in B1: {xai.get('B8_gflops', 0):.1f} "
          "(compare with the raw cblas_sgemm line of xai-bench gemm)")
    similarity_row()
    perturbation_rows()


MINILM = "models/all-minilm-l6-v2"
# The pair of xai-bench's B19 (Benchmarks/XaiBench/SimilarityBench.swift).
SIMILARITY_A = ("The quarterly report shows that revenue grew by twelve percent despite rising costs in "
                "the second half.")
SIMILARITY_B = "Despite higher expenses later in the year, the company's sales increased by about twelve percent."


def similarity_row():
    """B19: BiLRP (lrp) of one pair of ~20-token texts on all-MiniLM-L6-v2 (after `make models`),
    xai in process against scripts/reference_bilrp.py's PyTorch BiLRP (384 identical rows per text,
    one backward pass), same threads, each run printed (the machine is shared)."""
    if not os.path.exists(os.path.join(MINILM, "model.safetensors")):
        print("B19 BiLRP similarity: skipped (make models fetches all-MiniLM-L6-v2)")
        return
    xai = measurements([".build/release/xai-bench", "similarity", MINILM, "--threads", THREADS])
    sys.path.insert(0, "scripts")
    import reference_bilrp
    times, tokens_a, tokens_b = reference_bilrp.bench(MINILM, SIMILARITY_A, SIMILARITY_B, int(THREADS), repeats=5)
    torch_median = sorted(times)[len(times) // 2]
    for label, key in [("forward mode", "B19_similarity_forward"), ("backward rows", "B19_similarity_backward")]:
        print(f"{'B19 BiLRP pair ' + str(tokens_a) + '+' + str(tokens_b) + ' tok, xai ' + label:<40} "
              f"{xai[key] * 1e3:10.1f} {torch_median * 1e3:11.1f} {xai[key] / torch_median:12.3f}"
              f"   (PyTorch {torch_median / xai[key]:.1f}× slower)")
    print(f"   PyTorch runs (s): {', '.join(f'{t:.2f}' for t in times)}")



PERTURBATION_SENTENCES = ".build/bench-perturbation.json"


def perturbation_rows():
    """B16-B18: occlusion, exact Shapley values and KernelSHAP on the sample model against
    Captum 0.9 (Benchmarks/perturbation_bench.py), the same sentences, units and baseline,
    the same thread count; Captum at its default (one perturbed input per forward) and with
    64 per forward. Seconds per sentence; the ratio is Captum's time over xai's."""
    subprocess.run([sys.executable, "Benchmarks/perturbation_bench.py", "--write-sentences",
                    PERTURBATION_SENTENCES], check=True)
    xai = measurements([".build/release/xai-bench", "perturbation", SAMPLE, PERTURBATION_SENTENCES,
                        "--threads", THREADS])
    captum = measurements([sys.executable, "Benchmarks/perturbation_bench.py", "--threads", THREADS,
                           "--sample", SAMPLE, "--sentences", PERTURBATION_SENTENCES])
    print(f"{'id (per sentence)':<44} {'xai ms':>9} {'Captum ms':>10} {'b64 ms':>9} {'speed-up':>9} {'vs b64':>7}")
    for label, key in [("B16 occlusion, window 3 (8 sentences)", "B16_occlusion_w3"),
                       ("B17 exact Shapley, 6 units (4 sentences)", "B17_shapley_exact"),
                       ("B18 KernelSHAP, 512 samples (8 sentences)", "B18_kernel_shap_512")]:
        if key in xai and key in captum:
            mine, theirs, batched = xai[key], captum[key], captum.get(f"{key}_b64", float("nan"))
            print(f"{label:<44} {mine * 1e3:9.2f} {theirs * 1e3:10.1f} {batched * 1e3:9.1f} "
                  f"{theirs / mine:8.1f}× {batched / mine:6.1f}×   "
                  f"({xai.get(key + '_evaluations', 0):.0f} evaluations, {xai.get(key + '_units', 0):.1f} units)")
    if "B17_shapley_exact_10_units" in xai:
        print(f"{'B17 exact Shapley, 10 units, xai alone':<44} {xai['B17_shapley_exact_10_units'] * 1e3:9.2f}"
              f"   (Captum's ShapleyValues would run 10·10! = 36,288,000 forward evaluations)")


if __name__ == "__main__":
    main()

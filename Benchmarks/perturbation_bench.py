"""Captum 0.9 counterpart of `xai-bench perturbation` (README.md, "Performance", B16-B18): the
sample model in PyTorch (Hugging Face's DistilBertForSequenceClassification, float32), the
same sentences, the same units (every token but [CLS] and [SEP]), the same baseline ([PAD]
at the units' positions of the embedding-block output, [CLS]/[SEP] kept) and the same
thread count. Captum perturbs the units' rows of the embedding-block output and its
forward puts them back into the sequence, so both sides evaluate the same perturbed inputs.

  B16  Occlusion, sliding window 3 units, stride 1        (xai --method occlusion --window 3)
  B17  ShapleyValues, every permutation (exact)          (xai --method shapley, exact)
  B18  KernelShap, n_samples=512                         (xai --method kernel-shap --samples 512)

Each is timed per sentence from the token ids: the embedding block, the target's forward
pass and Captum's attribute call (median of the runs over all sentences), with Captum's
default `perturbations_per_eval=1` and with batches of 64 perturbed inputs (`_b64`), the
batching Captum offers. Prints `name seconds` lines like the Swift side.

`--write-sentences FILE` writes the sentences both sides use (JSON) and exits.
"""

import argparse
import json
import statistics
import time
import warnings

import torch
from captum.attr import KernelShap, Occlusion, ShapleyValues
from transformers import BertTokenizer, DistilBertForSequenceClassification

SAMPLE = "samples/models/minilm-rt-sentiment"
DATA = "samples/data/rotten_tomatoes_test.jsonl"


def sentences(tokenizer):
    """B16/B18: the first 8 test sentences of 8-40 words (the B9 set's start); B17: the first 4
    of exactly 6 units (Captum's ShapleyValues takes n·n! evaluations: 4,320 at 6 units, 36 M at
    10), and for xai alone the first 2 of exactly 10 units."""
    texts = [json.loads(line)["text"] for line in open(DATA, encoding="utf-8")]
    def units(text):
        return len(tokenizer(text)["input_ids"]) - 2
    medium = [t for t in texts if 8 <= len(t.split()) <= 40][:8]
    return {
        "occlusion": medium,
        "kernel_shap": medium,
        "shapley": [t for t in texts if units(t) == 6][:4],
        "shapley_10": [t for t in texts if units(t) == 10][:2],
    }


class Forward:
    """Logits of the sample model for unit rows put back into the sentence's embedding-block
    output (Hugging Face's own transformer and head; no padding, so no attention mask)."""

    def __init__(self, model, e, rows):
        self.model, self.e, self.rows = model, e, rows

    def __call__(self, units):
        full = self.e.expand(units.shape[0], -1, -1).clone()
        full[:, self.rows] = units
        hidden = self.model.distilbert.transformer(full, attention_mask=None).last_hidden_state
        pooled = torch.relu(self.model.pre_classifier(hidden[:, 0]))
        return self.model.classifier(pooled)


def explain(model, tokenizer, text, method, per_eval):
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    special = (ids == tokenizer.cls_token_id) | (ids == tokenizer.sep_token_id)
    with torch.no_grad():
        e = model.distilbert.embeddings(ids)
        b = model.distilbert.embeddings(torch.where(special, ids, torch.full_like(ids, tokenizer.pad_token_id)))
        rows = [i for i in range(ids.shape[1]) if not special[0, i]]
        forward = Forward(model, e, rows)
        x, base = e[:, rows], b[:, rows]
        target = int(forward(x)[0].argmax())
        d = e.shape[-1]
        feature = torch.arange(len(rows))[None, :, None].expand(1, len(rows), d).contiguous()
        if method == "occlusion":
            return Occlusion(forward).attribute(x, sliding_window_shapes=(3, d), strides=(1, d), baselines=base,
                                                target=target, perturbations_per_eval=per_eval)
        if method == "shapley":
            return ShapleyValues(forward).attribute(x, baselines=base, target=target, feature_mask=feature,
                                                    perturbations_per_eval=per_eval)
        return KernelShap(forward).attribute(x, baselines=base, target=target, feature_mask=feature,
                                             n_samples=512, perturbations_per_eval=per_eval)


def check(model, tokenizer, text):
    """The bench's forward equals the model's own on the unperturbed sentence."""
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        e = model.distilbert.embeddings(ids)
        rows = list(range(1, ids.shape[1] - 1))
        mine = Forward(model, e, rows)(e[:, rows])
        theirs = model(input_ids=ids).logits
    error = (mine - theirs).abs().max().item()
    if not error <= 1e-5 * max(1.0, theirs.abs().max().item()):
        raise SystemExit(f"perturbation bench: the forward differs from the model's by {error:.3g}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample", default=SAMPLE)
    parser.add_argument("--sentences", help="the JSON file written by --write-sentences")
    parser.add_argument("--write-sentences", help="write the sentences of each case to this file and exit")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokenizer = BertTokenizer(f"{args.sample}/vocab.txt", do_lower_case=True)
    if args.write_sentences:
        with open(args.write_sentences, "w", encoding="utf-8") as out:
            json.dump(sentences(tokenizer), out, indent=1)
        return
    chosen = json.load(open(args.sentences, encoding="utf-8")) if args.sentences else sentences(tokenizer)
    model = DistilBertForSequenceClassification.from_pretrained(args.sample).float().eval()
    check(model, tokenizer, chosen["occlusion"][0])
    warnings.filterwarnings("ignore")
    cases = [("B16_occlusion_w3", "occlusion", "occlusion"), ("B17_shapley_exact", "shapley", "shapley"),
             ("B18_kernel_shap_512", "kernel_shap", "kernel-shap")]
    for name, key, method in cases:
        texts = chosen[key]
        for per_eval, suffix in [(1, ""), (64, "_b64")]:
            # Exact Shapley one by one takes minutes per run: fewer runs there.
            runs = 3 if method == "shapley" and per_eval == 1 else args.runs
            explain(model, tokenizer, texts[0], method, per_eval)  # warm-up
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                for text in texts:
                    explain(model, tokenizer, text, method, per_eval)
                times.append((time.perf_counter() - start) / len(texts))
            print(f"{name}{suffix} {statistics.median(times)}", flush=True)


if __name__ == "__main__":
    main()

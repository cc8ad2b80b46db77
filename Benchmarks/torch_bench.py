"""PyTorch counterpart of xai-bench methods (README.md, "Performance"): the same shapes, inputs and
thread count, relevance at the embedding-block output with the same hooks.
Prints `name seconds` lines like the Swift side."""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import DistilBertConfig, DistilBertForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from reference_attribution import HOOKS, Reference, integrated_gradients  # noqa: E402


def median_seconds(body, runs, warmup):
    for _ in range(warmup):
        body()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lrp(ref, e, mask, hooks):
    leaf = e.detach().clone().requires_grad_(True)
    ref.logits(leaf, mask, hooks)[:, 1].sum().backward()
    return (leaf * leaf.grad).sum(-1)


def b4_sentences():
    """The 256 B4 sentences as token-id lists, reproducible bit-for-bit on the Swift side.

    Recipe (a 64-bit LCG, Knuth's MMIX constants, top 31 bits of the state):
        state = 42 (unsigned 64-bit)
        def next(): state = (state * 6364136223846793005 + 1442695040888963407) mod 2**64
                    return state >> 33
        for s in range(256):
            length = 8 + next() % 57            # 8..64 tokens including [CLS] and [SEP]
            ids = [101] + [1000 + next() % 29000 for _ in range(length - 2)] + [102]
    next() is called in exactly this order: the length first, then the length - 2 inner ids.
    """
    state = 42

    def draw():
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        return state >> 33

    sentences = []
    for _ in range(256):
        length = 8 + draw() % 57
        sentences.append([101] + [1000 + draw() % 29000 for _ in range(length - 2)] + [102])
    return sentences


def b4_batches(sentences, batch_size):
    """PyTorch's best batching: sort by length (stable), cut into right-padded batches
    (pad id 0) with an attention mask. Returns (original indices, ids, mask) per batch."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    batches = []
    for start in range(0, len(order), batch_size):
        indices = order[start:start + batch_size]
        width = max(len(sentences[i]) for i in indices)
        ids = torch.zeros(len(indices), width, dtype=torch.long)
        mask = torch.zeros(len(indices), width, dtype=torch.long)
        for row, i in enumerate(indices):
            ids[row, :len(sentences[i])] = torch.tensor(sentences[i])
            mask[row, :len(sentences[i])] = 1
        batches.append((indices, ids, mask))
    return batches


def b4_explain(ref, sentences, batches, mask_padding=True):
    """lrp (all hooks) of every sentence's class-1 logit: one forward and one backward per
    batch (seed = sum over rows of logit[:, 1]; rows are independent). Returns one relevance
    vector per sentence, in the original order, cut to its real length."""
    relevance = [None] * len(sentences)
    for indices, ids, mask in batches:
        with torch.no_grad():
            e = ref.embed(ids)
        r = lrp(ref, e, mask if mask_padding else torch.ones_like(mask), set(HOOKS))
        for row, i in enumerate(indices):
            relevance[i] = r[row, :len(sentences[i])]
    return relevance


def b4(ref):
    """B4: lrp over 256 sentences of 8-64 tokens, frozen parameters, best batch size of
    8/16/32/64 (median of 3 runs after 1 warm-up each). Timed: embedding lookup, forward,
    backward and relevance of all 256; building the padded id tensors is not timed."""
    for value in ref.p.values():
        value.requires_grad_(False)
    sentences = b4_sentences()
    print(f"B4_check first={','.join(map(str, sentences[0]))};last_len={len(sentences[-1])}")
    print("B4_tokens", sum(len(s) for s in sentences))
    times = {}
    for batch_size in (8, 16, 32, 64):
        batches = b4_batches(sentences, batch_size)
        times[batch_size] = median_seconds(lambda: b4_explain(ref, sentences, batches), 3, 1)
        padded = sum(ids.numel() for _, ids, _ in batches)
        print(f"B4_lrp_batch_256_bs{batch_size}", times[batch_size])
        print(f"B4_padded_tokens_bs{batch_size}", padded)
    best = min(times, key=times.get)
    print("B4_lrp_batch_256", times[best])
    print("B4_best_batch_size", best)

    # Correctness: padding must not change a row's relevance. Three sentences padded in
    # their batch at the best size (and at 64, where padding is largest) against alone.
    for batch_size in sorted({best, 64}):
        batches = b4_batches(sentences, batch_size)
        padded_rows = [i for indices, ids, _ in batches for i in indices
                       if len(sentences[i]) < ids.shape[1]]
        if len(padded_rows) < 3:
            sys.exit(f"B4 check: fewer than 3 padded sentences at batch size {batch_size}")
        chosen = [padded_rows[0], padded_rows[len(padded_rows) // 2], padded_rows[-1]]
        batched = b4_explain(ref, sentences, batches)
        unmasked = b4_explain(ref, sentences, batches, mask_padding=False)
        for i in chosen:
            ids = torch.tensor([sentences[i]])
            alone = lrp(ref, ref.embed(ids).detach(), torch.ones_like(ids), set(HOOKS))[0]
            scale = alone.abs().max().item()
            error = (batched[i] - alone).abs().max().item()
            if not error <= 1e-4 * scale:
                sys.exit(f"B4 check failed: sentence {i} (length {len(sentences[i])}, batch size "
                         f"{batch_size}): batched vs alone max|dR| = {error:.3g} > 1e-4 * {scale:.3g}")
            # The check must be able to fail: without the mask, padding has to leak in.
            leak = (unmasked[i] - alone).abs().max().item()
            if not leak > 1e-3 * scale:
                sys.exit(f"B4 check is blind: sentence {i} without the padding mask differs only by "
                         f"{leak:.3g}; Reference.logits does not see the padding")
            print(f"B4_padding_check bs={batch_size};sentence={i};len={len(sentences[i])};"
                  f"rel_err={error / scale:.2e};unmasked_rel_err={leak / scale:.2e}")


def b9(sref, tokenizer, sentences):
    """B9: what `xai explain -` does per sentence, as a lean torch script would: tokenize,
    embed, one hooked forward and backward (lrp) or the 32-point path (IG), relevance to
    a list. Mean seconds per sentence, median of 3 passes over all sentences."""
    special_ids = torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id])

    def explain_all(method):
        for text in sentences:
            ids = tokenizer(text, return_tensors="pt", truncation=True, max_length=512)["input_ids"]
            mask = torch.ones_like(ids)
            e = sref.embed(ids).detach()
            if method == "lrp":
                lrp(sref, e, mask, set(HOOKS)).tolist()
            else:
                integrated_gradients(sref, ids, e, mask, 1, 32, 0, torch.isin(ids, special_ids))

    for method in ["lrp", "integrated-gradients"]:
        print(f"B9_cli_{method}", median_seconds(lambda: explain_all(method), 3, 1) / len(sentences))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample", default="samples/models/minilm-rt-sentiment")
    parser.add_argument("--cli-sentences", help="B9: a file of sentences, one per line")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(DistilBertConfig()).eval()
    ids = torch.randint(1000, 30000, (1, 32))
    ids[0, 0], ids[0, -1] = 101, 102
    mask = torch.ones_like(ids)

    ref = Reference(model)
    for value in ref.p.values():
        value.requires_grad_(True)
    e = ref.embed(ids).detach()
    print("B1_lrp_base_32_grad_params", median_seconds(lambda: lrp(ref, e, mask, set(HOOKS)), 7, 2))
    for value in ref.p.values():
        value.requires_grad_(False)
    print("B1_lrp_base_32", median_seconds(lambda: lrp(ref, e, mask, set(HOOKS)), 7, 2))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[0, 0] = special[0, -1] = True
    print("B2_ig32_base_32", median_seconds(
        lambda: integrated_gradients(ref, ids, e, mask, 1, 32, 0, special), 5, 1))

    sample = DistilBertForSequenceClassification.from_pretrained(args.sample).float().eval()
    sref = Reference(sample)
    from transformers import BertTokenizer
    tokenizer = BertTokenizer(str(Path(args.sample) / "vocab.txt"), do_lower_case=True)
    sids = tokenizer("This was one of the best movies I have ever seen.", return_tensors="pt")["input_ids"]
    smask = torch.ones_like(sids)
    se = sref.embed(sids).detach()
    sspecial = torch.isin(sids, torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id]))
    print("B3_sample_lrp", median_seconds(lambda: lrp(sref, se, smask, set(HOOKS)), 21, 3))
    print("B3_sample_gradxinput", median_seconds(lambda: lrp(sref, se, smask, set()), 21, 3))
    print("B3_sample_integrated-gradients", median_seconds(
        lambda: integrated_gradients(sref, sids, se, smask, 1, 32, 0, sspecial), 21, 3))
    if args.cli_sentences:
        b9(sref, tokenizer, Path(args.cli_sentences).read_text().splitlines())
    b4(ref)


if __name__ == "__main__":
    main()

"""PyTorch counterpart of xai-bench methods (SPEC §12): the same shapes, inputs and
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sample", default="samples/models/minilm-rt-sentiment")
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


if __name__ == "__main__":
    main()

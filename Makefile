# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_CKPT := checkpoints/small_cnn-reat-fmnist-lt.pt
# the recipe of the bundled REAT checkpoint (checkpoints/README.md): 5 epochs of small_cnn on CPU
DEMO_TRAIN := --method reat --dataset fashion-mnist-lt --arch small_cnn --epochs 5 --lr 0.05 \
	--attack-steps 5 --attack-step 0.025 --seed 0 --monitor-n 500 --device cpu
DEMO_ARGS := --dataset fashion-mnist-lt --n 500 --attacks fgsm,pgd20,cw20,adaptive,adaptive-auto --out reports/demo

.PHONY: install data browser demo test lint demo-checkpoint screenshot bench-gpu

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,protocols,formats]'
	touch $(STAMP)

# Real offline data: Debian's dataset-fashion-mnist (needs root and apt; skipped otherwise).
data:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian package dataset-fashion-mnist"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
		|| echo "note: could not install dataset-fashion-mnist; put the Fashion-MNIST .gz files in ~/.cache/ltrobust/fashion-mnist"; \
	else \
		echo "note: not root or no apt: put the Fashion-MNIST .gz files in ~/.cache/ltrobust/fashion-mnist"; \
	fi

# Headless Chromium for the HTML-report browser test: Debian's chromium (needs root and apt;
# skipped otherwise, and then tests/test_browser.py skips).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian package chromium"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
		|| echo "note: could not install chromium; the browser test will skip"; \
	else \
		echo "note: not root or no apt: no chromium, the browser test will skip"; \
	fi

demo: install data
	$(BIN)/ltrobust audit $(DEMO_CKPT) $(DEMO_ARGS)

test: install data browser
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check ltrobust tests
	$(BIN)/ruff format --check ltrobust tests
	$(BIN)/mypy

# Re-train the demo checkpoint with `ltrobust train` (REAT, small_cnn, Fashion-MNIST-LT, CPU).
demo-checkpoint: install data
	$(BIN)/ltrobust train $(DEMO_TRAIN) --overwrite --out build/demo-checkpoint
	cp build/demo-checkpoint/final.pt $(DEMO_CKPT)

# Re-take docs/report.png: the demo audit's HTML report in headless Chromium.
screenshot: demo browser
	chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
		--disable-component-update --disable-sync --no-first-run --hide-scrollbars \
		--user-data-dir=$$(mktemp -d) --window-size=1280,1800 \
		--screenshot=docs/report.png file://$(CURDIR)/reports/demo/report.html

# The GPU figures (needs a CUDA GPU; docs/PERFORMANCE.md): PGD-20 images/s of resnet18 and
# wrn34_10 in fp32 and bf16 against the floor, the default audit on 1,000 samples (also scaled to
# 10,000), peak memory at 1k and 10k, and seconds per epoch of resnet18 PGD-10 AT with --amp on
# data shaped like CIFAR-10-LT.
bench-gpu: install
	$(BIN)/ltrobust bench --device cuda --arch resnet18,wrn34_10 --precision fp32,bf16 \
		--train-arch resnet18 --json benchmarks/results/gpu-$$(date +%F).json

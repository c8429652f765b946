# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_CKPT := checkpoints/small_cnn-at-fmnist-lt.pt
DEMO_ARGS := --dataset fashion-mnist-lt --n 500 --attacks fgsm,pgd20,cw20,adaptive,aa-fast --out reports/demo

.PHONY: install data demo test lint demo-checkpoint

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

demo: install data
	$(BIN)/ltrobust audit $(DEMO_CKPT) $(DEMO_ARGS)

test: install data
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check ltrobust tests scripts

# Re-create the bundled demo checkpoint (PGD-AT of small_cnn on Fashion-MNIST-LT, CPU).
demo-checkpoint: install data
	$(BIN)/python scripts/make_demo_checkpoint.py --out $(DEMO_CKPT)

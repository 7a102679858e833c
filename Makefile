# Two commands for a newcomer: `make demo` (main job on embedded synthetic data) and `make test`.
# Each creates or reuses .venv, installs robusteye into it, then runs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_OUT ?= demo

.PHONY: install demo test lint format clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU build on local disk; a bare `torch` would pull CUDA (GBs).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	mkdir -p $(DEMO_OUT)
	$(VENV)/bin/robusteye data synth --out $(DEMO_OUT)/synthetic.npz
	$(VENV)/bin/robusteye data info $(DEMO_OUT)/synthetic.npz
	$(VENV)/bin/robusteye data preview $(DEMO_OUT)/synthetic.npz --out $(DEMO_OUT)/preview.png
	$(VENV)/bin/robusteye train --model wrn_16_1 --data synthetic:n=1500 --epochs 3 \
		--out $(DEMO_OUT)/wrn_16_1 --no-progress --resume
	$(VENV)/bin/robusteye attack $(DEMO_OUT)/wrn_16_1/last --data synthetic:n=500,seed=7 \
		--attack fgsm --eps 0.001,0.003,0.005,0.01,0.03 --out $(DEMO_OUT)/fgsm.json
	$(VENV)/bin/robusteye inspect parseval_wrn_16_1
	@echo "demo outputs in $(DEMO_OUT)/"

test: install
	@$(PY) -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; rc=0; fi; exit $$rc

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .ruff_cache .mypy_cache

# edgezoo: two commands. `make demo` runs the main job; `make test` runs the tests.
# Both install into .venv from requirements.lock first (idempotent).

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
HGQ    := $(VENV)/hgq
PYTEST_ARGS ?=
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONUNBUFFERED := 1

.PHONY: install demo test test-all lint bench lock clean

install: $(STAMP)
	@command -v yosys >/dev/null 2>&1 || echo "note: yosys not found; the RTL export skips its open-synthesis (yosys synth_xilinx) figures (Debian: apt-get install yosys)"

$(STAMP): requirements.lock requirements-hgq.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	# HGQ2 beside QKeras (requirements-hgq.txt): its own directory, appended to sys.path after
	# site-packages by a .pth line, so `qkeras` stays QKeras 0.9.0 and `hgq` imports too.
	rm -rf $(HGQ)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --target $(HGQ) -r requirements-hgq.txt
	echo "$(abspath $(HGQ))" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/zz-edgezoo-hgq.pth"
	$(PY) -c "import qkeras.utils, hgq, qkeras, importlib.metadata as m; assert m.version('qkeras') == '0.9.0' and 'site-packages' in qkeras.__file__, qkeras.__file__"
	# da4ml compiles its numba kernels on first use (1-3 min of CPU) and caches them in the venv:
	# compile them here, once, instead of in the first RTL export, test worker or demo.
	$(PY) -m export.targets.rtl.warm
	touch $(STAMP)

demo: install
	$(VENV)/bin/edgezoo demo

# compileall: the suite starts hundreds of Python processes (CLI commands, isolated bench
# runs, notebook kernels); with PYTHONDONTWRITEBYTECODE set (as on CI) each would compile
# edgezoo's own modules again. Notebooks first: the longest items (one is 80 s) start early
# instead of running alone at the end while the other workers have finished.
test: lint
	$(PY) -m compileall -q zoo training compress export edgezoo >/dev/null
	$(PY) -m pytest -n 3 --dist worksteal --nbmake --nbmake-timeout=600 -m "not slow" --durations=30 notebooks tests $(PYTEST_ARGS)

# Everything, the tests marked slow included (hls4ml io_stream C simulations of every CNN the
# zoo claims for hls4ml, the full-size RTL + yosys run of tests/test_fpga.py, the long property
# profile). The trained models most tests read are built once per session and shared by the
# xdist workers (tests/conftest.py).
test-all: lint
	$(PY) -m compileall -q zoo training compress export edgezoo >/dev/null
	$(PY) -m pytest -n 3 --dist worksteal --nbmake --nbmake-timeout=600 notebooks tests $(PYTEST_ARGS)

# One style: the linter and the formatter (`ruff format` rewrites what --check reports).
LINT_DIRS := zoo training compress export edgezoo tests
lint: install
	$(VENV)/bin/ruff check $(LINT_DIRS)
	$(VENV)/bin/ruff format --check $(LINT_DIRS)

bench: install
	$(VENV)/bin/edgezoo bench-train

# Re-resolve the pins from pyproject's ranges (needs the package registry).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install -q -e ".[dev]"
	(echo "# Exact pins for edgezoo (Python 3.11). Regenerate with: make lock"; \
	 .lockenv/bin/pip freeze --exclude-editable) > requirements.lock
	rm -rf .lockenv

clean:
	rm -rf $(VENV) runs .pytest_cache

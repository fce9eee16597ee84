# Two commands do everything on a fresh clone: `make serve` and `make test`.
# Everything is installed into .venv from requirements-dev.txt; nothing is assumed
# to be installed by hand beyond Python 3.9+ and cargo.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
APP ?= examples.hello:app

RUST_SOURCES := $(shell find rust -name '*.rs') Cargo.toml pyproject.toml

.PHONY: serve test test-rust test-python lint build bench bench-smoke clean deps-system

$(VENV)/.deps: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# tools/pgo_build.py builds the extension with profile-guided optimisation (an
# instrumented build serves benches/pgo_train.py, then `maturin develop --release`
# uses the counts) and installs the package in editable mode; the stamp makes
# repeated runs skip the build when nothing changed.
PGO_INPUTS := tools/pgo_build.py benches/pgo_train.py benches/asgi_inprocess.py \
	benches/apps/__init__.py benches/apps/common.py benches/apps/covetpy.py
$(VENV)/.built: $(VENV)/.deps $(RUST_SOURCES) $(PGO_INPUTS)
	flock $(VENV)/.build.lock env VIRTUAL_ENV=$(abspath $(VENV)) $(PY) tools/pgo_build.py develop
	touch $@

build: $(VENV)/.built

# The peer frameworks the benchmarks compare against (benches/, requirements-bench.txt).
$(VENV)/.bench-deps: $(VENV)/.deps requirements-bench.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

serve: build
	$(PY) -m uvicorn $(APP) --host $(HOST) --port $(PORT)

test-rust:
	cargo test --quiet

test-python: build
	$(PY) -m pytest -q

lint: build
	cargo fmt --check
	cargo clippy --all-targets --quiet -- -D warnings
	cargo clippy --all-targets --features python --quiet -- -D warnings  # pedantic: Cargo.toml [lints]
	$(VENV)/bin/ruff check python tests benches examples tools
	$(VENV)/bin/ruff format --check python tests benches examples tools
	$(VENV)/bin/mypy --strict python/covet
	$(PY) -m mypy.stubtest covet._core

# Every benchmark once, checks only (a few seconds): keeps the benches from rotting.
bench-smoke: build $(VENV)/.bench-deps
	cargo test --benches --quiet
	$(PY) benches/asgi_inprocess.py --smoke --quiet > /dev/null
	$(PY) benches/middleware.py --smoke > /dev/null
	$(PY) benches/broadcast.py --smoke --quiet > /dev/null

# The full suite (about 20 minutes on 2 cores): Criterion, in-process ASGI, wrk over
# sockets, the per-step profile; writes benches/RESULTS.md.
bench: build $(VENV)/.bench-deps
	command -v wrk > /dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	$(PY) benches/run.py

# Debian packages the tests need (nginx for tests/deploy/). Installing needs root; a
# non-root user without nginx gets those tests skipped locally (CI runs as root).
deps-system:
	command -v nginx > /dev/null || [ -x /usr/sbin/nginx ] || [ "$$(id -u)" != 0 ] || \
		(apt-get update && (apt-get install -y nginx-light || apt-get install -y nginx))

# cargo-fuzz targets (rust/fuzz/, a crate of its own on the nightly toolchain), each
# run for FUZZ_SECONDS; not part of `make test`. The committed seeds are read from
# rust/fuzz/corpus/<target>/, new inputs go to rust/fuzz/work/<target>/ (ignored),
# crashes to rust/fuzz/artifacts/<target>/; the last lines sum each run up.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= router urlencoded cookies multipart range content_type headers percent
FUZZ_DIR := rust/fuzz

.PHONY: fuzz
fuzz:
	cargo +nightly fuzz --version > /dev/null 2>&1 || cargo install cargo-fuzz --locked
	set -e; for target in $(FUZZ_TARGETS); do \
		echo "fuzzing $$target for $(FUZZ_SECONDS) s"; \
		mkdir -p $(FUZZ_DIR)/work/$$target; \
		status=0; cargo +nightly fuzz run --fuzz-dir $(FUZZ_DIR) --sanitizer none $$target \
			$(FUZZ_DIR)/work/$$target $(FUZZ_DIR)/corpus/$$target \
			-- -max_total_time=$(FUZZ_SECONDS) > $(FUZZ_DIR)/work/$$target.log 2>&1 || status=$$?; \
		if [ $$status -ne 0 ]; then tail -n 60 $(FUZZ_DIR)/work/$$target.log; exit $$status; fi; \
	done
	@for target in $(FUZZ_TARGETS); do \
		printf '%-13s %s\n' $$target "$$(grep -E '^#[0-9]+[[:space:]]+DONE' $(FUZZ_DIR)/work/$$target.log | tail -1)"; \
	done

# pytest runs last so that its summary line closes the output.
test: deps-system build test-rust lint bench-smoke test-python

clean:
	rm -rf $(VENV) target

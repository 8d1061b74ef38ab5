# make install | make test | make quickstart [DATA=path/to/fer2013.zip] | make study STUDY=ablation SEEDS=0 | make report
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ../shared/data/fer2013.zip
H5     ?= data/fer2013.h5
SWEEP  := multirun/quickstart/$(shell date +%Y-%m-%d_%H-%M-%S)

.PHONY: install test lint docs format quickstart study report clean browser

install: $(STAMP)

# Re-runs only when pyproject.toml changes; torch installs from the local disk where it lies.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[train,app,dev]'
	# facenet-pytorch pins torch<2.3 and numpy<2 in its metadata but works with ours.
	$(BIN)/python -m pip install -q --no-deps facenet-pytorch==2.6.0
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # the import contracts in pyproject.toml

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The tests run in a new random order each time (pytest-randomly): no test may lean on another's
# leftovers. `make test ORDER=<seed>` repeats an order; `make test ORDER=none` runs them in file order.
ORDER := $(shell od -An -N2 -tu2 /dev/urandom | tr -d " ")
test: lint docs browser
	@echo "make test: test order $(ORDER) (repeat it with: make test ORDER=$(ORDER))"
	$(BIN)/pytest -q --durations=10 $(if $(filter none,$(ORDER)),-p no:randomly,-p randomly --randomly-seed=$(ORDER))

# The documentation site (docs/, mkdocs.yml): a broken link or a page left out fails.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Chromium for the web app's browser tests: Debian's package (Playwright's own download needs a
# CDN). Needs root or sudo; without a browser those tests skip and say why.
browser:
	@command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
		|| { $$SUDO apt-get update -q >/dev/null 2>&1 \
		     && $$SUDO apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1; } \
		|| echo "make: no chromium could be installed: the browser tests will skip"; }

$(H5): | $(STAMP)
	$(BIN)/fer-prepare $(DATA) -o $(H5)

# Convert the data (once), run a 2x2 ablation sweep on a subset, print the comparison.
quickstart: install $(H5)
	$(BIN)/python train.py -m experiment=quick model.depth=2,4 model.norm=batch,none \
		data.path=$(H5) hydra.sweep.dir=$(SWEEP)
	$(BIN)/fer-compare $(SWEEP)

# One part of the reference study (conf/study/, docs/study/REPORT.md) on the full data, 8 epochs a
# run, trained block by block: a block is one seed of every configuration of the part (its own
# default included), one run after another. Re-running skips the runs docs/study/$(STUDY) holds.
STUDY ?= optimizer
SEEDS ?= 0 1 2 3 4
study: install $(H5)
	for seed in $(SEEDS); do \
		$(BIN)/python train.py -m study=$(STUDY) seed=$$seed data.path=$(H5) || exit 1; \
	done
	$(BIN)/fer-compare docs/study/$(STUDY)

# The study's report from its committed parts, notes and final model (docs/study/REPORT.md and
# RUNS.md); a test checks that this reproduces the committed files.
REPORT_PARTS ?= $(addprefix archive/,grid optimizer activation pooling augment width kernel family)
report: install
	$(BIN)/fer-report $(addprefix docs/study/,$(REPORT_PARTS)) --notes docs/study/NOTES.md \
		--final docs/study/final -o docs/study/REPORT.md

clean:
	rm -rf outputs multirun .pytest_cache site

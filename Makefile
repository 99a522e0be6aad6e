# `make test` and `make demo` work on a fresh machine: they create .venv, install
# kelcore and every plugin under plugins/ in editable mode (torch pinned by
# constraints.txt), then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGIN_PROJECTS := $(sort $(wildcard plugins/*/pyproject.toml))
STAMP  := $(VENV)/.kelcore-installed
# The set of plugin folders as of the last install: a renamed or added folder reinstalls (its mtime alone would not).
PLUGIN_LIST := $(VENV)/.plugin-projects
$(shell mkdir -p $(VENV) && (echo '$(PLUGIN_PROJECTS)' | cmp -s - $(PLUGIN_LIST) || echo '$(PLUGIN_PROJECTS)' > $(PLUGIN_LIST)))
DEMO_DATA := demo-data
# Test workers (pytest-xdist): one per core; tests of one file stay on one worker so that their
# module-scoped fixtures (trainings, native builds) are made once.
TEST_WORKERS ?= auto
# `make wheels`: a wheel of every distribution of this repository in $(DIST), so that
# `pip install --find-links dist kel-plugin-groove` resolves its kel-* dependencies from there.
DIST ?= dist
# The native rows hostbench judges need an RTNeural checkout: the one beside the repository, when there is one.
RTNEURAL_DIR ?= $(wildcard $(abspath ../shared/vendor/RTNeural))

.PHONY: setup test demo clean wheels

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python $(PLUGIN_LIST) pyproject.toml constraints.txt $(PLUGIN_PROJECTS) hostbench/pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt \
		-e '.[test,bench,tensorboard]' $(foreach p,$(PLUGIN_PROJECTS),-e ./$(dir $(p))) -e ./hostbench
	touch $@

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=20

# demo-data/ is this Makefile's own folder (make clean removes it): --force, so that a folder written by an older
# kelcore (before folders were marked as kelcore's) is written again
demo: setup
	$(BIN)/kelcore data demo groove-midi $(DEMO_DATA)/groove --seed 0 --force
	$(BIN)/kelcore data demo deam $(DEMO_DATA)/deam --seed 0 --force
	$(BIN)/kelcore data demo lakh $(DEMO_DATA)/lakh --seed 0 --force
	$(BIN)/kelcore data demo maestro $(DEMO_DATA)/maestro --seed 0 --force
	$(BIN)/kelcore data demo music21corpus $(DEMO_DATA)/music21corpus --seed 0 --force
	$(BIN)/kelcore run examples/quickstart.toml
	@# hostbench judges what the plugin runs (native RTNeural); without RTNEURAL_DIR it says FAIL and why
	@if [ -n "$(RTNEURAL_DIR)" ]; then RTNEURAL_DIR="$(RTNEURAL_DIR)" $(BIN)/hostbench summary runs; \
	else $(BIN)/hostbench summary runs || echo "hostbench: nothing native measured (set RTNEURAL_DIR to an RTNeural checkout)"; fi
	@# GroovePredictor on real performances, where a full copy of the Groove MIDI release is at hand
	@if [ -n "$$GROOVE_MIDI_DIR" ]; then $(BIN)/python benchmarks/groove_real.py --official; \
	else echo "groove on real performances: set GROOVE_MIDI_DIR to the Groove MIDI release (see docs/DATASETS.md)"; fi

wheels: $(BIN)/python
	rm -rf $(DIST) build plugins/*/build hostbench/build  # a stale build/lib would put deleted modules in a wheel
	$(BIN)/pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w $(DIST) \
		. $(foreach p,$(PLUGIN_PROJECTS),./$(dir $(p))) ./hostbench
	@echo "wheels of every distribution in $(DIST)/: pip install --find-links $(DIST) kel-plugin-groove ..."

clean:
	rm -rf $(VENV) $(DEMO_DATA) runs $(DIST)

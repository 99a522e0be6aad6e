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

.PHONY: setup test demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python $(PLUGIN_LIST) pyproject.toml constraints.txt $(PLUGIN_PROJECTS) hostbench/pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt \
		-e '.[test,bench,tensorboard]' $(foreach p,$(PLUGIN_PROJECTS),-e ./$(dir $(p))) -e ./hostbench
	touch $@

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

demo: setup
	$(BIN)/kelcore data demo groove-midi $(DEMO_DATA)/groove --seed 0
	$(BIN)/kelcore data demo deam $(DEMO_DATA)/deam --seed 0
	$(BIN)/kelcore data demo lakh $(DEMO_DATA)/lakh --seed 0
	$(BIN)/kelcore data demo maestro $(DEMO_DATA)/maestro --seed 0
	$(BIN)/kelcore data demo music21corpus $(DEMO_DATA)/music21corpus --seed 0
	$(BIN)/kelcore run examples/quickstart.toml
	$(BIN)/hostbench summary runs
	@# GroovePredictor on real performances, where a full copy of the Groove MIDI release is at hand
	@if [ -n "$$GROOVE_MIDI_DIR" ]; then $(BIN)/python benchmarks/groove_real.py --official; \
	else echo "groove on real performances: set GROOVE_MIDI_DIR to the Groove MIDI release (see docs/DATASETS.md)"; fi

clean:
	rm -rf $(VENV) $(DEMO_DATA) runs

# The README's two commands. pip, not uv: uv ignores the local CPU build of torch and downloads CUDA.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-fast lint gpu-site

$(BIN)/forge: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,demo]'
	touch $(BIN)/forge

# forge export's k-quants and llama.cpp checks: llama-cpp-python builds llama.cpp from source
# (minutes, once). The tests need it; the demo does not (its Q8_0 GGUF is written in pure Python).
# LLAVA_BUILD=ON (llama-cpp-python's default) adds libmtmd, which a VLM export's image-answer check
# runs (a few minutes more); without it that check is "not checked". pip reuses a wheel it built
# before whatever CMAKE_ARGS say: `pip cache remove llama_cpp_python` to rebuild one made with OFF.
$(VENV)/.export-extra: $(BIN)/forge
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=ON" $(BIN)/pip install -q -e '.[export]'
	touch $@

install: $(BIN)/forge

demo: install
	$(BIN)/forge demo

test: install $(VENV)/.export-extra
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q -m "not gpu" --timeout=900

test-fast: install
	$(BIN)/python -m pytest -q -m "not gpu and not slow and not browser"

lint: install
	$(BIN)/ruff check src tests bench

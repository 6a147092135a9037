# sessionhost — the commands a developer needs. `make run` and `make test` work on a fresh
# machine with nothing else run before them (they install the wasm32-wasip2 target if missing).

CARGO        ?= cargo
GUEST_TARGET := wasm32-wasip2
GUEST_DIR    := target/guests/$(GUEST_TARGET)/guest
GUESTS       := counter counter-lean cart hostile
# Components of the other languages' guests (Python, JavaScript, C, Zig).
LANG_DIR     := target/guests/lang
# Each language appends its name here in guest-sdk/<lang>/lang.mk, which also defines the
# targets setup-<lang> (install its toolchain from the registries, idempotent) and
# guest-<lang> (build its example guests to $(LANG_DIR)/<name>.wasm).
LANGS        :=
include $(sort $(wildcard guest-sdk/*/lang.mk))

.PHONY: setup setup-rust guests rust-guests lang-guests build run smoke quickstart test bench \
	bench-quick soak lint fmt clean setup-fuzz fuzz fuzz-smoke test-api setup-schemathesis

## setup: install every toolchain guests are built with (idempotent).
setup: setup-rust $(foreach l,$(LANGS),setup-$(l))

## setup-rust: the Rust target guests are built for.
setup-rust:
	@rustup target list --installed 2>/dev/null | grep -qx '$(GUEST_TARGET)' \
		|| rustup target add $(GUEST_TARGET)

## guests: build every example and test guest, in every language.
guests: rust-guests lang-guests

## lang-guests: the Python, JavaScript, C and Zig guests, to $(LANG_DIR)/*.wasm.
lang-guests: $(foreach l,$(LANGS),guest-$(l))

## rust-guests: the Rust example and test guests, to $(GUEST_DIR)/*.wasm.
rust-guests: setup-rust
	$(CARGO) build --target $(GUEST_TARGET) --profile guest --target-dir target/guests \
		$(foreach g,$(GUESTS),-p $(g))
	@ls -l $(foreach g,$(GUESTS),$(GUEST_DIR)/$(subst -,_,$(g)).wasm)

## build: build the host library and the sessionhost binary (server/, release).
build: setup-rust
	$(CARGO) build --release -p sessionhost-server

## run: the sessionhost server on 127.0.0.1:8080, counter as the default guest.
run: rust-guests
	$(CARGO) run --release -p sessionhost-server --bin sessionhost -- serve --listen 127.0.0.1:8080 \
		--guest counter=$(GUEST_DIR)/counter.wasm --guest cart=$(GUEST_DIR)/cart.wasm \
		--default-guest counter

## smoke: the README's first screen for real: `make run`, its curl lines, SIGTERM, exit 0
## (tests/smoke/readme.sh; needs port 8080 free). CI runs it on every clean clone.
smoke:
	tests/smoke/readme.sh

## quickstart: counter sessions driven through the library, printing what happens.
quickstart: rust-guests
	$(CARGO) run --release -p sessionhost --example quickstart -- $(GUEST_DIR)/counter.wasm

## test: unit and end-to-end tests (Rust guests are built by tests/build.rs, the other
## languages' guests by lang-guests first).
test: setup lang-guests
	$(CARGO) test --all-targets
	$(CARGO) test --doc
	$(MAKE) fuzz-smoke
	$(MAKE) test-api

# The HTTP API against its own OpenAPI document: schemathesis (pinned, installed from PyPI
# into a venv under target/) drives a real `sessionhost serve` (debug build, counter guest,
# admin token, no creation rate limit) on a free loopback port: every operation, every
# phase (examples, coverage, fuzzing, stateful), its default checks, a fixed seed and a
# bounded number of examples (API_EXAMPLES, 100 by default: about 30 s). See tests/api/run.sh.
SCHEMATHESIS_VERSION := 4.32.5
SCHEMATHESIS_VENV    := target/schemathesis
SCHEMATHESIS_STAMP   := $(SCHEMATHESIS_VENV)/.installed-$(SCHEMATHESIS_VERSION)
HOST_TARGET_DIR      := $(or $(CARGO_TARGET_DIR),target)

## setup-schemathesis: schemathesis $(SCHEMATHESIS_VERSION) in $(SCHEMATHESIS_VENV).
setup-schemathesis: $(SCHEMATHESIS_STAMP)

$(SCHEMATHESIS_STAMP):
	python3 -m venv $(SCHEMATHESIS_VENV)
	$(SCHEMATHESIS_VENV)/bin/pip install --quiet --disable-pip-version-check \
		schemathesis==$(SCHEMATHESIS_VERSION)
	@touch $@

## test-api: schemathesis against the server (part of `make test`; a few minutes).
test-api: setup-rust setup-schemathesis
	$(CARGO) build --target $(GUEST_TARGET) --profile guest --target-dir target/guests -p counter
	$(CARGO) build -p sessionhost-server --bin sessionhost
	tests/api/run.sh $(HOST_TARGET_DIR)/debug/sessionhost $(GUEST_DIR)/counter.wasm \
		$(SCHEMATHESIS_VENV)/bin/st

# Fuzzing (fuzz/, its own workspace; see docs/isolation.md). cargo-fuzz works on the stable
# toolchain with `-s none`: the default sanitizer (`-Zsanitizer=address`) is the only nightly
# flag it passes; the coverage instrumentation (`-Cpasses=sancov-module`, `-Cllvm-args=
# -sanitizer-coverage-*`) and `--cfg fuzzing` are stable, so no RUSTC_BOOTSTRAP is needed
# (checked with rustc 1.95). Without AddressSanitizer libFuzzer still catches panics, aborts,
# timeouts and memory blow-ups; the fuzzed crates forbid `unsafe`. The targets depend only on
# sessionhost-wire and the guest SDK, never wasmtime, so a clean build takes a few minutes.
# Runs need no network: seeds/ is committed, the growing corpus/ and crash artifacts/ are not.
FUZZ_TARGETS       := token ws_frame guest_codec
# Seconds per target: `make fuzz` (FUZZ_SECONDS=3600 make fuzz for an hour each).
FUZZ_SECONDS       ?= 300
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_TARGET_DIR    ?= $(abspath $(or $(CARGO_TARGET_DIR),target))/fuzz
FUZZ_RUN = cd fuzz && for t in $(FUZZ_TARGETS); do mkdir -p corpus/$$t && \
	$(CARGO) fuzz run --release -s none --target-dir $(FUZZ_TARGET_DIR) $$t corpus/$$t seeds/$$t \
	-- -max_total_time=$(1) -timeout=10 -print_final_stats=1 || exit 1; done

## setup-fuzz: cargo-fuzz (installed from crates.io if missing).
setup-fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

## fuzz-smoke: every fuzz target for $(FUZZ_SMOKE_SECONDS) s (part of `make test`).
fuzz-smoke: setup-fuzz
	$(call FUZZ_RUN,$(FUZZ_SMOKE_SECONDS))

## fuzz: every fuzz target for $(FUZZ_SECONDS) s; crashes are kept in fuzz/artifacts/<target>/.
fuzz: setup-fuzz
	$(call FUZZ_RUN,$(FUZZ_SECONDS))

## bench: the full benchmark report (about 10 minutes).
bench: setup lang-guests
	$(CARGO) run --release -p sessionhost-bench --bin report

## bench-quick: the same report with small counts (about 1 minute).
bench-quick: setup lang-guests
	$(CARGO) run --release -p sessionhost-bench --bin report -- --quick

## soak: the load and soak harness against a server on loopback (5 minutes, 5 000
## sessions, 64 clients by default; e.g. SOAK_ARGS="--duration 30m --sessions 20000").
## Prints a summary and fails unless nothing was lost. A 12 s version runs in `make test`.
SOAK_ARGS ?=
soak: setup-rust
	$(CARGO) run --release -p sessionhost-bench --bin soak -- $(SOAK_ARGS)

## lint: formatting, clippy (warnings as errors, host and guests), the library's layer rule
## (scripts/check_layers.py: imports point down, see host/src/lib.rs), and the library
## without its `http` feature (no axum, hyper or tower), so the feature split cannot decay.
lint: setup-rust
	python3 scripts/check_layers.py
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p sessionhost --no-default-features --all-targets -- -D warnings
	@if $(CARGO) tree -p sessionhost --no-default-features -e normal | grep -E 'axum|hyper|tower'; then \
		echo "lint: sessionhost without its http feature depends on the crates above" >&2; \
		exit 1; \
	fi
	$(CARGO) clippy --target $(GUEST_TARGET) --target-dir target/guests \
		-p sessionhost-guest $(foreach g,$(GUESTS),-p $(g)) -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean

# Zig guests: guest-sdk/zig/sessionhost.zig over the C SDK, compiled by Zig from PyPI.
#
# setup-zig installs the pinned `ziglang` package into a venv under target/toolchains/zig.
# guest-zig compiles example-guests/counter-zig and the SDK's test guest (guest-sdk/zig/tests) with the Zig module and the C SDK sources
# (Zig's own clang and wasi-libc; the bindings come from guest-sdk/c/lang.mk, included before
# this file) into a wasm32-wasi reactor core module with the same dense memory layout as the
# C guests, then componentizes it with the same tool, when an input changed.

LANGS += zig

ZIG_VERSION  := 0.15.2
ZIG_VENV     := target/toolchains/zig
ZIG          := $(ZIG_VENV)/bin/python -m ziglang
ZIG_SDK      := guest-sdk/zig
ZIG_FLAGS    := -target wasm32-wasi -O ReleaseSmall -fno-entry -mexec-model=reactor -lc \
	--stack $(GUEST_STACK_BYTES) --initial-memory=$(GUEST_MEMORY_BYTES) \
	--max-memory=$(GUEST_MEMORY_BYTES) \
	--cache-dir $(ZIG_VENV)/cache --global-cache-dir $(ZIG_VENV)/global-cache

.PHONY: setup-zig guest-zig

## setup-zig: Zig $(ZIG_VERSION) from PyPI in a venv under $(ZIG_VENV) (idempotent).
setup-zig:
	@$(ZIG) version 2>/dev/null | grep -qx '$(ZIG_VERSION)' || { \
		python3 -m venv $(ZIG_VENV) 2>/dev/null \
			|| { apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv $(ZIG_VENV); }; \
		$(ZIG_VENV)/bin/pip install --quiet ziglang==$(ZIG_VERSION); }

## guest-zig: the Zig counter and the Zig test guest, to $(LANG_DIR)/{counter,imports}-zig.wasm.
guest-zig: $(LANG_DIR)/counter-zig.wasm $(LANG_DIR)/imports-zig.wasm

# A Zig guest: $(1) its name, $(2) its root source file.
define zig_guest
$(LANG_DIR)/$(1).wasm: $(2) $(ZIG_SDK)/sessionhost.zig $(C_SDK_DEPS) $(GUEST_TOOLS_DEPS) | setup-zig
	@mkdir -p $(LANG_DIR)/obj
	$(ZIG) build-exe $(ZIG_FLAGS) \
		-cflags -std=c11 -Wall -Wextra -Werror -- -I $(C_SDK) -I $(C_BINDINGS) $(C_SDK_SRCS) \
		--dep sessionhost -Mroot=$(2) -Msessionhost=$(ZIG_SDK)/sessionhost.zig \
		--name $(1).core -femit-bin=$(LANG_DIR)/obj/$(1).core.wasm
	$(GUEST_TOOLS) componentize $(LANG_DIR)/obj/$(1).core.wasm -o $$@
	@ls -l $$@
endef
$(eval $(call zig_guest,counter-zig,example-guests/counter-zig/counter.zig))
$(eval $(call zig_guest,imports-zig,guest-sdk/zig/tests/imports.zig))

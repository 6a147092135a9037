# C guests: the SDK in guest-sdk/c over the `wit-bindgen c` bindings of wit/session.wit.
#
# setup-c installs Debian's clang, lld, wasi-libc and the wasm32 compiler-rt when one is
# missing. guest-c generates the bindings into $(C_BINDINGS) (never committed), compiles
# example-guests/counter-c with the SDK into a wasm32-wasi reactor core module linked for the
# host's dense layout (16 KiB stack, exactly 256 KiB of memory that never grows; DWARF from
# Debian's libc.a stripped, function names kept for trap backtraces), and turns it
# into a component with sessionhost-guest-tools (guest-sdk/tools), when an input changed.
# The Zig fragment (guest-sdk/zig/lang.mk, included after this one) reuses the bindings, the
# C SDK sources and the tools defined here.

LANGS += c

C_SDK        := guest-sdk/c
C_BINDINGS   := $(LANG_DIR)/c-bindings
C_BINDINGS_STAMP := $(C_BINDINGS)/.generated
# The build helper, run through cargo so that it is rebuilt when its sources change.
GUEST_TOOLS  := $(CARGO) run --quiet -p sessionhost-guest-tools --
GUEST_TOOLS_DEPS := wit/session.wit guest-sdk/tools/Cargo.toml $(wildcard guest-sdk/tools/src/*.rs)
# The host's dense pool slot: a guest's linear memory is exactly this and never grows
# (the same numbers as example-guests/counter/build.rs).
GUEST_MEMORY_BYTES := 262144
GUEST_STACK_BYTES  := 16384
C_SDK_SRCS   := $(C_SDK)/sessionhost.c $(C_SDK)/sh_json.c $(C_BINDINGS)/session_guest.c
C_SDK_DEPS   := $(C_SDK_SRCS) $(C_SDK)/sessionhost.h $(C_BINDINGS_STAMP)
C_CFLAGS     := --target=wasm32-wasi -Os -std=c11 -Wall -Wextra -Werror -mexec-model=reactor \
	-I $(C_SDK) -I $(C_BINDINGS)
C_LDFLAGS    := -Wl,-z,stack-size=$(GUEST_STACK_BYTES) -Wl,--initial-memory=$(GUEST_MEMORY_BYTES) \
	-Wl,--max-memory=$(GUEST_MEMORY_BYTES) -Wl,--strip-debug

.PHONY: setup-c guest-c

## setup-c: clang, lld, wasi-libc and compiler-rt for wasm32 from Debian (idempotent).
setup-c:
	@command -v clang >/dev/null && command -v wasm-ld >/dev/null \
		&& test -f /usr/lib/wasm32-wasi/libc.a \
		&& ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 \
		|| { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			clang lld wasi-libc libclang-rt-dev-wasm32; }

## guest-c: the C counter, to $(LANG_DIR)/counter-c.wasm.
guest-c: $(LANG_DIR)/counter-c.wasm

$(C_BINDINGS_STAMP): $(GUEST_TOOLS_DEPS)
	$(GUEST_TOOLS) bindgen-c $(C_BINDINGS)
	@touch $@

$(C_BINDINGS)/session_guest.c: $(C_BINDINGS_STAMP)

$(LANG_DIR)/counter-c.wasm: $(wildcard example-guests/counter-c/*.c) $(C_SDK_DEPS) \
		$(GUEST_TOOLS_DEPS) | setup-c
	@mkdir -p $(LANG_DIR)/obj
	clang $(C_CFLAGS) $(C_LDFLAGS) -o $(LANG_DIR)/obj/counter-c.core.wasm \
		$(wildcard example-guests/counter-c/*.c) $(C_SDK_SRCS)
	$(GUEST_TOOLS) componentize $(LANG_DIR)/obj/counter-c.core.wasm -o $@
	@ls -l $@

# Hostile test guests written by hand in WebAssembly text (tests/wat/*.wat): only the
# tools are needed, not clang. Built with the C guests since they share the tools.
WAT_GUESTS := $(patsubst tests/wat/%.wat,$(LANG_DIR)/%.wasm,$(wildcard tests/wat/*.wat))
guest-c: $(WAT_GUESTS)

$(LANG_DIR)/%.wasm: tests/wat/%.wat $(GUEST_TOOLS_DEPS)
	@mkdir -p $(LANG_DIR)
	$(GUEST_TOOLS) componentize $< -o $@

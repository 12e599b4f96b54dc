# Makefile - a thin layer over scripts/install-deps.sh, meson and ninja.
#
#   make demo    install, build, run mxgate on a virtual NIC (Ctrl-C stops;
#                DEMO_SECONDS=N stops after N seconds)
#   make test    install, build (normal + ASan/UBSan), run the tests
#   make build   build only (build/mxgate, build/mxgatectl, build/mxbench)

BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_TEST_ARGS ?=

.PHONY: all deps build build-asan demo test test-unit clean format

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

demo: build
	scripts/demo.sh

# All suites on the normal build (unit + integration, which needs root);
# the unit suite again under AddressSanitizer + UndefinedBehaviorSanitizer;
# a short run of every fuzz target (FUZZ_SECONDS each).
FUZZ_SECONDS ?= 30
test: build build-asan
	meson test -C $(BUILD) --print-errorlogs $(MESON_TEST_ARGS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --suite unit --print-errorlogs $(MESON_TEST_ARGS)
	scripts/fuzz.sh $(FUZZ_SECONDS)

test-unit: build
	meson test -C $(BUILD) --suite unit --print-errorlogs

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz

# Thin targets over Meson, so that a newcomer types what they expect.
#   make         build (gcc) into build/
#   make check   install deps if missing, then every suite: gcc build + all tests, unit and fuzz
#                replay under ASan+UBSan, clang build, fuzz smoke runs, lint; ends with
#                "N passed, N failed"
#   make demo    install deps, build, import a busybox base, build examples/hello and run it
.PHONY: all build check demo deps clean format lint

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@[ -f build/build.ninja ] || meson setup build
	@ninja -C build

check: deps
	@tools/check.sh

demo: build
	@tools/demo.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	@tools/lint.sh

clean:
	rm -rf build build-asan build-clang build-fuzz

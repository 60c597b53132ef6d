# Mesh Relay: the front door. Two commands matter (README): `make run` and `make test`.
#
#   make            release build into build/ (build/relay-server); TESTS=ON adds the tests
#   make run        install missing Debian packages, build, start the relay (ARGS="..." to pass flags)
#   make test       everything: format + source checks, release and ASan+UBSan builds, all tests
#                   (all that runs on plain Debian 12, js-libp2p on Debian's Node.js included)
#   make interop    interop peers that need toolchains newer than Debian 12's (Go, Rust)
#   make asan       ASan+UBSan build into build-asan/
#   make fuzz       libFuzzer targets with clang into build-fuzz/ (FUZZ_SECONDS per target)
#   make bench      benchmarks (bench/RESULTS.md)
#   make format     reformat the sources with clang-format
#   make install    install the relay, its systemd unit, man page and a default config
#                   (PREFIX=/usr/local, SYSCONFDIR=/etc, DESTDIR= for staging)
#   make image      the container image from Containerfile (IMAGE=mesh-relay:latest; podman,
#                   else docker; IMAGE_FLAGS= adds build flags)

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
WERROR ?= OFF
ARGS ?=
# TESTS=ON|OFF: build the tests into build/ too (needs Criterion). Unset: build/ keeps what it
# was configured with (OFF when new), so `make run` never needs a test-only package.
TESTS ?=
FUZZ_SECONDS ?= 30
CMAKE_FLAGS ?=
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
IMAGE ?= mesh-relay:latest
IMAGE_FLAGS ?=
CONTAINER_ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)

.PHONY: all build run test interop asan fuzz bench format check-format checksrc deps-build deps-test \
	clean install image

all: build

deps-build:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

build: $(if $(filter ON,$(TESTS)),deps-test,deps-build)
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRLY_WERROR=$(WERROR) \
	  $(if $(TESTS),-DRLY_TESTS=$(TESTS)) $(CMAKE_FLAGS) >/dev/null
	cmake --build build -j $(JOBS)

run: build
	./build/relay-server $(ARGS)

asan: deps-test
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRLY_SANITIZE=ON -DRLY_TESTS=ON \
	  -DRLY_WERROR=$(WERROR) $(CMAKE_FLAGS) >/dev/null
	cmake --build build-asan -j $(JOBS)

check-format: deps-test
	@scripts/format.sh --check

checksrc:
	@scripts/checksrc.sh

format:
	@scripts/format.sh

# make test: what CI runs first (.ci/run). Warnings are errors here.
test: deps-test check-format checksrc
	$(MAKE) --no-print-directory build WERROR=ON TESTS=ON
	cmake --build build -j $(JOBS) --target benchmarks
	cd build && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory asan WERROR=ON
	cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)
	@echo "make test: all suites passed (release + asan)"

# make interop: what CI runs second (.ci/run): each peer suite in tests/interop/peers/ against
# the release build (scripts/interop.sh), built as make test builds it (so no rebuild after it).
interop:
	$(MAKE) --no-print-directory build WERROR=ON
	@scripts/interop.sh build

fuzz: deps-test
	@scripts/deps.sh fuzz
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DRLY_FUZZ=ON -DRLY_TESTS=OFF $(CMAKE_FLAGS) >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

bench: build
	@scripts/bench.sh

# scripts/install.sh: the binary, the systemd unit, the man page, and a default config only
# when none is there (an operator's file is never replaced).
install: build
	PREFIX=$(PREFIX) SYSCONFDIR=$(SYSCONFDIR) DESTDIR=$(DESTDIR) scripts/install.sh build

# make image: podman needs --format docker to keep the HEALTHCHECK (OCI images have none).
image:
	$(CONTAINER_ENGINE) build $(if $(filter podman,$(notdir $(CONTAINER_ENGINE))),--format docker) \
	  -f Containerfile -t $(IMAGE) $(IMAGE_FLAGS) .

clean:
	rm -rf build build-asan build-fuzz

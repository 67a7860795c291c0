# StemeDB's front door. Every target installs what it needs first (make deps is a no-op when
# everything is present), so `make run` and `make test` work on a fresh Debian 12 machine as root.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
BUILD_TYPE ?= RelWithDebInfo
DATA_DIR ?= ./data
# CI builds treat warnings as errors.
ifdef CI
WERROR := ON
else
WERROR ?= OFF
endif
CMAKE_FLAGS ?=

CYCLES ?= 1000

.PHONY: deps configure build run test crashloop bench quality format format-check tidy clean

deps:
	@./scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSTEMEDB_WERROR=$(WERROR) $(CMAKE_FLAGS) > $(BUILD_DIR).configure.log 2>&1 \
	  || { cat $(BUILD_DIR).configure.log; exit 1; }

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The demo: creates a database in $(DATA_DIR), signs conflicting claims from several agents,
# stores them durably and prints them back.
run: build
	@./scripts/demo.sh $(BUILD_DIR)/stemedb $(DATA_DIR)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

# The WAL crash test with many kill cycles (make test runs 25).
crashloop: build
	@STEMEDB_CRASH_CYCLES=$(CYCLES) $(BUILD_DIR)/tests/wal_crash_test

# Benchmarks: medians of 3 repetitions. Figures and how to read them: docs/performance.md.
bench: build
	@$(BUILD_DIR)/bench/wal_bench --benchmark_min_time=1 --benchmark_repetitions=3 \
	  --benchmark_report_aggregates_only=true

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

format-check:
	@git ls-files '*.h' '*.cc' | xargs clang-format --dry-run --Werror

tidy: configure
	@git ls-files 'src/*.cc' | xargs clang-tidy -p $(BUILD_DIR) --quiet

quality: format-check tidy test

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log

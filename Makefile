# StemeDB's front door. Every target installs what it needs first (make deps is a no-op when
# everything is present), so `make run` and `make test` work on a fresh Debian 12 machine as root.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
BUILD_TYPE ?= RelWithDebInfo
DATA_DIR ?= ./data
PORT ?= 7878
# CI builds treat warnings as errors.
ifdef CI
WERROR := ON
else
WERROR ?= OFF
endif
CMAKE_FLAGS ?=
# Every build tree is generated for Ninja: it compiles a target's sources while the libraries the
# target links are still being built, where Make builds one library after another and leaves a core
# idle (the ThreadSanitizer build: 208 s with Make, 136 s with Ninja). A tree configured earlier
# for another generator has its cache cleared first, since CMake refuses to switch in place.
GENERATOR := Ninja
reset_generator = if [ -f $(1)/CMakeCache.txt ] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=$(GENERATOR)' $(1)/CMakeCache.txt; \
  then rm -rf $(1)/CMakeCache.txt $(1)/CMakeFiles; fi
# The sanitizer trees are built with clang: at -O0 it compiles them in about half gcc's time.
CLANG := -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
# The optimised sanitizer trees (TSan, fuzz) carry line tables only: their reports need file and
# line, not variables, and full debug info at -O2 costs about a quarter of the compile time.
LINE_TABLES := -DCMAKE_C_FLAGS_RELWITHDEBINFO='-O2 -g1 -DNDEBUG' -DCMAKE_CXX_FLAGS_RELWITHDEBINFO='-O2 -g1 -DNDEBUG'

CYCLES ?= 1000
DB_CYCLES ?= 1000
HTTP_CYCLES ?= 1000
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
LOAD_SECONDS ?= 60
LOAD_CONNECTIONS ?= 64

.PHONY: deps configure build run test sanitize sanitize-address sanitize-thread crashloop fuzz loadtest bench microbench quality format format-check tidy clean

deps:
	@./scripts/install-deps.sh

configure: deps
	@$(call reset_generator,$(BUILD_DIR))
	@cmake -G $(GENERATOR) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DSTEMEDB_WERROR=$(WERROR) $(CMAKE_FLAGS) > $(BUILD_DIR).configure.log 2>&1 \
	  || { cat $(BUILD_DIR).configure.log; exit 1; }

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# The demo: creates a database in $(DATA_DIR), signs conflicting claims from several agents,
# stores them durably, prints them back, then serves them over HTTP on $(PORT) until Ctrl-C.
run: build
	@./scripts/demo.sh $(BUILD_DIR)/stemedb $(DATA_DIR) $(PORT)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

# The suite under AddressSanitizer + UndefinedBehaviorSanitizer, then the concurrent tests (WAL
# group commit, ingestor, database, HTTP API, crash loops) under ThreadSanitizer. Any finding fails.
TSAN_TARGETS := wal_test wal_crash_test wal_crash_child db_test db_crash_test db_crash_child server_test
TSAN_TESTS := '^(Wal|WalFaults|WalCrash|Database|DatabaseVerify|ApiTest)\.'
sanitize: sanitize-address sanitize-thread

sanitize-address: deps
	@$(call reset_generator,build-asan)
	@cmake -G $(GENERATOR) -S . -B build-asan $(CLANG) -DCMAKE_BUILD_TYPE=Debug -DSTEMEDB_SANITIZE=address,undefined \
	  -DSTEMEDB_BUILD_BENCH=OFF -DSTEMEDB_WERROR=$(WERROR) > build-asan.configure.log 2>&1 || { cat build-asan.configure.log; exit 1; }
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ctest --output-on-failure -j $(JOBS) --timeout 900

sanitize-thread: deps
	@$(call reset_generator,build-tsan)
	@cmake -G $(GENERATOR) -S . -B build-tsan $(CLANG) $(LINE_TABLES) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTEMEDB_SANITIZE=thread \
	  -DSTEMEDB_BUILD_BENCH=OFF -DSTEMEDB_WERROR=$(WERROR) > build-tsan.configure.log 2>&1 || { cat build-tsan.configure.log; exit 1; }
	@cmake --build build-tsan -j $(JOBS) --target $(TSAN_TARGETS)
	@cd build-tsan && ctest --output-on-failure -j $(JOBS) --timeout 900 -R $(TSAN_TESTS)

# The kill -9 crash tests with many cycles (make test runs 25, 12 and 3): the WAL, the Database
# API, and the HTTP server.
crashloop: build
	@STEMEDB_CRASH_CYCLES=$(CYCLES) $(BUILD_DIR)/tests/wal_crash_test
	@STEMEDB_CRASH_CYCLES=$(DB_CYCLES) $(BUILD_DIR)/tests/db_crash_test
	@STEMEDB_HTTP_CRASH_CYCLES=$(HTTP_CYCLES) $(BUILD_DIR)/tests/serve_test --gtest_filter='Serve.SigkillLosesNoAcknowledgedWrite'

# The server under $(LOAD_CONNECTIONS) concurrent writers and readers for $(LOAD_SECONDS) s: throughput,
# latency, memory over time, and every acknowledged write checked after a restart.
loadtest: build
	@$(BUILD_DIR)/bench/http_load $(BUILD_DIR)/stemedb $(LOAD_SECONDS) $(LOAD_CONNECTIONS)

# libFuzzer over every parser and the HTTP handlers, $(FUZZ_SECONDS) s each (clang, ASan, UBSan);
# FUZZ_RUNS=N instead runs N inputs per target from a fixed seed (repeatable; what CI does).
fuzz: deps
	@$(call reset_generator,build-fuzz)
	@cmake -G $(GENERATOR) -S . -B build-fuzz $(CLANG) $(LINE_TABLES) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DSTEMEDB_FUZZ=ON -DSTEMEDB_SANITIZE=address,undefined -DSTEMEDB_BUILD_TESTS=OFF -DSTEMEDB_BUILD_BENCH=OFF \
	  > build-fuzz.configure.log 2>&1 || { cat build-fuzz.configure.log; exit 1; }
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_record_decode fuzz_json_envelope fuzz_rdf_import fuzz_wal_segment fuzz_http_api
	@./scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_RUNS)

# The macro benchmark: StemeDB against SQLite and PostgreSQL on one generated workload, beside
# this machine's limits (BENCH_COUNT assertions, medians of BENCH_REPS runs). Figures and how to
# read them: docs/performance.md. microbench: the Google Benchmark micro-benchmarks.
BENCH_COUNT ?= 100000
BENCH_REPS ?= 3
BENCH_CRASH_MIB ?= 1024
bench: build
	@$(BUILD_DIR)/bench/compare --count $(BENCH_COUNT) --reps $(BENCH_REPS) --crash-wal-mib $(BENCH_CRASH_MIB)

microbench: build
	@for b in model_bench wal_bench lens_bench; do \
	  $(BUILD_DIR)/bench/$$b --benchmark_min_time=1 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true; \
	done

format:
	@git ls-files '*.h' '*.cc' | xargs clang-format -i

format-check:
	@git ls-files '*.h' '*.cc' | xargs clang-format --dry-run --Werror

tidy: configure
	@git ls-files 'src/*.cc' | xargs clang-tidy -p $(BUILD_DIR) --quiet

quality: format-check tidy test

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR).configure.log build-asan build-tsan build-fuzz build-asan.configure.log \
	  build-tsan.configure.log build-fuzz.configure.log

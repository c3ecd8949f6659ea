# sluice — build, test, benchmark.
#
#   make            build build/sluice (and the test tools)
#   make check      lint, install-check, unit tests (plain, then ASan+UBSan), tsan,
#                   fuzz-ci and the integration tests against a real PostgreSQL 15
#                   and a real Kafka broker
#   make unit       unit tests only
#   make it         integration tests only
#   make tsan       unit suites and one integration test under ThreadSanitizer
#   make fuzz       every fuzz target for FUZZ_TIME seconds (libFuzzer, clang)
#   make install    PREFIX=/usr/local DESTDIR= (make uninstall undoes it)
#   make format     apply .clang-format (make format-check lists what differs)
#   make check-newest  a core subset on the newest pair (PostgreSQL 18, Kafka 4.x); part of check
#   make matrix     the core tests on PostgreSQL 14-18 x Kafka 3.9.1, 4.x (long; not in CI)
#   make failover   primary killed, standby promoted, exactly once (PostgreSQL 17, 18; not in CI)
#   make snapshot-crash  kill -9 x 20 during an incremental snapshot of 1 M rows (long; not in CI)
#   make bench      benchmarks (not part of the tests)
#   make interop    real consumers (Debezium's JDBC sink, Flink, a Python Protobuf reader) fed by sluice
#   make RDKAFKA=2.12 [target]  the same against the pinned librdkafka 2.12.x, in
#                   build-rdkafka212/ (tests/env/install.sh --rdkafka 2.12 builds it)
#
# CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS add to the project's flags (make CFLAGS=-O0);
# WERROR= builds without -Werror.

PKGS      := libpq rdkafka jansson libprotobuf-c libmicrohttpd
CC        ?= cc
WERROR    ?= -Werror
BUILD     := build
PKG_CONFIG := pkg-config
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS))

# RDKAFKA=2.12: build against the pinned librdkafka (tests/env/versions.sh) that
# tests/env/rdkafka.sh installs into a private prefix in the cache, instead of the
# system's (Debian's 2.0.2). Everything goes to build-rdkafka<version>/ (the default
# build/ is left alone) and links with an rpath to that prefix, so the binaries run
# with it without LD_LIBRARY_PATH. `make RDKAFKA=2.12 deps` builds the library.
RDKAFKA   ?=
ifneq ($(RDKAFKA),)
RDKAFKA_PREFIX := $(shell tests/env/rdkafka.sh --prefix $(RDKAFKA))
ifeq ($(RDKAFKA_PREFIX),)
$(error RDKAFKA=$(RDKAFKA) is not a pinned librdkafka (tests/env/versions.sh))
endif
ifeq ($(wildcard $(RDKAFKA_PREFIX)/.complete),)
ifneq ($(MAKECMDGOALS),deps)
$(error librdkafka $(RDKAFKA) is not built in $(RDKAFKA_PREFIX): run tests/env/install.sh --rdkafka $(RDKAFKA) (or make RDKAFKA=$(RDKAFKA) deps))
endif
endif
BUILD     := build-rdkafka$(subst .,,$(RDKAFKA))
PKG_CONFIG := PKG_CONFIG_PATH=$(RDKAFKA_PREFIX)/lib/pkgconfig$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH)) pkg-config
RDKAFKA_RPATH := -Wl,-rpath,$(RDKAFKA_PREFIX)/lib
# Its headers as system headers (as Debian's are): 2.12's rdkafka.h declares a
# `const int` return, which -Wextra (-Wignored-qualifiers) and -Werror refuse.
PKG_CFLAGS = $(patsubst -I$(RDKAFKA_PREFIX)/include,-isystem$(RDKAFKA_PREFIX)/include,$(shell $(PKG_CONFIG) --cflags $(PKGS)))
# make RDKAFKA=2.12 it / faults / bench: the harness runs that build's sluice (tests/it/lib.sh).
export SLUICE_RDKAFKA := $(RDKAFKA)
endif

# CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS belong to whoever runs make (make CFLAGS=-O0,
# a packager's hardening flags): the project's own flags are added to them with
# override, so a value given on the command line adds to them instead of dropping
# the include path. Builds with their own optimisation and sanitizers (fuzz, tsan)
# use SLUICE_CFLAGS and SLUICE_LDLIBS alone.
CFLAGS    ?= -O2 -g
SLUICE_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
             -Wno-missing-field-initializers $(WERROR) -pthread -Iinclude -I$(BUILD)/gen \
             $(PKG_CFLAGS)
SLUICE_LDLIBS := $(shell $(PKG_CONFIG) --libs $(PKGS)) $(RDKAFKA_RPATH) -pthread
# (filter-out: a CFLAGS from the environment reaches `$(MAKE) unit` already extended.)
override CFLAGS := $(filter-out $(CPPFLAGS) $(SLUICE_CFLAGS),$(CFLAGS)) $(CPPFLAGS) $(SLUICE_CFLAGS)
# Every link line ends in $(LDLIBS): LDFLAGS go first in it so that all of them honour it.
override LDLIBS := $(LDFLAGS) $(filter-out $(LDFLAGS) $(SLUICE_LDLIBS),$(LDLIBS)) $(SLUICE_LDLIBS)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

LIB_SRC   := $(sort $(wildcard src/*/*.c))
MAIN_SRC  := src/main.c
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
TOOL_SRC  := $(wildcard tests/tools/*.c)

# Protobuf output: C code generated from sluice.proto by protoc-c into build/gen/ (never committed).
PROTO     := src/encode/sluice.proto
PB_C      := $(BUILD)/gen/sluice.pb-c.c
PB_H      := $(BUILD)/gen/sluice.pb-c.h

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/$(PB_C:.c=.o)
SAN_OBJ   := $(LIB_SRC:%.c=$(BUILD)/san/%.o) $(BUILD)/san/$(PB_C:.c=.o)
DEPS      := $(LIB_OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(BUILD)/obj/src/main.d

SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: lint soak mutants all deps check unit unit-plain unit-san unit-mutants it faults fuzz fuzz-ci bench bench-snapshot demo clean tools format install uninstall install-check tsan tsan-unit format-check FORCE standby-test security matrix check-newest failover interop snapshot-crash

all: $(BUILD)/sluice tools

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: src/encode/%.proto
	@mkdir -p $(dir $@)
	protoc-c --c_out=$(BUILD)/gen --proto_path=src/encode $<

$(BUILD)/obj/src/encode/protobuf.o $(BUILD)/san/src/encode/protobuf.o: $(PB_H)

$(BUILD)/libsluice.a: $(LIB_OBJ)
	ar rcs $@ $^

$(BUILD)/libsluice-san.a: $(SAN_OBJ)
	ar rcs $@ $^

$(BUILD)/sluice: $(BUILD)/obj/src/main.o $(BUILD)/libsluice.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# Test tools: verifier, workload driver (C, against the real services).
tools: $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
$(BUILD)/tools/%: tests/tools/%.c $(wildcard tests/tools/*.h) $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libsluice.a $(LDLIBS)

# Unit tests: one Check binary per suite, built twice (plain and sanitized).
$(BUILD)/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h tests/tools/*.h) $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libsluice.a $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/unit-san/%: tests/unit/%.c $(wildcard tests/unit/*.h tests/tools/*.h) $(BUILD)/libsluice-san.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) -Itests/unit -o $@ $< $(BUILD)/libsluice-san.a $(LDLIBS) $(CHECK_LIBS)

UNIT_BINS     := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)
UNIT_SAN_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit-san/%)

unit-plain: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-10} CK_FORK=yes $$t; done

unit-san: $(UNIT_SAN_BINS)
	@set -e; for t in $(UNIT_SAN_BINS); do echo "== $$t (ASan+UBSan)"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-10} CK_FORK=no $$t; done

# Check gives each test 4 s; the ASan builds of the byte-by-byte differential tests can
# take longer on a loaded 2-core machine, so the limit is ten times that unless set.
unit: unit-plain unit-san

# The protocol tests against deliberately broken pipelines: each build must fail the
# test that names the rule it breaks (tests/unit/test_pipeline.c), or that test cannot fail.
UNIT_MUTANTS := NO_SKIP:test_skips_txns_kafka_already_holds \
                SPLIT_TXN:test_never_splits_a_source_txn \
                CHECKPOINT_AFTER_COMMIT:test_checkpoint_is_last_record_before_commit \
                CONFIRM_BEFORE_COMMIT:test_confirms_only_what_kafka_committed \
                FATAL_AS_ABORT:test_sink_status_maps_to_result
$(BUILD)/unit-mutants/test_pipeline-%: tests/unit/test_pipeline.c src/core/pipeline.c src/core/pipeline_events.c \
        $(wildcard tests/unit/*.h include/sluice/*/*.h) $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSLUICE_MUTANT_$* -Itests/unit -o $@ $< src/core/pipeline.c src/core/pipeline_events.c \
	    $(BUILD)/libsluice.a $(LDLIBS) $(CHECK_LIBS)
unit-mutants: $(foreach m,$(UNIT_MUTANTS),$(BUILD)/unit-mutants/test_pipeline-$(firstword $(subst :, ,$(m))))
	@set -e; for m in $(UNIT_MUTANTS); do name=$${m%%:*}; test=$${m#*:}; \
	  out=$(BUILD)/unit-mutants/$$name.out; \
	  if CK_FORK=yes $(BUILD)/unit-mutants/test_pipeline-$$name >$$out 2>&1 || \
	     ! grep -q ":F:[^:]*:$$test:" $$out; then \
	    cat $$out; echo "unit-mutants: the $$name build does not fail $$test"; exit 1; fi; \
	  echo "unit-mutants: the $$name build fails $$test"; done

# make install [PREFIX=/usr/local] [DESTDIR=]: the binary, the systemd unit (its paths
# rewritten for BINDIR and SYSCONFDIR), sql/setup.sql and sluice.proto in share/sluice/,
# and the example configuration as documentation in share/doc/sluice/. Nothing goes
# into SYSCONFDIR: the operator writes /etc/sluice/sluice.conf (mode 0600, it may hold
# secrets) from the example, which names docker-compose hosts and is no working config.
# make uninstall removes the same files. tests/lint/install.sh checks the layout.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
DOCDIR     ?= $(DATADIR)/doc/sluice
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
INSTALL    ?= install

$(BUILD)/sluice.service: dist/sluice.service FORCE
	@mkdir -p $(dir $@)
	sed -e 's|/usr/local/bin/sluice|$(BINDIR)/sluice|g' -e 's|/usr/local/share/doc/sluice/|$(DOCDIR)/|g' \
	    -e 's|/usr/local/share/|$(DATADIR)/|g' -e 's|/etc/sluice/|$(SYSCONFDIR)/sluice/|g' \
	    dist/sluice.service > $@

install: $(BUILD)/sluice $(BUILD)/sluice.service
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DATADIR)/sluice $(DESTDIR)$(DOCDIR)
	$(INSTALL) -m 0755 $(BUILD)/sluice $(DESTDIR)$(BINDIR)/sluice
	$(INSTALL) -m 0644 $(BUILD)/sluice.service $(DESTDIR)$(UNITDIR)/sluice.service
	$(INSTALL) -m 0644 sql/setup.sql $(DESTDIR)$(DATADIR)/sluice/setup.sql
	$(INSTALL) -m 0644 src/encode/sluice.proto $(DESTDIR)$(DATADIR)/sluice/sluice.proto
	$(INSTALL) -m 0644 docker/sluice.conf.example $(DESTDIR)$(DOCDIR)/sluice.conf.example

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sluice $(DESTDIR)$(UNITDIR)/sluice.service \
	    $(DESTDIR)$(DATADIR)/sluice/setup.sql $(DESTDIR)$(DATADIR)/sluice/sluice.proto \
	    $(DESTDIR)$(DOCDIR)/sluice.conf.example
	rmdir --ignore-fail-on-non-empty $(DESTDIR)$(DATADIR)/sluice $(DESTDIR)$(DOCDIR) 2>/dev/null || true

# Installs into a temporary DESTDIR with PREFIX=/usr, checks the layout, runs the
# installed binary, uninstalls.
install-check: $(BUILD)/sluice
	tests/lint/install.sh

FORCE:

# ThreadSanitizer: the library, every unit suite and the daemon built with
# -fsanitize=thread. `make tsan` runs the unit suites (test_queue's reader/consumer
# hand-off among them), then one integration test, TSAN_IT, with the daemon under
# TSan (tests/it finds it through SLUICE_BIN). Any report fails the run; the only
# ones let through are in tests/tsan/suppressions.txt, each with its reason.
# tests/tsan/c11threads.c routes librdkafka's C11 threads and locks through the
# pthread functions TSan intercepts (see there why).
TSANFLAGS    := -g -O1 -fsanitize=thread -fno-omit-frame-pointer
TSAN_OBJ     := $(LIB_SRC:%.c=$(BUILD)/tsan/obj/%.o) $(BUILD)/tsan/obj/$(PB_C:.c=.o)
TSAN_SHIM    := $(BUILD)/tsan/obj/tests/tsan/c11threads.o
# test_sink_mock is left out: it drives librdkafka's mock cluster (a broker simulated
# inside librdkafka, test-only), whose teardown TSan reports as a race between two
# librdkafka threads (pthread_rwlock_destroy against a read lock, no frame of sluice's
# in either access). The daemon under TSan (TSAN_IT) covers the real producer.
TSAN_UNIT_SRC := $(filter-out tests/unit/test_sink_mock.c,$(UNIT_SRC))
TSAN_BINS    := $(TSAN_UNIT_SRC:tests/unit/%.c=$(BUILD)/tsan/unit/%)
TSAN_IT      ?= test_workload_exactly_once
TSAN_IT_TXNS ?= 2000
TSAN_OPTS    := halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan/suppressions.txt
DEPS         += $(TSAN_OBJ:.o=.d) $(BUILD)/tsan/obj/src/main.d

$(BUILD)/tsan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(SLUICE_CFLAGS) $(TSANFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/tsan/obj/src/encode/protobuf.o: $(PB_H)

$(BUILD)/libsluice-tsan.a: $(TSAN_OBJ)
	ar rcs $@ $^

$(BUILD)/tsan/sluice: $(BUILD)/tsan/obj/src/main.o $(TSAN_SHIM) $(BUILD)/libsluice-tsan.a
	$(CC) $(SLUICE_CFLAGS) $(TSANFLAGS) -o $@ $^ $(SLUICE_LDLIBS)

$(BUILD)/tsan/unit/%: tests/unit/%.c $(wildcard tests/unit/*.h tests/tools/*.h) $(TSAN_SHIM) $(BUILD)/libsluice-tsan.a
	@mkdir -p $(dir $@)
	$(CC) $(SLUICE_CFLAGS) $(TSANFLAGS) -Itests/unit -o $@ $< $(TSAN_SHIM) $(BUILD)/libsluice-tsan.a \
	    $(SLUICE_LDLIBS) $(CHECK_LIBS)

tsan-unit: $(TSAN_BINS)
	@set -e; for t in $(TSAN_BINS); do echo "== $$t (TSan)"; \
	  TSAN_OPTIONS="$(TSAN_OPTS)" CK_TIMEOUT_MULTIPLIER=$${CK_TIMEOUT_MULTIPLIER:-10} CK_FORK=no $$t; done

tsan: deps
	$(MAKE) tsan-unit $(BUILD)/tsan/sluice tools
	@rm -rf $(BUILD)/tsan/reports && mkdir -p $(BUILD)/tsan/reports
	SLUICE_BIN=$(CURDIR)/$(BUILD)/tsan/sluice IT_TXNS=$(TSAN_IT_TXNS) \
	  TSAN_OPTIONS="$(TSAN_OPTS) log_path=$(CURDIR)/$(BUILD)/tsan/reports/sluice" \
	  tests/it/run.sh $(TSAN_IT)
	@if ls $(BUILD)/tsan/reports/sluice.* >/dev/null 2>&1; then \
	  cat $(BUILD)/tsan/reports/sluice.*; echo "tsan: the daemon reported races (above)"; exit 1; fi
	@echo "tsan: clean (unit suites and $(TSAN_IT))"

# Installs Debian packages and the pinned Kafka broker (idempotent, fast when present).
deps:
	@tests/env/install.sh $(if $(RDKAFKA),--rdkafka $(RDKAFKA)) >/dev/null

it: all
	tests/it/run.sh

# Source-tree rules: no include runs up a floor (tests/lint/layers.sh); no
# source file over 900 lines, main.c over 350, no function over 120
# (tests/lint/sizes.sh); every relative link in README.md and docs/ resolves
# (tests/lint/doclinks.sh).
lint:
	tests/lint/layers.sh
	tests/lint/sizes.sh
	tests/lint/doclinks.sh

check: deps
	$(MAKE) lint
	$(MAKE) install-check
	$(MAKE) k8s-validate
	$(MAKE) unit
	$(MAKE) unit-mutants
	$(MAKE) tsan
	$(MAKE) fuzz-ci
	$(MAKE) it
	$(MAKE) check-newest

# The newest pair besides the default one: exactly once under a workload and
# under kill -9, and the golden output, on PostgreSQL 18 with Kafka 4.x.
NEWEST_TESTS := test_workload_exactly_once test_crash_restart_exactly_once test_golden
check-newest: all
	@tests/env/install.sh --pg 18 --kafka 4 >/dev/null
	SLUICE_PG_VERSION=18 SLUICE_KAFKA_VERSION=4 tests/it/run.sh $(NEWEST_TESTS)

# Every PostgreSQL (14-18) x every pinned Kafka: the core tests, one table
# (tests/it/matrix.sh; MATRIX_PG, MATRIX_KAFKA, MATRIX_TESTS narrow it).
matrix: all
	tests/it/matrix.sh

# Failover on PostgreSQL 17 and 18: primary killed and standby promoted
# FAILOVER_KILLS (3) times under a workload, exactly once (tests/it/failover.sh).
failover: all
	tests/it/failover.sh

# The incremental snapshot killed -9 SNAPCRASH_KILLS (20) times while copying SNAPCRASH_ROWS
# (1,000,000) rows under a writer: exactly once, the slot moving (tests/it/snapshot_crash.sh).
snapshot-crash: all
	tests/it/snapshot_crash.sh

faults: deps
	$(MAKE) all mutants
	tests/fault/run.sh

# sluice on a secured Kafka (SASL_SSL, mTLS, ACLs): tests/it/run_security.sh, about 4 minutes.
security: deps
	$(MAKE) all
	tests/it/run_security.sh

# A seeded random schedule of every fault for DURATION (e.g. make soak DURATION=30m).
DURATION ?= 10m
SEED ?= 1
soak: deps
	$(MAKE) all
	DURATION=$(DURATION) SEED=$(SEED) tests/fault/soak.sh

# Hot standby under fire: 3 instances on one slot, >= 10 takeovers under load
# (tests/fault/standby.sh; STANDBY_FAULTS, STANDBY_SEED). About 5 minutes.
standby-test: deps
	$(MAKE) all
	tests/fault/standby.sh

# Test-only builds for the fault suite: deliberately broken variants that the
# verifier must catch, and a variant that streams from the slot's position so
# the skip rule is what prevents duplicates.
MUTANTS := CONFIRM_BEFORE_COMMIT CHECKPOINT_AFTER_COMMIT SPLIT_TXN NO_SKIP
mutants: $(MUTANTS:%=$(BUILD)/mutants/sluice-%) $(BUILD)/mutants/sluice-START_AT_SLOT \
         $(BUILD)/mutants/sluice-START_AT_SLOT-NO_SKIP
$(BUILD)/mutants/sluice-%: $(LIB_SRC) $(PB_C) $(MAIN_SRC) $(wildcard include/sluice/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(foreach m,$(subst -, ,$*),$(if $(filter START_AT_SLOT,$(m)),-DSLUICE_VARIANT_$(m),-DSLUICE_MUTANT_$(m))) \
	    -o $@ $(LIB_SRC) $(PB_C) $(MAIN_SRC) $(LDLIBS)

# libFuzzer targets, one per parser of outside data: tests/fuzz/fuzz_<target>.c with
# its seeds in tests/fuzz/seeds/<target>/, linked against the library built with
# clang's coverage instrumentation and ASan+UBSan. `make fuzz` runs each for
# FUZZ_TIME seconds, keeping what it finds in build/fuzz/corpus/<target>/;
# `make fuzz-ci` is the short run of `make check`. A crash stops make and leaves
# its input in build/fuzz/ (rerun: build/fuzz/fuzz_<target> <file>).
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 60
FUZZ_CI_TIME ?= 20
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_FLAGS   := -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OBJ     := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/$(PB_C:.c=.o)
DEPS         += $(FUZZ_OBJ:.o=.d)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(SLUICE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(BUILD)/fuzz/obj/src/encode/protobuf.o: $(PB_H)

$(BUILD)/libsluice-fuzz.a: $(FUZZ_OBJ)
	ar rcs $@ $^

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/libsluice-fuzz.a
	$(FUZZ_CC) $(SLUICE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(BUILD)/libsluice-fuzz.a $(SLUICE_LDLIBS)

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/fuzz/corpus/$$t; \
	  printf '== fuzz %-18s %3s s: ' $$t $(FUZZ_TIME); \
	  if ! $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	        -artifact_prefix=$(BUILD)/fuzz/$$t- $(BUILD)/fuzz/corpus/$$t tests/fuzz/seeds/$$t \
	        >$(BUILD)/fuzz/$$t.log 2>&1; then \
	    echo "FAILED"; tail -n 60 $(BUILD)/fuzz/$$t.log; exit 1; fi; \
	  awk '/stat::number_of_executed_units/ { n = $$2 } /stat::average_exec_per_sec/ { r = $$2 } \
	       END { printf "%d runs, %d exec/s, ", n, r }' $(BUILD)/fuzz/$$t.log; \
	  echo "corpus $$(ls $(BUILD)/fuzz/corpus/$$t | wc -l) new + $$(ls tests/fuzz/seeds/$$t | wc -l) seeds"; \
	done

fuzz-ci:
	$(MAKE) fuzz FUZZ_TIME=$(FUZZ_CI_TIME)

bench: deps
	$(MAKE) all
	tests/bench/run.sh

# The first copy of 5,000,000 rows (SNAP_BENCH_ROWS) by the ceiling (libpq, a transactional producer),
# sluice's export and incremental snapshots and Debezium's, side by side (tests/bench/snapshot.sh).
bench-snapshot: deps
	$(MAKE) all
	tests/bench/snapshot.sh

# Consumers nobody here wrote, fed by sluice, rebuild the type tables and the workload
# (tests/interop/run.sh; INTEROP_CONSUMERS="jdbc flink protobuf" picks them). Outside CI:
# it fetches Kafka Connect's JDBC sink, Flink and a Python toolchain, pinned, into
# ~/.cache/sluice, and takes several minutes.
INTEROP_CONSUMERS ?= jdbc flink protobuf
interop: deps
	$(MAKE) all
	tests/interop/run.sh $(INTEROP_CONSUMERS)

demo: deps
	$(MAKE) $(BUILD)/sluice
	tests/demo/run.sh

# One format, .clang-format's: `make format` rewrites the C sources in place,
# `make format-check` lists what differs and fails (clang-format 14).
FORMAT_SRC := $(LIB_SRC) $(MAIN_SRC) $(wildcard src/*/*.h include/sluice/*/*.h tests/unit/*.[ch] \
              tests/tools/*.[ch] tests/fuzz/*.c tests/tsan/*.c)
format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@command -v clang-format >/dev/null || { echo "format-check: clang-format is not installed (make deps)"; exit 1; }
	@clang-format --dry-run $(FORMAT_SRC) 2>&1 | sed -n 's/:[0-9]*:[0-9]*: warning: code should be clang-formatted.*//p' \
	  | sort | uniq -c | awk '{ n += $$1; print "  " $$2 ": " $$1 } \
	    END { if (n) { print "format-check: " n " places differ from .clang-format (make format)"; exit 1 } }'
	@echo "format-check: every file matches .clang-format"

clean:
	rm -rf $(BUILD)

# --- Deployment (issue 14) ------------------------------------------------------
# deploy/kubernetes/ against the Kubernetes schemas (kubeconform, pinned; no
# cluster needed), and broken manifests that must be refused. Part of check.
.PHONY: k8s-validate container-test
k8s-validate: $(BUILD)/sluice
	tests/k8s/validate.sh

# The container path end to end: images, the compose demo, `down -v` (root,
# podman; about 5 minutes). Outside CI: docs/testing.md, docs/results/.
container-test:
	tests/container/run.sh

-include $(DEPS)

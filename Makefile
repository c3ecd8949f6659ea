# sluice — build, test, benchmark.
#
#   make            build build/sluice
#   make check      unit tests (plain, then ASan+UBSan) and integration tests
#                   against a real PostgreSQL 15 and a real Kafka broker
#   make unit       unit tests only
#   make it         integration tests only
#   make check-newest  a core subset on the newest pair (PostgreSQL 18, Kafka 4.x); part of check
#   make matrix     the core tests on PostgreSQL 14-18 x Kafka 3.9.1, 4.x (long; not in CI)
#   make failover   primary killed, standby promoted, exactly once (PostgreSQL 17, 18; not in CI)
#   make fuzz       run the pgoutput decoder fuzzer (libFuzzer, clang) briefly
#   make bench      benchmarks (not part of the tests)

PKGS      := libpq rdkafka jansson libprotobuf-c libmicrohttpd
CC        ?= cc
WERROR    ?= -Werror
CFLAGS    ?= -O2 -g
CFLAGS    += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
             -Wno-missing-field-initializers $(WERROR) -pthread -Iinclude \
             $(shell pkg-config --cflags $(PKGS))
LDLIBS    += $(shell pkg-config --libs $(PKGS)) -pthread
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

BUILD     := build
LIB_SRC   := $(sort $(wildcard src/*/*.c))
MAIN_SRC  := src/main.c
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
TOOL_SRC  := $(wildcard tests/tools/*.c)

# Protobuf output: C code generated from sluice.proto by protoc-c into build/gen/ (never committed).
PROTO     := src/encode/sluice.proto
PB_C      := $(BUILD)/gen/sluice.pb-c.c
PB_H      := $(BUILD)/gen/sluice.pb-c.h
CFLAGS    += -I$(BUILD)/gen

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/$(PB_C:.c=.o)
SAN_OBJ   := $(LIB_SRC:%.c=$(BUILD)/san/%.o) $(BUILD)/san/$(PB_C:.c=.o)
DEPS      := $(LIB_OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(BUILD)/obj/src/main.d

SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

.PHONY: matrix check-newest failover lint soak mutants all deps check unit unit-plain unit-san unit-mutants it faults fuzz bench bench-snapshot demo clean tools format

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
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; CK_FORK=yes $$t; done

unit-san: $(UNIT_SAN_BINS)
	@set -e; for t in $(UNIT_SAN_BINS); do echo "== $$t (ASan+UBSan)"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CK_FORK=no $$t; done

unit: unit-plain unit-san

# The protocol tests against deliberately broken pipelines: each build must fail the
# test that names the rule it breaks (tests/unit/test_pipeline.c), or that test cannot fail.
UNIT_MUTANTS := NO_SKIP:test_skips_txns_kafka_already_holds \
                SPLIT_TXN:test_never_splits_a_source_txn \
                CHECKPOINT_AFTER_COMMIT:test_checkpoint_is_last_record_before_commit \
                CONFIRM_BEFORE_COMMIT:test_confirms_only_what_kafka_committed \
                FATAL_AS_ABORT:test_sink_status_maps_to_result
$(BUILD)/unit-mutants/test_pipeline-%: tests/unit/test_pipeline.c src/core/pipeline.c \
        $(wildcard tests/unit/*.h include/sluice/*/*.h) $(BUILD)/libsluice.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DSLUICE_MUTANT_$* -Itests/unit -o $@ $< src/core/pipeline.c \
	    $(BUILD)/libsluice.a $(LDLIBS) $(CHECK_LIBS)
unit-mutants: $(foreach m,$(UNIT_MUTANTS),$(BUILD)/unit-mutants/test_pipeline-$(firstword $(subst :, ,$(m))))
	@set -e; for m in $(UNIT_MUTANTS); do name=$${m%%:*}; test=$${m#*:}; \
	  out=$(BUILD)/unit-mutants/$$name.out; \
	  if CK_FORK=yes $(BUILD)/unit-mutants/test_pipeline-$$name >$$out 2>&1 || \
	     ! grep -q ":F:[^:]*:$$test:" $$out; then \
	    cat $$out; echo "unit-mutants: the $$name build does not fail $$test"; exit 1; fi; \
	  echo "unit-mutants: the $$name build fails $$test"; done

# Installs Debian packages and the pinned Kafka broker (idempotent, fast when present).
deps:
	@tests/env/install.sh >/dev/null

it: all
	tests/it/run.sh

# Source-tree rules: no include runs up a floor (tests/lint/layers.sh);
# every relative link in README.md and docs/ resolves (tests/lint/doclinks.sh).
lint:
	tests/lint/layers.sh
	tests/lint/doclinks.sh

check: deps
	$(MAKE) lint
	$(MAKE) unit
	$(MAKE) unit-mutants
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

faults: deps
	$(MAKE) all mutants
	tests/fault/run.sh

# A seeded random schedule of every fault for DURATION (e.g. make soak DURATION=30m).
DURATION ?= 10m
SEED ?= 1
soak: deps
	$(MAKE) all
	DURATION=$(DURATION) SEED=$(SEED) tests/fault/soak.sh

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

# libFuzzer target for the pgoutput decoder (needs clang).
FUZZ_TIME ?= 60
$(BUILD)/fuzz/pgoutput: tests/fuzz/fuzz_pgoutput.c src/pg/pgoutput.c src/base/buf.c src/base/log.c
	@mkdir -p $(dir $@)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -fsanitize=fuzzer,address,undefined -o $@ $^ -pthread
fuzz: $(BUILD)/fuzz/pgoutput
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/pgoutput -max_total_time=$(FUZZ_TIME) $(BUILD)/fuzz/corpus tests/fuzz/seeds

bench: deps
	$(MAKE) all
	tests/bench/run.sh

# The initial snapshot against COPY … TO '/dev/null' (SNAP_BENCH_ROWS, default 1,000,000).
bench-snapshot: deps
	$(MAKE) all
	tests/bench/snapshot.sh

demo: deps
	$(MAKE) $(BUILD)/sluice
	tests/demo/run.sh

format:
	clang-format -i $(LIB_SRC) $(MAIN_SRC) include/sluice/*/*.h tests/unit/*.c tests/tools/*.c

clean:
	rm -rf $(BUILD)

-include $(DEPS)

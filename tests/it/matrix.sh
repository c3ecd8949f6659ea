#!/usr/bin/env bash
# The version matrix: the core correctness tests on every PostgreSQL × Kafka
# pair, one fresh environment per pair, and one table of the results.
#
#   tests/it/matrix.sh                 (make matrix)
#
# Tunables: MATRIX_PG (default "14 15 16 17 18"), MATRIX_KAFKA (default every
# pinned Kafka, tests/env/versions.sh), MATRIX_TESTS (default below). The
# versions are fetched first (tests/env/install.sh --pg … --kafka …). Each
# pair's full log is kept in build/matrix/pg<P>-kafka<K>.log; the table
# (Markdown) goes to stdout and build/matrix/table.md. Exit 0 only if every
# test passed on every pair.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# shellcheck source=tests/env/versions.sh
. "$REPO/tests/env/versions.sh"

MATRIX_PG="${MATRIX_PG:-$SLUICE_PG_MAJORS}"
MATRIX_KAFKA="${MATRIX_KAFKA:-$SLUICE_KAFKA_VERSIONS}"
# The core: exactly once under a workload and under kill -9, fencing of a second
# instance, golden output in both formats, the snapshot hand-off (and a
# requested snapshot, which exports through a temporary slot), the preflight,
# and every version-specific branch.
MATRIX_TESTS="${MATRIX_TESTS:-test_workload_exactly_once test_crash_restart_exactly_once \
test_second_instance_and_fencing test_golden test_golden_protobuf \
test_snapshot_then_stream_equal_under_writes test_snapshot_on_request_for_added_table \
test_check_good_and_broken_setups test_version_slot_creation_per_version \
test_version_refused_command_quoted_whole test_version_origin_none test_version_failover_slot \
test_version_generated_columns_snapshot_equals_stream test_version_empty_transactions_leave_no_metadata}"

OUT="$REPO/build/matrix"
mkdir -p "$OUT"
log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

pg_args=() kafka_args=()
for p in $MATRIX_PG; do pg_args+=(--pg "$p"); done
for k in $MATRIX_KAFKA; do kafka_args+=(--kafka "$k"); done
"$REPO/tests/env/install.sh" "${pg_args[@]}" "${kafka_args[@]}" >/dev/null || exit 1
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$REPO" --no-print-directory -s -j2 all >&2 || exit 1

declare -A CELL
failed=0
started=$SECONDS
for p in $MATRIX_PG; do
    for k in $MATRIX_KAFKA; do
        k="$(sluice_kafka_resolve "$k")"
        pair="pg$p-kafka$k" f="$OUT/pg$p-kafka$k.log"
        log "=== PostgreSQL $p × Kafka $k (log: $f)"
        t0=$SECONDS
        # shellcheck disable=SC2086  # one test name a word
        SLUICE_PG_VERSION="$p" SLUICE_KAFKA_VERSION="$k" "$HERE/run.sh" $MATRIX_TESTS >"$f" 2>&1
        rc=$?
        CELL[$pair,version]="$(sed -n 's/.*check says: ok    server version: PostgreSQL \([0-9.]*\) .*/\1/p' "$f" | head -1)"
        for t in $MATRIX_TESTS; do
            line="$(grep -E "(PASS: $t \(|--- FAIL: $t \()" "$f" | tail -1)"
            if [[ "$line" =~ PASS:\ $t\ \(([0-9]+)s\) ]]; then
                CELL[$pair,$t]="pass ${BASH_REMATCH[1]}s"
            elif [[ "$line" =~ FAIL:\ $t\ \(exit\ [0-9]+,\ ([0-9]+)s\) ]]; then
                CELL[$pair,$t]="**FAIL** ${BASH_REMATCH[1]}s"
                failed=$((failed + 1))
            else
                CELL[$pair,$t]="**not run**"
                failed=$((failed + 1))
            fi
        done
        log "    $(grep -E '^[0-9:]+  passed: ' "$f" | tail -1 | sed 's/^[0-9:]*  //') in $((SECONDS - t0)) s (run.sh exit $rc)"
    done
done

{
    printf '| PostgreSQL × Kafka |'
    for t in $MATRIX_TESTS; do printf ' %s |' "${t#test_}"; done
    printf '\n|---|'
    for t in $MATRIX_TESTS; do printf -- '---|'; done
    printf '\n'
    for p in $MATRIX_PG; do
        for k in $MATRIX_KAFKA; do
            k="$(sluice_kafka_resolve "$k")"
            pair="pg$p-kafka$k"
            printf '| %s × %s |' "${CELL[$pair,version]:-$p}" "$k"
            for t in $MATRIX_TESTS; do printf ' %s |' "${CELL[$pair,$t]}"; done
            printf '\n'
        done
    done
} | tee "$OUT/table.md"
log "matrix: $failed failed or not run, $((SECONDS - started)) s in all; logs in $OUT"
[ "$failed" -eq 0 ]

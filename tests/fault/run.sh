#!/usr/bin/env bash
# The fault suite (make faults): scenario by scenario, sluice loses nothing and
# duplicates nothing when things break. Real PostgreSQL 15, a real 3-broker
# KRaft cluster (replication factor 3, min.insync.replicas 2), the verifier of
# tests/tools/verify.c. Prints a results table (scenario, runs, faults injected,
# changes verified, result) as docs/results/ records it.
#
#   tests/fault/run.sh [scenario...]      (default: the quick set, all scenarios)
#   FAULT_SEEDS="1 2 3" tests/fault/run.sh fault_crash
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../env/env.sh"
. "$HERE/../it/lib.sh"

FAULT_SEEDS="${FAULT_SEEDS:-1}"
FAULT_CRASHES="${FAULT_CRASHES:-12}"
RESULTS_MD="${FAULT_RESULTS:-$REPO/build/fault-results.md}"

# sluice and the tools; the scenarios that run a deliberately broken build make it themselves.
harness_build all || exit 1
harness_env_start fault 3 || exit 1
mkdir -p "$(dirname "$RESULTS_MD")"
PROXY="$REPO/build/tools/tcpproxy"

: >"$W/results"
# record SCENARIO RUNS FAULTS CHANGES RESULT
record() { printf '| %s | %s | %s | %s | %s |\n' "$@" >>"$W/results"; }

# ledger_changes: committed changes the verifier checked (from its summary line).
verified_changes() { sed -n 's/.*ledger [0-9]* transactions \/ \([0-9]*\) changes.*/\1/p' "$1" | tail -1; }

. "$HERE/scenarios.sh"

run_tests "fault_[0-9]" "$@"
{
    echo "| scenario | runs | faults injected | changes verified | result |"
    echo "|---|---|---|---|---|"
    cat "$W/results"
} >"$RESULTS_MD"
echo
cat "$RESULTS_MD"
echo
echo "(written to $RESULTS_MD)"
summary

#!/usr/bin/env bash
# make container-test: the container path end to end, as a user runs it.
#
#   tests/container/run.sh            (as root; about 5 minutes, 10 on a first run)
#
# 1. Installs what it needs (podman, runc, debootstrap … through apt; the
#    podman settings below; podman-compose through pip), so it runs from a
#    fresh clone on Debian 12.
# 2. Builds the images: a Debian 12 base made with debootstrap and tagged
#    debian:bookworm-slim (no container registry is reachable where sluice is
#    developed), sluice's image from docker/Dockerfile, the demo consumer, and
#    TEST-ONLY stand-ins for postgres:15 and apache/kafka:3.9.1
#    (tests/container/standins/, Debian's PostgreSQL 15 and the Kafka jars
#    from Maven) tagged with the official names, so that
#    docker/docker-compose.yml runs unchanged. An image of those names that
#    is not a stand-in (pulled from a registry) is used as it is.
# 3. Checks the image: every library the binary needs resolves in it, it
#    runs as the unprivileged user sluice, it keeps its HEALTHCHECK.
# 4. Runs the compose demo and asserts: events of every demo table reach the
#    demo's read_committed consumer, with their topic names, within a minute
#    of `up`; /healthz answers 200; sluice runs as uid 10001 and did not need
#    a restart; SIGTERM stops it with exit 0; `down -v` leaves no container,
#    volume or network behind.
#
# Knobs: CONTAINER_TEST_COMPOSE (the compose file, default
# docker/docker-compose.yml), CONTAINER_TEST_DEADLINE (seconds after `up`
# for the events, 60), CONTAINER_TEST_REBUILD_BASE=1 (debootstrap again).
# A summary with the figures goes to build/container-test.md.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$REPO/tests/container"
COMPOSE_FILE="${CONTAINER_TEST_COMPOSE:-$REPO/docker/docker-compose.yml}"
DEADLINE="${CONTAINER_TEST_DEADLINE:-60}"
PODMAN_COMPOSE_VERSION=1.6.0
OUT="$REPO/build/container-test.md"
WORK="$(mktemp -d /var/tmp/sluice-container-test.XXXXXX)"
failures=0
declare -a figures=()

log() { printf '%s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "FAIL: $*"; failures=$((failures + 1)); }
pass() { log "ok: $*"; }
figure() { figures+=("$1"); log "$1"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
compose() { podman-compose -f "$COMPOSE_FILE" "$@"; }

cleanup() {
    local rc=$?
    if [ -n "${UP:-}" ]; then
        compose down -v >>"$WORK/down.log" 2>&1 || true
    fi
    # An interrupted debootstrap leaves /proc mounted in its target: unmount
    # whatever is under WORK, and never let rm cross into another file system.
    awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | xargs -r umount -l || true
    rm -rf --one-file-system "$WORK"
    exit "$rc"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { log "run as root (podman with runc, as set up here)"; exit 2; }

# --- 1. what it needs -------------------------------------------------------
install_tools() {
    local p missing=""
    for p in podman fuse-overlayfs slirp4netns uidmap runc debootstrap curl python3-yaml; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        log "apt-get install$missing"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    fi
    # Without these, every `podman run` here fails: setrlimit RLIMIT_NOFILE is
    # refused, then crun refuses the hybrid cgroup layout (runc does not).
    local conf=/etc/containers/containers.conf.d/50-sluice-test.conf
    if [ ! -f "$conf" ]; then
        mkdir -p "$(dirname "$conf")"
        cat >"$conf" <<'EOF'
# Written by sluice's tests/container/run.sh.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
EOF
        log "wrote $conf"
    fi
    if ! podman-compose --version 2>/dev/null | grep -q "podman-compose version $PODMAN_COMPOSE_VERSION"; then
        log "pip install podman-compose==$PODMAN_COMPOSE_VERSION"
        python3 -m pip install -q "podman-compose==$PODMAN_COMPOSE_VERSION" >&2
        hash -r
    fi
    # The stand-in broker's jars (Maven Central), as the integration tests use them.
    KAFKA_DIR="$("$REPO/tests/env/install.sh")"
}

# --- 2. images ----------------------------------------------------------------
# The Debian mirror apt uses here (deb822 sources or a classic sources.list).
debian_mirror() {
    local m
    m="$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
    [ -n "$m" ] || m="$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)"
    echo "${m:-http://deb.debian.org/debian}"
}

build_base_image() {
    if podman image exists docker.io/library/debian:bookworm-slim && [ -z "${CONTAINER_TEST_REBUILD_BASE:-}" ]; then
        log "base image debian:bookworm-slim: present"
        return
    fi
    local t0 mirror rootfs="$WORK/rootfs"
    t0="$(now)"
    mirror="$(debian_mirror)"
    log "debootstrap --variant=minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -5 "$WORK/debootstrap.log" >&2; return 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - localhost/debian:bookworm >/dev/null
    podman tag localhost/debian:bookworm localhost/debian:bookworm-slim docker.io/library/debian:bookworm-slim
    rm -rf --one-file-system "$rootfs"
    figure "base image (debootstrap + import): $(since "$t0") s"
}

# build_standin NAME IMAGE CONTEXT: the stand-in, unless IMAGE is a real one.
build_standin() {
    local name="$1" image="$2" ctx="$3" t0
    if podman image exists "$image" &&
        [ "$(podman image inspect --format '{{index .Labels "org.sluice.test-standin"}}' "$image")" != yes ]; then
        log "$image: a real image is present; using it"
        return
    fi
    t0="$(now)"
    podman build --pull=never --label org.sluice.test-standin=yes -t "$image" "$ctx" \
        >"$WORK/build-$name.log" 2>&1 || { tail -20 "$WORK/build-$name.log" >&2; return 1; }
    figure "stand-in $image: built in $(since "$t0") s"
}

build_images() {
    local t0 rdk
    build_base_image
    # The image builds the pinned librdkafka from its crate, and a build has no
    # network here (nor in many CI systems): the checked crate goes along in
    # the build context (tests/env/dl/, as docs/operations.md tells users).
    rdk="$(sed -n 's/^ARG SLUICE_RDKAFKA=//p' "$REPO/docker/Dockerfile")"
    [ -z "$rdk" ] || "$REPO/tests/env/rdkafka.sh" --vendor "$rdk" >/dev/null ||
        { echo "container-test: cannot vendor librdkafka $rdk's crate" >&2; return 1; }
    t0="$(now)"
    (cd "$REPO" && podman build --pull=never --format docker -f docker/Dockerfile -t localhost/sluice:dev .) \
        >"$WORK/build-sluice.log" 2>&1 || { tail -30 "$WORK/build-sluice.log" >&2; return 1; }
    figure "sluice image (docker/Dockerfile): built in $(since "$t0") s, $(podman image inspect --format '{{.Size}}' localhost/sluice:dev | awk '{ printf "%.0f", $1 / 1048576 }') MB"
    if [ -f "$REPO/docker/demo-consumer.Dockerfile" ]; then
        t0="$(now)"
        (cd "$REPO" && podman build --pull=never -f docker/demo-consumer.Dockerfile -t localhost/sluice-demo-consumer:dev .) \
            >"$WORK/build-consumer.log" 2>&1 || { tail -20 "$WORK/build-consumer.log" >&2; return 1; }
        figure "demo consumer image: built in $(since "$t0") s"
    fi
    build_standin postgres docker.io/library/postgres:15 "$HERE/standins/postgres"
    local kctx="$WORK/kafka-context"
    cp -r "$HERE/standins/kafka" "$kctx"
    cp -r "$KAFKA_DIR/libs" "$kctx/libs"
    build_standin kafka docker.io/apache/kafka:3.9.1 "$kctx"
    rm -rf "$kctx"
}

# --- 3. the image ----------------------------------------------------------------
check_image() {
    local ldd user hc
    ldd="$(podman run --rm --entrypoint ldd localhost/sluice:dev /usr/local/bin/sluice 2>&1)" ||
        fail "ldd failed in the image: $ldd"
    if grep -q 'not found' <<<"$ldd"; then
        fail "libraries missing in the runtime image: $(grep 'not found' <<<"$ldd" | tr '\n' ' ')"
    else
        pass "every library of the binary resolves in the image ($(grep -c '=>' <<<"$ldd") libraries)"
    fi
    user="$(podman image inspect --format '{{.Config.User}}' localhost/sluice:dev)"
    [ "$user" = sluice:sluice ] && pass "image user: $user" || fail "image user is '$user', want sluice:sluice"
    hc="$(podman image inspect --format '{{.Config.Healthcheck}}' localhost/sluice:dev)"
    grep -q healthz <<<"$hc" && pass "HEALTHCHECK kept (--format docker)" || fail "no HEALTHCHECK in the image: $hc"
    figure "image: $(podman run --rm localhost/sluice:dev --version)"
}

# --- 4. the compose demo -----------------------------------------------------------
# Everything podman holds of these kinds, one name a line.
inventory() {
    { podman ps -a --format 'container {{.Names}}'
      podman volume ls --format 'volume {{.Name}}'
      podman network ls --format 'network {{.Name}}'
      podman pod ls --format 'pod {{.Name}}'; } | sort
}

# first_line_of TOPIC: true once the consumer printed a record of TOPIC.
consumer_has() { grep -q "^$1 key=" "$WORK/consumer.log"; }

run_demo() {
    local project t_up table topic
    project="$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["name"])' "$COMPOSE_FILE")"
    compose down -v >/dev/null 2>&1 || true # what an earlier, interrupted run left
    inventory >"$WORK/before.inv"
    t_up="$(now)"
    UP=1
    compose up -d >"$WORK/up.log" 2>&1 || { tail -20 "$WORK/up.log" >&2; fail "compose up failed"; return 1; }
    figure "compose up -d returned after $(since "$t_up") s"
    local tables="customers orders"
    declare -A seen_at=()
    while :; do
        podman logs "${project}_consumer_1" >"$WORK/consumer.log" 2>"$WORK/consumer.err" || true
        for table in $tables; do
            topic="shop.public.$table"
            [ -n "${seen_at[$table]:-}" ] || ! consumer_has "$topic" || seen_at[$table]="$(since "$t_up")"
        done
        [ "${#seen_at[@]}" -lt 2 ] || break
        if awk -v s="$(since "$t_up")" -v d="$DEADLINE" 'BEGIN { exit !(s > d) }'; then break; fi
        sleep 1
    done
    for table in $tables; do
        if [ -n "${seen_at[$table]:-}" ]; then
            figure "first event of shop.public.$table at the consumer, with its topic name: $(printf '%s' "${seen_at[$table]}") s after up"
        else
            fail "no event of shop.public.$table at the consumer (as '<topic> key=…') within ${DEADLINE} s of up; it printed $(grep -c . "$WORK/consumer.log") lines: $(head -c 300 "$WORK/consumer.log")"
        fi
    done
    # Where the time went: each service's first sign of being ready, after up.
    local svc pat at
    for svc in "postgres:init: complete" "kafka:Kafka Server started" "sluice:streaming from slot" \
        "consumer:rebalanced"; do
        pat="${svc#*:}"
        svc="${svc%%:*}"
        [ -n "$pat" ] || continue
        at="$(podman logs -t "${project}_${svc}_1" 2>&1 | grep -m1 -F -- "$pat" | cut -d' ' -f1)"
        [ -n "$at" ] && figure "$svc: '$pat' $(awk -v a="$t_up" -v b="$(date -d "$at" +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after up"
    done
    figure "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    # Every kind of change of the load generator, read_committed.
    sleep 8
    podman logs "${project}_consumer_1" >"$WORK/consumer.log" 2>/dev/null || true
    for op in c u d; do
        grep -q "\"op\":\"$op\"" "$WORK/consumer.log" || fail "no \"op\":\"$op\" event at the consumer"
    done
    figure "consumer: $(grep -c '^shop.public.customers ' "$WORK/consumer.log") customers and $(grep -c '^shop.public.orders ' "$WORK/consumer.log") orders records after $(since "$t_up") s, e.g. $(grep -m1 '^shop.public.orders ' "$WORK/consumer.log" | cut -c1-160)"

    # /healthz, from the host through the published port.
    local code body
    code="$(curl -s -o "$WORK/healthz" -w '%{http_code}' http://127.0.0.1:9187/healthz || true)"
    body="$(cat "$WORK/healthz" 2>/dev/null)"
    [ "$code" = 200 ] && pass "/healthz: $code $body" || fail "/healthz answered '$code' '$body'"
    local events
    events="$(curl -s http://127.0.0.1:9187/metrics | awk '$1 == "sluice_events_total" { print $2 }')"
    figure "/metrics: sluice_events_total ${events:-missing}"
    [ "${events:-0}" -gt 0 ] 2>/dev/null || fail "/metrics: sluice_events_total is '${events:-missing}', want > 0"

    # The process runs as the unprivileged user.
    local uid
    uid="$(podman exec "${project}_sluice_1" awk '/^Uid:/ { print $2 }' /proc/1/status)"
    [ "$uid" = 10001 ] && pass "sluice runs as uid $uid" || fail "sluice runs as uid '$uid', want 10001"
    local ro caps
    ro="$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "${project}_sluice_1")"
    caps="$(podman exec "${project}_sluice_1" awk '/^CapEff:/ { print $2 }' /proc/1/status)"
    [ "$ro" = true ] && [ "$caps" = 0000000000000000 ] &&
        pass "sluice streams with a read-only root file system and no capabilities" ||
        fail "sluice's container: read-only root '$ro', effective capabilities '$caps'"
    local restarts waited
    restarts="$(podman inspect --format '{{.RestartCount}}' "${project}_sluice_1")"
    waited="$(podman logs "${project}_sluice_1" 2>&1 | grep -c 'retrying' || true)"
    figure "sluice: $restarts restarts; $waited retries logged while its peers came up"
    [ "$restarts" = 0 ] || fail "sluice was restarted $restarts times (it should wait for its peers)"

    # SIGTERM (docker stop) is the graceful stop: exit 0.
    local t_stop ec
    t_stop="$(now)"
    podman stop -t 40 "${project}_sluice_1" >/dev/null
    ec="$(podman inspect --format '{{.State.ExitCode}}' "${project}_sluice_1")"
    figure "podman stop sluice: exit $ec after $(since "$t_stop") s"
    [ "$ec" = 0 ] || fail "sluice exited $ec on SIGTERM, want 0"
    podman logs "${project}_sluice_1" >"$WORK/sluice.log" 2>&1 || true

    # down -v leaves nothing behind.
    local t_down
    t_down="$(now)"
    compose down -v >"$WORK/down.log" 2>&1 || fail "compose down -v failed: $(tail -5 "$WORK/down.log")"
    UP=""
    figure "compose down -v: $(since "$t_down") s"
    inventory >"$WORK/after.inv"
    local left
    left="$(comm -13 "$WORK/before.inv" "$WORK/after.inv")"
    [ -z "$left" ] && pass "down -v left no container, volume, network or pod behind" ||
        fail "down -v left behind: $(tr '\n' ' ' <<<"$left")"
}

t_all="$(now)"
install_tools
build_images
check_image
run_demo || true
mkdir -p "$REPO/build"
{
    echo "# make container-test"
    echo
    echo "- commit: $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- . 2>/dev/null || echo ' (with local changes)')"
    echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); $(podman --version); podman-compose $PODMAN_COMPOSE_VERSION; $(nproc) cores"
    echo "- compose file: ${COMPOSE_FILE#"$REPO"/}"
    for f in "${figures[@]}"; do echo "- $f"; done
    echo "- total: $(since "$t_all") s; failures: $failures"
} >"$OUT"
cat "$OUT" >&2
if [ "$failures" -eq 0 ]; then
    echo "container-test: 1 passed, 0 failed"
else
    echo "container-test: 0 passed, 1 failed ($failures checks)"
    exit 1
fi

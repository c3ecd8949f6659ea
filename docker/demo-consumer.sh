#!/bin/sh
# Entrypoint of the demo's consumer image (demo-consumer.Dockerfile): kcat
# with the arguments given, once it can work. kcat ends when every broker is
# down, and its balanced consumer (-G) ends when the topic pattern it
# subscribes to matches no topic yet ("Subscribed topic not available"). In
# the compose demo it starts together with the broker and before sluice has
# created any topic, so with "-b BROKERS" first and a pattern (^…) last, it
# waits for the brokers and for one topic of the pattern; later topics are
# picked up at kcat's metadata refreshes.
set -eu
if [ "${1:-}" = -b ] && [ -n "${2:-}" ]; then
    brokers="$2"
    for last; do :; done
    case "$last" in
    ^*) echo "% waiting for a topic matching $last" >&2 ;;
    *) last="" ;;
    esac
    until kcat -b "$brokers" -L -m 5 2>/dev/null |
        sed -n 's/^ *topic "\([^"]*\)".*/\1/p' | grep -Eq -- "${last:-.}"; do
        sleep 1
    done
fi
exec kcat "$@"

# The compose demo's consumer (docker-compose.yml): kcat on Debian 12, which
# prints each record's topic, key and value and reads read_committed.
FROM debian:bookworm-slim
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -qq && \
    apt-get install -y -qq --no-install-recommends kcat >/dev/null && \
    rm -rf /var/lib/apt/lists/*
COPY docker/demo-consumer.sh /usr/local/bin/demo-consumer
USER nobody
ENTRYPOINT ["/usr/local/bin/demo-consumer"]

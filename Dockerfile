# distributed-cache node image (docs/deployment.md, "Docker").
#   docker build -t distributed-cache:latest .
#   docker run --rm -p 8001:8001 distributed-cache:latest        # node1 of config/node1.yaml
# docker-compose.yml runs the 3-node cluster from this image with config/docker/node*.yaml.

# --- build: the release binary, with dependencies compiled in their own cached layer -----------
FROM rust:1-slim-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# cargo loads the whole workspace: every member's manifest (crates/http, crates/client) is needed.
COPY crates/http/Cargo.toml crates/http/
COPY crates/client/Cargo.toml crates/client/
# Build the dependencies against stub sources first: this layer is reused until Cargo.lock or a
# manifest changes.
RUN mkdir -p src crates/http/src crates/client/src \
 && echo 'fn main() {}' > src/main.rs && echo 'fn main() {}' > crates/client/src/main.rs \
 && touch src/lib.rs crates/http/src/lib.rs crates/client/src/lib.rs \
 && cargo build --release --locked --bin cache-node \
 && rm -rf src crates/http/src crates/client/src
COPY crates ./crates
COPY src ./src
# COPY keeps the files' old mtimes; touch so cargo rebuilds the crates instead of reusing the stubs.
RUN touch src/main.rs src/lib.rs crates/*/src/lib.rs && cargo build --release --locked --bin cache-node

# --- runtime: a slim Debian with curl for the health check, running as an unprivileged user ---
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 cache \
 && useradd --system --uid 10001 --gid cache --home-dir /opt/distributed-cache --shell /usr/sbin/nologin cache
# Same layout as the systemd install (/opt/distributed-cache/{bin,config}); ./cache-node is kept
# so the seed's command line `./cache-node -config=config/node1.yaml` works unchanged.
WORKDIR /opt/distributed-cache
COPY --from=builder /src/target/release/cache-node bin/cache-node
COPY config ./config
RUN ln -s bin/cache-node cache-node
# Numeric user, so Kubernetes can verify runAsNonRoot.
USER 10001:10001
EXPOSE 8001 8002 8003
# The port to probe: the node's own port (docker-compose.yml sets it per service).
ENV CACHE_PORT=8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${CACHE_PORT}/api/v1/health" || exit 1
# SIGTERM (docker stop) drains for up to timeouts.shutdown (10 s): give `docker stop -t 15`.
STOPSIGNAL SIGTERM
CMD ["./cache-node", "-config=config/node1.yaml"]

# syntax=docker/dockerfile:1.7
#
# shootlog: build with `docker build -t shootlog .` (or `fly deploy`).
# Build arguments SHOOTLOG_GIT_COMMIT and SHOOTLOG_BUILD_TIME end up in
# GET /version, e.g.
#   fly deploy --build-arg SHOOTLOG_GIT_COMMIT="$(git rev-parse HEAD)" \
#              --build-arg SHOOTLOG_BUILD_TIME="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

ARG RUST_VERSION=1.95

# ---- build ------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
ARG SHOOTLOG_GIT_COMMIT=unknown
ARG SHOOTLOG_BUILD_TIME=unknown
ENV SHOOTLOG_GIT_COMMIT=${SHOOTLOG_GIT_COMMIT} \
    SHOOTLOG_BUILD_TIME=${SHOOTLOG_BUILD_TIME} \
    CARGO_TERM_COLOR=never
# Only what the binary is built from (Swagger UI is vendored: no download).
COPY Cargo.toml Cargo.lock rustfmt.toml build.rs ./
COPY src ./src
# The build id of the Convex functions this checkout holds (for GET /version).
COPY convex/buildId.ts ./convex/buildId.ts
# The registry and target caches survive between builds (BuildKit); the
# binary is copied out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin shootlog \
 && install -D -m 0755 target/release/shootlog /out/shootlog

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim AS runtime

# ca-certificates: TLS to Convex; curl: the HEALTHCHECK below. setpriv (to
# drop root in the entrypoint) is part of util-linux, already in the image.
# Versions are not pinned: the bookworm security updates are wanted.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 shootlog \
 && useradd --system --uid 10001 --gid shootlog --home-dir /data --no-create-home --shell /usr/sbin/nologin shootlog \
 && install -d -o shootlog -g shootlog -m 0750 /data

COPY --from=build /out/shootlog /usr/local/bin/shootlog

# The service runs as the unprivileged `shootlog` user (uid 10001). The
# entrypoint starts as root only to hand the data volume to that user — a
# fly.io volume is mounted owned by root — and then drops root with setpriv
# before exec'ing the service (which so stays PID 1 and gets SIGTERM). Started
# as any other user (`docker run --user …`) it execs the service directly.
# The single quotes are meant: the script expands them when it runs.
# hadolint ignore=SC2016
RUN printf '%s\n' \
      '#!/bin/sh' \
      'set -eu' \
      'if [ "$(id -u)" = 0 ]; then' \
      '  dir="${SHOOTLOG_DATA_DIR:-/data}"' \
      '  mkdir -p "$dir"' \
      '  [ "$(stat -c %u "$dir")" = 10001 ] || chown shootlog:shootlog "$dir"' \
      '  exec setpriv --reuid=shootlog --regid=shootlog --init-groups --inh-caps=-all -- /usr/local/bin/shootlog "$@"' \
      'fi' \
      'exec /usr/local/bin/shootlog "$@"' \
      > /usr/local/bin/shootlog-entrypoint \
 && chmod 0755 /usr/local/bin/shootlog-entrypoint

ENV SHOOTLOG_LISTEN=0.0.0.0:8080 \
    SHOOTLOG_DATA_DIR=/data \
    SHOOTLOG_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
WORKDIR /data

# Liveness only (/healthz); /readyz is for load balancers. Port 8080 as in
# SHOOTLOG_LISTEN above.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "--fail", "--silent", "--show-error", "--max-time", "2", "http://127.0.0.1:8080/healthz"]

# The service drains on SIGTERM: in-flight writes finish, the journal is
# flushed (see fly.toml's kill_timeout).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/shootlog-entrypoint"]
CMD ["serve"]

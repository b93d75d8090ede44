# syntax=docker/dockerfile:1
# ETS container image: the `ets` binary built with the `dist` profile (Cargo.toml: fat LTO) on
# a slim Debian runtime.
#
#   docker build -t ets:latest .
#   docker run -p 8003:8003 -p 9003:9003 -e ETS_AUTH__ENABLED=true ets:latest   # SQLite in /var/lib/ets
#   (listening beyond loopback needs authentication on, or ETS_AUTH__ALLOW_ANONYMOUS=true for a
#   trial where anyone who reaches the port may do anything: README "Security defaults")
#   docker run -e ETS_DATABASE_URL=postgres://… ets:latest     # production: see docs/production.md

# ---- build stage: compile with the pinned toolchain and the committed Cargo.lock
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked -p ets --bin ets \
    && install -D -m 0755 target/dist/ets /out/ets

# ---- runtime stage: the binary, CA certificates (TLS to PostgreSQL and S3), a non-root user
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/ets --create-home ets
COPY --from=build /out/ets /usr/local/bin/ets
USER 10001
WORKDIR /var/lib/ets
# Listen on all interfaces inside the container; the data dir holds SQLite and local artifacts
# when no database URL / S3 bucket is configured.
ENV ETS_ENV=prod \
    ETS_HOST=0.0.0.0 \
    ETS_METRICS_HOST=0.0.0.0 \
    ETS_DATA_DIR=/var/lib/ets
EXPOSE 8003 9003
VOLUME ["/var/lib/ets"]
ENTRYPOINT ["/usr/local/bin/ets"]
CMD ["serve"]

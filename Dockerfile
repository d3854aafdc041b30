# ferrokeeper in a container, configured like the official `zookeeper` image (3.8): the same
# ZOO_* variables, directories, ports, user and command, so its docker run / compose / Helm
# settings carry over. packaging/docker-entrypoint.sh writes zoo.cfg and myid on first start.
#
#   docker build -t ferrokeeper .
#   docker run -d -p 2181:2181 ferrokeeper

FROM rust:1-slim-bookworm AS build
# GSSAPI (Kerberos) links MIT krb5 through bindgen; jemalloc builds with make
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends libkrb5-dev libclang-dev pkg-config make; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# the release profile keeps line tables for profiling; the image does without them
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked --bin ferrokeeper

FROM debian:bookworm-slim
# the official image's defaults (packaging/docker-entrypoint.sh falls back to the same)
ENV ZOO_CONF_DIR=/conf \
    ZOO_DATA_DIR=/data \
    ZOO_DATA_LOG_DIR=/datalog \
    ZOO_LOG_DIR=/logs \
    ZOO_TICK_TIME=2000 \
    ZOO_INIT_LIMIT=5 \
    ZOO_SYNC_LIMIT=2 \
    ZOO_AUTOPURGE_PURGEINTERVAL=0 \
    ZOO_AUTOPURGE_SNAPRETAINCOUNT=3 \
    ZOO_MAX_CLIENT_CNXNS=60 \
    ZOO_STANDALONE_ENABLED=true \
    ZOO_ADMINSERVER_ENABLED=true

# uid/gid 1000 as in the official image, so volumes written by it stay readable
RUN set -eux; \
    groupadd --system --gid 1000 zookeeper; \
    useradd --system --gid zookeeper --uid 1000 --home-dir "$ZOO_DATA_DIR" --no-create-home zookeeper; \
    mkdir -p "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" "$ZOO_CONF_DIR" "$ZOO_LOG_DIR"; \
    chown zookeeper:zookeeper "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" "$ZOO_CONF_DIR" "$ZOO_LOG_DIR"

# krb5 for GSSAPI; nc for the `echo ruok | nc localhost 2181` health checks written for the
# official image (setpriv, which drops root in the entrypoint, is in the base image)
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends libgssapi-krb5-2 netcat-openbsd; \
    rm -rf /var/lib/apt/lists/*

COPY --from=build /src/target/release/ferrokeeper /usr/bin/ferrokeeper
COPY bin/ /usr/share/ferrokeeper/bin/
COPY packaging/docker-entrypoint.sh /docker-entrypoint.sh

WORKDIR /usr/share/ferrokeeper
VOLUME ["/data", "/datalog", "/logs"]
EXPOSE 2181 2888 3888 8080

ENV PATH=$PATH:/usr/share/ferrokeeper/bin \
    ZOOCFGDIR=$ZOO_CONF_DIR

ENTRYPOINT ["/docker-entrypoint.sh"]
CMD ["zkServer.sh", "start-foreground"]

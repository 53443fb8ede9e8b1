# arch-server, for any platform, cross-compiled: the compile stage runs on the build
# machine's own platform ($BUILDPLATFORM) and compiles for $TARGETPLATFORM, so nothing
# is emulated while compiling. The final image is the static binary alone.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t IMAGE --push .
#
# With binaries already built on the host (scripts/build-dist.sh writes
# dist/<arch>/arch-server), the `build` stage is replaced by that folder: the Rust
# image is never pulled and nothing is compiled, which is how it is built where no
# image can be pulled:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-context build=dist -t IMAGE --push .

# Base images are build arguments, so a mirror or a pinned digest can be passed in.
ARG RUST_IMAGE=rust:1.85-slim-bookworm
ARG RUNTIME_IMAGE=scratch

FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS build
ARG BUILDARCH
ARG TARGETARCH
ARG TARGETVARIANT
WORKDIR /src
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The Rust target, its C linker, and the Debian packages that provide the linker.
# Building for the build machine's own architecture needs no cross linker. The cross
# packages follow the base image's Debian release, so they are not pinned here.
# hadolint ignore=DL3008
RUN set -eu; \
    case "${TARGETARCH}${TARGETVARIANT:+/$TARGETVARIANT}" in \
      amd64)   set -- x86_64-unknown-linux-gnu      x86_64-linux-gnu      gcc-x86-64-linux-gnu libc6-dev-amd64-cross ;; \
      arm64)   set -- aarch64-unknown-linux-gnu     aarch64-linux-gnu     gcc-aarch64-linux-gnu libc6-dev-arm64-cross ;; \
      arm/v6)  set -- arm-unknown-linux-gnueabi     arm-linux-gnueabi     gcc-arm-linux-gnueabi libc6-dev-armel-cross ;; \
      arm/v7)  set -- armv7-unknown-linux-gnueabihf arm-linux-gnueabihf   gcc-arm-linux-gnueabihf libc6-dev-armhf-cross ;; \
      386)     set -- i686-unknown-linux-gnu        i686-linux-gnu        gcc-i686-linux-gnu libc6-dev-i386-cross ;; \
      ppc64le) set -- powerpc64le-unknown-linux-gnu powerpc64le-linux-gnu gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross ;; \
      s390x)   set -- s390x-unknown-linux-gnu       s390x-linux-gnu       gcc-s390x-linux-gnu libc6-dev-s390x-cross ;; \
      riscv64) set -- riscv64gc-unknown-linux-gnu   riscv64-linux-gnu     gcc-riscv64-linux-gnu libc6-dev-riscv64-cross ;; \
      *) echo "unsupported platform: linux/${TARGETARCH}${TARGETVARIANT:+/$TARGETVARIANT}" >&2; exit 1 ;; \
    esac; \
    triple=$1; linker=$2-gcc; shift 2; \
    if [ "${TARGETARCH}" = "${BUILDARCH}" ] && [ -z "${TARGETVARIANT}" ]; then linker=gcc; \
    else apt-get update && apt-get install -y --no-install-recommends "$@" && rm -rf /var/lib/apt/lists/*; fi; \
    rustup target add "${triple}"; \
    echo "${triple} ${linker}" > /tmp/target
COPY Cargo.toml Cargo.lock build.rs ./
COPY crates crates
COPY src src
COPY multiarch/Cargo.toml multiarch/Cargo.toml
RUN mkdir -p multiarch/src && echo 'fn main() {}' > multiarch/src/main.rs
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=arch-server-target-${TARGETARCH}${TARGETVARIANT} \
    read -r triple linker < /tmp/target \
 && linker_var="CARGO_TARGET_$(echo "${triple}" | tr 'a-z-' 'A-Z_')_LINKER" \
 && env "${linker_var}=${linker}" RUSTFLAGS='-C target-feature=+crt-static' \
      cargo build --release --locked -p arch-server --target "${triple}" \
 && mkdir -p "/${TARGETARCH}${TARGETVARIANT}" \
 && cp "target/${triple}/release/arch-server" "/${TARGETARCH}${TARGETVARIANT}/arch-server"

FROM ${RUNTIME_IMAGE}
ARG TARGETARCH
ARG TARGETVARIANT
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
# One folder per platform at the stage's root (amd64, arm64, armv6, armv7, ...), the
# layout of the host's dist/: arm/v6 and arm/v7 share TARGETARCH, so the variant counts.
COPY --from=build /${TARGETARCH}${TARGETVARIANT}/arch-server /arch-server
# HOST and PORT make `docker run -p 80:80 IMAGE` work; flags still override them.
# Docker lets unprivileged users bind low ports inside a container's network namespace.
ENV HOST=0.0.0.0 PORT=80
# One malloc arena and no per-thread caches: after a burst of 1,000 connections the
# server's anonymous memory returns to its idle figure instead of staying 0.6 MiB above
# it in chunks that other threads' caches pin (src/memory.rs, bench/load.sh). What it
# gives and costs (17% of requests/s at concurrency 64) is measured by bench/malloc.sh.
ENV GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.tcache_count=0
EXPOSE 80
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=3s --start-period=3s --retries=3 \
  CMD ["/arch-server", "healthcheck"]
LABEL org.opencontainers.image.title="arch-server" \
      org.opencontainers.image.description="Says which machine architecture it runs on: GET /arch" \
      org.opencontainers.image.source="https://github.com/multiarch-kit/multiarch" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
ENTRYPOINT ["/arch-server"]

# arch-server, for any platform, cross-compiled: the compile stage runs on the build
# machine's own platform ($BUILDPLATFORM) and compiles for $TARGETPLATFORM, so nothing
# is emulated while compiling. The final image is the static binary alone.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t IMAGE --push .
#
# With binaries already built on the host (scripts/build-dist.sh writes
# dist/<arch>/arch-server), the `build` stage is replaced by that folder: the compile
# stage's base is never pulled and nothing is compiled, which is how it is built where no
# image can be pulled:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-context build=dist -t IMAGE --push .

# Base images are build arguments, so a mirror or a pinned digest can be passed in.
# The compiler is Debian's (rustc 1.85 in Debian 13), not rustup's: Debian ships the Rust
# std for every architecture as a package, so a cross-compile needs no download but
# apt's, and the stage runs the same on a laptop, in a pipeline, and in the test bed,
# which has no Docker Hub and builds it with a stand-in for debian:trixie-slim
# (scripts/debian-image.sh).
ARG BUILD_IMAGE=debian:trixie-slim
ARG RUNTIME_IMAGE=scratch

# Certificates of a TLS-intercepting proxy (a company's, or a sandbox's), for cargo's
# downloads: empty unless given, `--build-context extra-certificates=DIR` with DIR
# holding *.crt files (e.g. /usr/local/share/ca-certificates). The CLI image never
# carries them.
FROM scratch AS extra-certificates

# The toolchain for $TARGETPLATFORM, run on the build machine's own platform.
FROM --platform=$BUILDPLATFORM ${BUILD_IMAGE} AS packages
ARG TARGETARCH
ARG TARGETVARIANT
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Docker's platform -> Debian's architecture, Rust's target, the GNU toolchain's prefix.
# Debian's armel is ARMv5TE code, which every ARMv6 core (Raspberry Pi Zero and 1) runs.
# The cross packages follow the base image's Debian release, so they are not pinned here.
# hadolint ignore=DL3008
RUN set -eu; \
    case "${TARGETARCH}${TARGETVARIANT:+/$TARGETVARIANT}" in \
      amd64)   set -- amd64   x86_64-unknown-linux-gnu      x86_64-linux-gnu ;; \
      arm64)   set -- arm64   aarch64-unknown-linux-gnu     aarch64-linux-gnu ;; \
      arm/v6)  set -- armel   armv5te-unknown-linux-gnueabi arm-linux-gnueabi ;; \
      arm/v7)  set -- armhf   armv7-unknown-linux-gnueabihf arm-linux-gnueabihf ;; \
      386)     set -- i386    i686-unknown-linux-gnu        i686-linux-gnu ;; \
      ppc64le) set -- ppc64el powerpc64le-unknown-linux-gnu powerpc64le-linux-gnu ;; \
      s390x)   set -- s390x   s390x-unknown-linux-gnu       s390x-linux-gnu ;; \
      riscv64) set -- riscv64 riscv64gc-unknown-linux-gnu   riscv64-linux-gnu ;; \
      *) echo "unsupported platform: linux/${TARGETARCH}${TARGETVARIANT:+/$TARGETVARIANT}" >&2; exit 1 ;; \
    esac; \
    arch=$1 triple=$2 gnu=$3 cc=gcc; \
    packages=(rustc cargo ca-certificates); \
    if [ "$arch" != "$(dpkg --print-architecture)" ]; then \
      dpkg --add-architecture "$arch"; cc=$gnu-gcc; \
      packages+=("libstd-rust-dev:$arch" "gcc-${gnu//_/-}" "libc6-dev-$arch-cross"); \
    fi; \
    apt-get update && apt-get install -y --no-install-recommends "${packages[@]}" && rm -rf /var/lib/apt/lists/*; \
    echo "${triple} ${cc}" > /etc/rust-target

FROM packages AS toolchain
RUN --mount=type=bind,from=extra-certificates,target=/usr/local/share/ca-certificates/extra \
    update-ca-certificates

# One static binary of the workspace's package $PACKAGE, at /<arch><variant>/$PACKAGE:
# one folder per platform (amd64, arm64, armv6, armv7, ...), the layout of the host's
# dist/, which --build-context build=dist puts here instead (this stage is then not run).
FROM toolchain AS build
ARG TARGETARCH
ARG TARGETVARIANT
ARG PACKAGE=arch-server
# CARGO_INCREMENTAL=1 keeps rustc's incremental state in the kept target folder, so a
# rebuild after a change recompiles what the change reaches (a one-line change to the
# CLI: 10 s instead of 300 s for arm64 on 2 cores); multi-arch.sh passes it for its local
# CLI image. Unset, as releases leave it, every build of the workspace's crates is whole.
ARG CARGO_INCREMENTAL
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
ENV CARGO_HOME=/cargo
COPY Cargo.toml Cargo.lock build.rs buildkitd.toml registry.yml ./
COPY crates crates
COPY src src
COPY multiarch multiarch
# Platforms built at once share cargo's home: its own lock file there keeps two cargos
# from unpacking the same crate at once (a cache of the registry folder alone would not).
# The target folder outlives checkouts, and cargo judges the workspace's own sources by
# their times: a checkout older than the last build would link what that build left, so
# they are touched (the dependencies stay compiled).
# The CLI builds with the `cli` profile (release without LTO, Cargo.toml says why).
RUN --mount=type=cache,target=/cargo,id=multiarch-cargo-home \
    --mount=type=cache,target=/src/target,id=multiarch-target-${TARGETARCH}${TARGETVARIANT} \
    find Cargo.toml build.rs crates src multiarch -type f -exec touch {} + \
 && read -r triple cc < /etc/rust-target \
 && var=$(echo "${triple}" | tr 'a-z-' 'A-Z_') \
 && profile=release && if [ "${PACKAGE}" = multiarch ]; then profile=cli; fi \
 && env "CARGO_TARGET_${var}_LINKER=${cc}" "CC_${triple}=${cc}" RUSTFLAGS='-C target-feature=+crt-static' \
      cargo build --profile "${profile}" --locked -p "${PACKAGE}" --target "${triple}" \
 && mkdir -p "/${TARGETARCH}${TARGETVARIANT}" \
 && cp "target/${triple}/${profile}/${PACKAGE}" "/${TARGETARCH}${TARGETVARIANT}/"

# The multiarch CLI as an image: its static binary and the CA certificates, nothing else.
#   docker buildx build --target cli --build-arg PACKAGE=multiarch ...
FROM scratch AS cli
ARG TARGETARCH
ARG TARGETVARIANT
COPY --from=packages /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /${TARGETARCH}${TARGETVARIANT}/multiarch /usr/local/bin/multiarch
LABEL org.opencontainers.image.title="multiarch" \
      org.opencontainers.image.description="Builds, proves and explains multi-platform images" \
      org.opencontainers.image.source="https://github.com/multiarch-kit/multiarch" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
ENTRYPOINT ["/usr/local/bin/multiarch"]

# arch-server, the default target.
FROM ${RUNTIME_IMAGE}
ARG TARGETARCH
ARG TARGETVARIANT
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
# arm/v6 and arm/v7 share TARGETARCH, so the variant names the folder.
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

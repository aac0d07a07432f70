# The binary is built outside the image, as for the Prometheus project's own
# exporters, by the release build: `make docker` runs `make crossbuild` for
# linux/DOCKER_ARCH (.build/linux-amd64/imichat_exporter, a static
# CGO_ENABLED=0 binary) and then
#
#   docker build --build-arg ARCH=amd64 --build-arg VERSION=... --build-arg REVISION=... -t imichat_exporter:VERSION .
#
# A plain `docker build .` needs that binary built first (make crossbuild
# PLATFORMS=linux/amd64). The access token is given at run time, never baked
# into the image: mount a file and pass --imichat.access-token-file (see
# docs/configuration.md).
ARG ARCH="amd64"
ARG OS="linux"
FROM quay.io/prometheus/busybox-${OS}-${ARCH}:latest
LABEL maintainer="The imichat_exporter Authors"
LABEL org.opencontainers.image.authors="The imichat_exporter Authors" \
      org.opencontainers.image.vendor="The imichat_exporter Authors" \
      org.opencontainers.image.title="imichat_exporter" \
      org.opencontainers.image.description="Prometheus exporter for imi.chat chat queues" \
      org.opencontainers.image.source="https://github.com/imichat-exporter/imichat_exporter" \
      org.opencontainers.image.url="https://github.com/imichat-exporter/imichat_exporter" \
      org.opencontainers.image.documentation="https://github.com/imichat-exporter/imichat_exporter/blob/main/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.prometheus.image.variant="busybox"

ARG VERSION="unknown"
ARG REVISION="unknown"
LABEL org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

ARG ARCH="amd64"
ARG OS="linux"
COPY .build/${OS}-${ARCH}/imichat_exporter /bin/imichat_exporter
COPY LICENSE /LICENSE

EXPOSE      9878
USER        nobody
ENTRYPOINT  [ "/bin/imichat_exporter" ]

# The binary is built outside the image, as for the Prometheus project's own
# exporters: `make crossbuild PLATFORMS=linux/amd64` (or `make release`)
# writes .build/linux-amd64/imichat_exporter, a static (CGO_ENABLED=0)
# binary; then
#
#   docker build --build-arg ARCH=amd64 -t imichat_exporter .
#
# The access token is given at run time, never baked into the image: mount
# a file and pass --imichat.access-token-file (see docs/configuration.md).
ARG ARCH="amd64"
ARG OS="linux"
FROM quay.io/prometheus/busybox-${OS}-${ARCH}:latest
LABEL maintainer="The imichat_exporter Authors"
LABEL org.opencontainers.image.title="imichat_exporter" \
      org.opencontainers.image.description="Prometheus exporter for imi.chat chat queues" \
      org.opencontainers.image.licenses="Apache-2.0"

ARG ARCH="amd64"
ARG OS="linux"
COPY .build/${OS}-${ARCH}/imichat_exporter /bin/imichat_exporter

EXPOSE      9878
USER        nobody
ENTRYPOINT  [ "/bin/imichat_exporter" ]

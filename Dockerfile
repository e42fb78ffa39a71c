# axprobe in a container: the daemon (axprobe) and the VCS monitor shim (axprobe-monitor),
# static binaries on distroless. Read docs/DEPLOY.md ("Container") before running it on a
# cluster node: it needs --network host and the host's /run/axprobe.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t axprobe .
#   docker run -d --name axprobe --network host \
#     -v /etc/axprobe:/etc/axprobe:ro -v /run/axprobe:/run/axprobe \
#     -v /var/opt:/var/opt:rslave --pid host axprobe

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# The same command scripts/test-deploy.sh runs: static (no cgo), reproducible paths,
# stripped, version stamped into `axprobe version`.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/axprobe ./cmd/axprobe && \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/axprobe-monitor ./cmd/axprobe-monitor

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="axprobe" \
      org.opencontainers.image.description="Health-probe daemon for clustered Axigen mail servers under Veritas Cluster Server or Pacemaker" \
      org.opencontainers.image.source="https://github.com/axprobe/axprobe" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/axprobe /out/axprobe-monitor /usr/local/bin/
# distroless "nonroot" is uid/gid 65532. The socket directory is a volume so that the host's
# axprobe-monitor (run by VCS) can reach the socket.
USER 65532:65532
VOLUME ["/run/axprobe"]
# /metrics, /status.json and the status page (http.listen in the config).
EXPOSE 9728
ENTRYPOINT ["/usr/local/bin/axprobe", "run"]
CMD ["--config", "/etc/axprobe/axprobe.yaml"]

# unisse container image: a static binary on distroless, run as non-root.
#
#   make docker                       # or: docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t unisse .
#   docker run --rm -p 8000:8000 --ulimit nofile=1048576:1048576 \
#     -v "$PWD/config.json:/etc/unisse/config.json:ro" unisse -c /etc/unisse/config.json
#
# Without -c, unisse starts with its embedded defaults (memory broker, a
# generated HMAC secret and API key printed at start-up).

FROM golang:1.26 AS build
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Static (no cgo): the runtime image has no libc.
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/unisse/unisse/engine.Version=${VERSION}" \
      -o /out/unisse ./cmd/unisse

# distroless/static: CA certificates and tzdata (for Redis/NATS over TLS and
# JWKS over HTTPS), no shell, no package manager; the nonroot tag runs as
# uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/unisse /usr/local/bin/unisse
USER 65532:65532
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/unisse"]

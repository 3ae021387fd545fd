ARG REGISTRY=registry.example.com:5000
ARG GO_VERSION=1.22
ARG BASE=${REGISTRY}/base/debian:12
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS Builder
ARG TARGETARCH
RUN --mount=type=cache,target=/root/.cache \
    --mount=type=bind,source=go.sum,from=tools:1.0,target=/go.sum \
    go build
# preflight: ignore=PF102
FROM $BASE \
  AS runtime
COPY --from=builder /out /app
COPY --from=0 /out /app2
COPY --from=nginx:1.27 /etc/nginx /etc/nginx
RUN --mount=from=BUILDER,target=/b true
FROM runtime
# preflight: ignore-file=PF104

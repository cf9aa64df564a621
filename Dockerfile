# Builds shopq's binaries: worker, enqueue, scheduler.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/ ./cmd/worker ./cmd/enqueue ./cmd/scheduler

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates wget \
	&& rm -rf /var/lib/apt/lists/* && useradd --system --uid 10001 shopq
COPY --from=build /out/ /usr/local/bin/
USER shopq
WORKDIR /home/shopq
ENTRYPOINT ["worker"]

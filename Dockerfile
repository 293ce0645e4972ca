# syntax=docker/dockerfile:1
# A static switchyard on distroless, running as nonroot.
#   docker build -t switchyard .
#   docker run -v $PWD/switchyard.yaml:/etc/switchyard/switchyard.yaml:ro -p 3306:3306 -p 9090:9090 switchyard
# In a container the config must listen on 0.0.0.0 (listen: 0.0.0.0:3306,
# admin_listen: 0.0.0.0:9090): the defaults bind to 127.0.0.1 only.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/switchyard ./cmd/switchyard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchyard /switchyard
USER nonroot:nonroot
EXPOSE 3306 9090
ENTRYPOINT ["/switchyard"]
CMD ["--config", "/etc/switchyard/switchyard.yaml"]

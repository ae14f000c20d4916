FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends protobuf-compiler && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p zoe

FROM debian:bookworm-slim
COPY --from=build /src/target/release/zoe /usr/local/bin/zoe
EXPOSE 2181
ENTRYPOINT []
CMD ["zoe", "serve", "--listen", "0.0.0.0:2181"]

# syntax=docker/dockerfile:1
#
# CovetPy in production: the wheel is compiled in a builder stage (Python + Rust +
# maturin); the runtime image has Python, the wheel with its [standard] extras
# (uvicorn with uvloop and httptools) and gunicorn, and runs as an unprivileged user.
#
#   docker build -t covetpy .
#   docker run --rm -p 8000:8000 covetpy
#
# Serve your own app by replacing examples/ and the CMD's "examples.hello:app".

ARG PYTHON_VERSION=3.11
ARG RUST_VERSION=1.85

# The Rust toolchain (the crate's rust-version), copied into the builder.
FROM rust:${RUST_VERSION}-slim-bookworm AS rust

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=rust /usr/local/rustup /usr/local/rustup
COPY --from=rust /usr/local/cargo /usr/local/cargo
# rustc links with the system C toolchain.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
# The profile-guided build (tools/pgo_build.py): llvm-profdata from rustup's
# llvm-tools, and orjson for the training workload, which runs the instrumented wheel.
RUN pip install maturin==1.16.0 \
    && pip install orjson==3.13.0 \
    && rustup component add llvm-tools
WORKDIR /src
COPY Cargo.toml Cargo.lock pyproject.toml README.md ./
COPY rust ./rust
# Cargo.toml declares the benchmarks: cargo wants their sources present to load it.
COPY benches/router.rs benches/parsers.rs ./benches/
# The training workload: the in-process benchmark scenarios and their CovetPy app.
COPY benches/pgo_train.py benches/asgi_inprocess.py ./benches/
COPY benches/apps/__init__.py benches/apps/common.py benches/apps/covetpy.py ./benches/apps/
COPY tools/pgo_build.py ./tools/
COPY python ./python
RUN python tools/pgo_build.py wheel --out /wheels

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 covet \
    && useradd --system --uid 10001 --gid covet --home-dir /app --shell /usr/sbin/nologin covet
# The versions CI tested (requirements-dev.txt) pin every server package installed here.
COPY requirements-dev.txt /tmp/constraints.txt
# hadolint ignore=DL3013
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    for wheel in /wheels/covetpy-*.whl; do \
        pip install --constraint /tmp/constraints.txt "${wheel}[standard]" gunicorn uvicorn-worker \
        || exit 1; \
    done \
    && rm /tmp/constraints.txt
WORKDIR /app
COPY examples ./examples
COPY deploy/gunicorn.conf.py ./deploy/gunicorn.conf.py
USER 10001:10001
ENV GUNICORN_BIND=0.0.0.0:8000 \
    HEALTHCHECK_URL=http://127.0.0.1:8000/
EXPOSE 8000
# No curl in the slim image: Python's urllib asks the app; any error or a status
# >= 400 makes the check fail.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "examples.hello:app"]

# raw-processor: one image for the API (gunicorn), the workers, beat and `rawproc serve`,
# chosen by the command. See docs/deploy.md.
#
#   DOCKER_BUILDKIT=1 docker build -t raw-processor .
#   # behind a TLS-intercepting proxy, hand its CA bundle to the build (never stored in a layer):
#   DOCKER_BUILDKIT=1 docker build --secret id=extra_ca,src=/path/to/ca-bundle.pem -t raw-processor .
#   # from another base (a private mirror, a locally made Debian bookworm image):
#   DOCKER_BUILDKIT=1 docker build --build-arg BASE_IMAGE=registry.example.com/debian:bookworm-slim .
#
# BASE_IMAGE is any Debian bookworm-based image: one that brings Python 3.11+ (the official
# python:3.11-slim-bookworm) is used as it is; on one without Python (debian:bookworm-slim)
# Debian's python3 (3.11) is installed. Every Python package is a wheel, so no compiler is
# needed in any stage.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- python: the base plus a Python 3.11+ interpreter and CA certificates ----------------
FROM ${BASE_IMAGE} AS python
RUN set -eu; \
    need=""; \
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || need="python3"; \
    [ -s /etc/ssl/certs/ca-certificates.crt ] || need="$need ca-certificates"; \
    if [ -n "$need" ]; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $need; \
        rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin; \
    fi; \
    python3 -c 'import sys; assert sys.version_info >= (3, 11), sys.version'

# --- build: uv installs the locked dependencies and the project into /app/.venv ---------
FROM python AS build
ARG UV_VERSION=0.13.9
# pip exists in the python images; Debian's python3 needs python3-pip for this stage only.
RUN --mount=type=secret,id=extra_ca set -eu; \
    if ! python3 -m pip --version >/dev/null 2>&1; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-pip; \
    fi; \
    if [ -s /run/secrets/extra_ca ]; then export PIP_CERT=/run/secrets/extra_ca; fi; \
    python3 -m pip install --no-cache-dir --root-user-action=ignore --break-system-packages \
        --target /opt/uv "uv==${UV_VERSION}"
ENV PATH=/opt/uv/bin:$PATH \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
# The dependencies first, in a layer of their own: it is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=secret,id=extra_ca --mount=type=cache,target=/root/.cache/uv set -eu; \
    if [ -s /run/secrets/extra_ca ]; then export SSL_CERT_FILE=/run/secrets/extra_ca; fi; \
    uv venv --python "$(command -v python3)" /app/.venv; \
    uv sync --locked --no-dev --no-install-project
COPY README.md manage.py ./
COPY config ./config
COPY rawproc ./rawproc
# uv keys its cache of a local project on pyproject.toml alone: rebuild it from this source.
RUN --mount=type=secret,id=extra_ca --mount=type=cache,target=/root/.cache/uv set -eu; \
    if [ -s /run/secrets/extra_ca ]; then export SSL_CERT_FILE=/run/secrets/extra_ca; fi; \
    uv sync --locked --no-dev --no-editable \
        --refresh-package raw-processor --reinstall-package raw-processor
# Static files are part of the image (served by whitenoise), not of the data volume.
RUN SECRET_KEY=collectstatic-only RAWPROC_DATA_DIR=/tmp/data RAWPROC_STATIC_ROOT=/app/static \
    DJANGO_SETTINGS_MODULE=config.settings \
    /app/.venv/bin/python -m django collectstatic --noinput --verbosity 0

# --- runtime: the interpreter, the virtual environment, nothing else --------------------
FROM python AS runtime
ARG VERSION=0.1.0
# Set by the build: --build-arg VERSION=$(git describe) --build-arg SOURCE=<repository URL>
ARG SOURCE=""
LABEL org.opencontainers.image.title="raw-processor" \
      org.opencontainers.image.description="Camera RAW ingestion: metadata and web renditions behind signed URLs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}"
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin rawproc \
    && mkdir -p /data \
    && chown rawproc:rawproc /data
COPY --from=build /app/.venv /app/.venv
# `rawproc serve` refreshes the static files at start, so they belong to the service user.
COPY --from=build --chown=rawproc:rawproc /app/static /app/static
COPY docker/healthcheck.py docker/prepare.py /app/
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=config.settings \
    RAWPROC_DATA_DIR=/data \
    RAWPROC_STATIC_ROOT=/app/static
WORKDIR /app
USER rawproc
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=15s --start-period=30s --retries=3 \
    CMD ["python", "/app/healthcheck.py"]
# Default: everything in one container on the embedded defaults (a laptop). Compose and
# multi-machine deployments give the API, worker and beat commands (docs/deploy.md).
CMD ["rawproc", "serve", "--host", "0.0.0.0", "--port", "8000"]

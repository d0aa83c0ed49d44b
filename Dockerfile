# tradebot container image: multi-stage, slim, runs as a non-root user, no secret inside.
#
# Usual path (a registry is reachable):
#   podman build --format docker -t localhost/tradebot:latest .    (or: docker build -t ...)
#   (--format docker: podman's default OCI format drops the HEALTHCHECK)
# Offline path (no registry; base built from Debian packages, wheels built on the host):
#   mmdebstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tzdata,libgomp1 \
#       bookworm base.tar && podman import base.tar localhost/tradebot-base:bookworm
#   pip wheel -w wheelhouse . "psycopg[binary]"
#   podman build --format docker -v "$PWD/wheelhouse:/wheelhouse:ro" \
#       --build-arg BASE_IMAGE=localhost/tradebot-base:bookworm \
#       --build-arg PIP_ARGS="--no-index --find-links /wheelhouse" -t localhost/tradebot:latest .
#   (pip needs setuptools>=77 and wheel in the wheelhouse too: pip download -d wheelhouse setuptools wheel;
#    PostgreSQL for compose: docker/postgres/Containerfile)
# (docs/decisions/0019-operations.md; README "Running in production")

ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG PIP_ARGS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY tradebot ./tradebot
# TA-Lib comes as a binary wheel (ta-lib>=0.6.5 bundles the C library): no compiler needed
RUN python3 -m venv /opt/tradebot \
 && /opt/tradebot/bin/pip install ${PIP_ARGS} . "psycopg[binary]>=3.1" \
 && /opt/tradebot/bin/python -c "import talib, tradebot; print('talib', talib.__version__)" \
 && find /opt/tradebot -name '__pycache__' -prune -exec rm -rf {} + \
 && rm -rf /opt/tradebot/lib/python3*/site-packages/pip /opt/tradebot/bin/pip*

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="tradebot" \
      org.opencontainers.image.description="Crypto trading toolkit: data, backtests, optimization, paper trading"
RUN (getent group tradebot || groupadd --system --gid 10001 tradebot) \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin tradebot \
 && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /opt/tradebot /opt/tradebot
COPY --chmod=0755 docker/entrypoint.sh /opt/tradebot/bin/tradebot-entrypoint
ENV PATH=/opt/tradebot/bin:$PATH \
    TRADEBOT_HOME=/data \
    NUMBA_CACHE_DIR=/data/.cache/numba \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=60s --timeout=20s --start-period=60s --retries=3 \
    CMD ["tradebot-entrypoint", "doctor", "--quick"]
# TRADEBOT_*_FILE variables name secret files (see docker/entrypoint.sh)
ENTRYPOINT ["tradebot-entrypoint"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

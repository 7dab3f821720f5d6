# syntax=docker/dockerfile:1
# riskwall, the risk-firewall sidecar: `make image` (or `docker build -t riskwall .`).
#
# Runs `riskwall run` as an unprivileged user (uid 10001), with the egress allowlist on, the explicit proxy
# on 127.0.0.1:8080 and the admin endpoint (/healthz, /readyz, /metrics; the kill switch needs its token) on
# 0.0.0.0:9090, where probes and Prometheus reach it. The proxy listens on loopback because the bot shares
# the sidecar's network namespace (a Kubernetes pod; `network_mode: service:riskwall` in Compose); a listener
# off loopback also needs RISKWALL_CLIENT_CIDRS or RISKWALL_PROXY_AUTH, or riskwall refuses to start.
# The proxy CA is created on first start in the confdir volume: mount it read-only into the bot, which
# trusts mitmproxy-ca-cert.pem from it (the CA's private key, mitmproxy-ca.pem, is readable by uid 10001 only).
# Every setting is an environment variable (RISKWALL_*; see README "riskwall run options"); arguments given
# to `docker run IMAGE ...` are appended to `riskwall run`.

FROM python:3.12-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY addons/ addons/
# the project's own package and its pinned-by-range dependencies from pyproject.toml, into one venv
RUN python -m venv /opt/riskwall \
    && /opt/riskwall/bin/pip install --no-cache-dir . \
    && /opt/riskwall/bin/riskwall --help > /dev/null

FROM python:3.12-slim-bookworm
LABEL org.opencontainers.image.title="riskwall" \
      org.opencontainers.image.description="Risk-firewall sidecar for crypto-futures trading bots" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 riskwall \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/riskwall --shell /usr/sbin/nologin riskwall \
    && mkdir -p /var/lib/riskwall/confdir \
    && chown -R 10001:10001 /var/lib/riskwall \
    && chmod 0755 /var/lib/riskwall/confdir
COPY --from=build /opt/riskwall /opt/riskwall
COPY policies/ /etc/riskwall/policies/
ENV PATH=/opt/riskwall/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/var/lib/riskwall \
    RISKWALL_POLICY=/etc/riskwall/policies \
    RISKWALL_LISTEN=127.0.0.1:8080 \
    RISKWALL_ADMIN=0.0.0.0:9090 \
    RISKWALL_CONFDIR=/var/lib/riskwall/confdir \
    RISKWALL_EGRESS=allowlist
# the CA: a volume, so the bot can mount it and the CA survives a new container
VOLUME ["/var/lib/riskwall/confdir"]
WORKDIR /var/lib/riskwall
USER 10001:10001
EXPOSE 9090
# Python turns SIGINT into a clean shutdown (open requests finish, the store closes); as PID 1 it would
# ignore the default SIGTERM
STOPSIGNAL SIGINT
# the admin endpoint's liveness route, on whatever port RISKWALL_ADMIN names (the image has no curl)
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; h, _, p = os.environ.get('RISKWALL_ADMIN', '127.0.0.1:9090').rpartition(':'); h = h.strip('[]'); h = '127.0.0.1' if h in ('', '0.0.0.0', '::') else h; h = f'[{h}]' if ':' in h else h; u.build_opener(u.ProxyHandler({})).open(f'http://{h}:{p}/healthz', timeout=2)"]
ENTRYPOINT ["riskwall", "run"]

# For people who use Docker (no Docker engine is needed for anything else in this repository).
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir uv
WORKDIR /srv/wattlas
COPY pyproject.toml uv.lock package.json package-lock.json README.md ./
RUN uv sync --frozen --no-dev --no-install-project && npm ci --no-audit --no-fund --loglevel=error
COPY . .
RUN uv sync --frozen --no-dev
ENV WATTLAS_HOST=0.0.0.0 WATTLAS_PORT=8000 PATH="/srv/wattlas/.venv/bin:$PATH"
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"
CMD ["sh", "-c", "wattlas migrate && wattlas serve"]

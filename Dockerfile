# factflow server image. Build: `docker build -t factflow .` (or `make up`).
# Stage 1 resolves the locked workspace into a self-contained virtual environment with uv.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock .python-version README.md ./
COPY backend/packages backend/packages
COPY workflows workflows
RUN uv sync --frozen --no-dev --all-packages --no-editable

# Stage 2 carries only the environment and the shipped pipelines, and runs as a non-root user.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 factflow
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY backend/config/pipelines /app/backend/config/pipelines
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FACTFLOW_HOST=0.0.0.0 \
    FACTFLOW_PORT=8000 \
    FACTFLOW_PIPELINES_DIR=/app/backend/config/pipelines \
    FACTFLOW_DATA_DIR=/home/factflow/data
USER factflow
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/api/v1/system/health', timeout=4).status != 200)"]
ENTRYPOINT ["factflow-server"]
CMD ["serve"]

# factflow server image. Build: `docker build -t factflow .` (or `make up`).
# The build steps live in docker/build-rootfs.sh, which tests/docker/test_image.py runs too (see
# docs/guides/deployment.md for what that proves without a Docker engine).

# Stage 1 resolves the locked workspace into a self-contained virtual environment in /app.
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv==0.13.10
WORKDIR /src
COPY pyproject.toml uv.lock .python-version README.md ./
COPY backend/packages backend/packages
COPY backend/config/pipelines backend/config/pipelines
COPY workflows workflows
COPY docker docker
RUN sh docker/build-rootfs.sh venv /src
RUN sh docker/build-rootfs.sh app /src

# Stage 2 carries only /app (the environment, the shipped pipelines, the health check) and runs
# as the non-root user `factflow`.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 factflow
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    FACTFLOW_HOST=0.0.0.0 \
    FACTFLOW_PORT=8000 \
    FACTFLOW_PIPELINES_DIR=/app/backend/config/pipelines \
    FACTFLOW_DATA_DIR=/home/factflow/data
USER 10001:10001
WORKDIR /home/factflow
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 CMD ["python", "/app/healthcheck.py"]
ENTRYPOINT ["factflow-server"]
CMD ["serve"]

#!/bin/sh
# The server image's build steps, run by the Dockerfile and by tests/docker/test_image.py, which
# builds the same tree without a Docker engine and starts the server from it as a non-root user.
#
#   build-rootfs.sh venv SRC   resolve SRC's locked workspace (uv.lock) into $ROOTFS/app/.venv:
#                              no dev tools, workspace packages installed as wheels (not editable)
#   build-rootfs.sh app SRC    copy the shipped pipelines and the health check into $ROOTFS/app
#
# ROOTFS is unset in the image, so everything lands in /app; tests point it at a scratch directory.
set -eu

step="$1"
src="$2"
app="${ROOTFS:-}/app"

case "$step" in
  venv)
    cd "$src"
    UV_PROJECT_ENVIRONMENT="$app/.venv" UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
      uv sync --frozen --no-dev --all-packages --no-editable --quiet
    ;;
  app)
    mkdir -p "$app/backend/config"
    rm -rf "$app/backend/config/pipelines"
    cp -R "$src/backend/config/pipelines" "$app/backend/config/pipelines"
    cp "$src/docker/healthcheck.py" "$app/healthcheck.py"
    ;;
  *)
    echo "usage: build-rootfs.sh venv|app SRC" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Install a real, third-party OTLP receiver (Arize Phoenix) into its own virtual environment, so that the
# tracing integration test can export spans to it over OTLP and read them back through its REST API.
#
# It lives outside the project's venv because Phoenix pulls in a large dependency tree (SQLAlchemy, Strawberry,
# pandas, ...) that nativa itself must not depend on. Idempotent: a second run with the venv already working
# returns at once.
#
#   scripts/install_otlp_receiver.sh            # installs into $NATIVA_PHOENIX_VENV or ~/.cache/nativa/phoenix-venv
#
# The test finds it through $NATIVA_PHOENIX_VENV or that default path, and skips with a clear reason otherwise.
set -euo pipefail

PHOENIX_VERSION="${NATIVA_PHOENIX_VERSION:-20.26.1}"
VENV="${NATIVA_PHOENIX_VENV:-${HOME}/.cache/nativa/phoenix-venv}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ -x "$VENV/bin/phoenix" ] && "$VENV/bin/python" -c "import importlib.metadata as m; \
assert m.version('arize-phoenix') == '$PHOENIX_VERSION'" >/dev/null 2>&1; then
    echo "install_otlp_receiver: arize-phoenix $PHOENIX_VERSION already in $VENV"
    exit 0
fi

echo "install_otlp_receiver: installing arize-phoenix $PHOENIX_VERSION into $VENV"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
# pip warns once per package about index locations it skips; keep the log to what matters.
quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet "$VENV/bin/python" -m pip install --quiet --upgrade pip
quiet "$VENV/bin/python" -m pip install --quiet "arize-phoenix==$PHOENIX_VERSION"
"$VENV/bin/python" -c "import phoenix; print('install_otlp_receiver: phoenix', phoenix.__version__, 'ok')"

#!/usr/bin/env bash
# Install the real Azure CLI into its own virtual environment (/work/main/.venv-az by default).
# azure-cli pins azure-core/azure-mgmt-* versions that conflict with the lesson SDKs, so it cannot
# share .venv (see /work/shared/spec/azure-cli.md §12). Idempotent: a quick no-op when present.
set -euo pipefail

AZ_VERSION="${AZ_VERSION:-2.91.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${AZ_VENV:-$ROOT/.venv-az}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

installed_version() {
    "$VENV/bin/python" - <<'PY' 2>/dev/null || true
from importlib.metadata import version
print(version("azure-cli"))
PY
}

if [[ -x "$VENV/bin/az" && "$(installed_version)" == "$AZ_VERSION" ]]; then
    echo "azure-cli $AZ_VERSION already installed in $VENV"
    exit 0
fi

echo "installing azure-cli $AZ_VERSION into $VENV (one to two minutes)"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
# (the grep drops pip's warnings about this machine's unused local index folders)
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "azure-cli==$AZ_VERSION" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"$VENV/bin/python" -c "import azure.cli.core" # proves the install imports (no az call: it would write ~/.azure)
echo "azure-cli $(installed_version) installed: $VENV/bin/az"

#!/usr/bin/env bash
# The benchmarks' comparison environment (.venv-bench): Evidently, which the drift benchmark measures
# our detector against. Evidently 0.7 needs pandas < 3, so it cannot share .venv. Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-bench"
if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c "import evidently" 2>/dev/null; then
    exit 0
fi
echo "installing Evidently 0.7.23 into $VENV for the drift benchmark"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet "evidently==0.7.23" "pandas<3" "numpy" "scipy" "scikit-learn" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)

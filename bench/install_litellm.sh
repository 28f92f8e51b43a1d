#!/usr/bin/env bash
# Install LiteLLM proxy 1.108.11 into /tmp/litellm-venv (the recipe of /work/shared/bench/README.md):
# its requirements (base + 'proxy' extra) with the certifi and litellm-enterprise pins relaxed,
# then the wheel itself without dependencies. Idempotent; exits non-zero with a reason on stderr.
# Never installs litellm 1.82.7, 1.82.8 or 1.107.0 (compromised releases): a constraints file forbids them.
set -euo pipefail
VERSION=1.108.11
VENV=${LITELLM_VENV:-/tmp/litellm-venv}
WHL_DIR=${LITELLM_WHL:-/tmp/litellm-whl}
PY=${PYTHON:-python3}

if [ -x "$VENV/bin/litellm" ] && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null)" = "$VERSION" ]; then
  echo "litellm $VERSION already in $VENV"; exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
mkdir -p "$WHL_DIR"
constraints="$WHL_DIR/constraints.txt"
printf 'litellm!=1.82.7,!=1.82.8,!=1.107.0\n' > "$constraints"
ls "$WHL_DIR"/litellm-$VERSION-*.whl >/dev/null 2>&1 ||
  "$VENV/bin/pip" download -q --no-deps -d "$WHL_DIR" "litellm==$VERSION"
whl=$(ls "$WHL_DIR"/litellm-$VERSION-*.whl | head -1)

# Requires-Dist of the base package and the 'proxy' extra, markers evaluated here, with the versions
# dropped on certifi (the registry lacks the pinned one) and litellm-enterprise.
"$VENV/bin/python" - "$whl" > "$WHL_DIR/requirements.txt" <<'PY'
import sys, zipfile
from pip._vendor.packaging.requirements import Requirement
with zipfile.ZipFile(sys.argv[1]) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    text = z.read(meta).decode()
seen = set()
for line in text.splitlines():
    if not line.startswith("Requires-Dist:"):
        continue
    req = Requirement(line.split(":", 1)[1].strip())
    if req.marker is not None and not req.marker.evaluate({"extra": "proxy"}):
        continue
    name = req.name.lower()
    spec = "" if name in {"certifi", "litellm-enterprise"} else str(req.specifier)
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    entry = f"{req.name}{extras}{spec}"
    if entry not in seen:
        seen.add(entry)
        print(entry)
PY
"$VENV/bin/pip" install -q -c "$constraints" -r "$WHL_DIR/requirements.txt"
"$VENV/bin/pip" install -q --no-deps "$whl"
got=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))')
case "$got" in
  1.82.7|1.82.8|1.107.0) echo "refusing: compromised litellm $got got installed" >&2; "$VENV/bin/pip" uninstall -y -q litellm; exit 1;;
esac
[ "$got" = "$VERSION" ] || { echo "expected litellm $VERSION, found $got" >&2; exit 1; }
echo "litellm $got installed in $VENV"

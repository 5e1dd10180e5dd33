#!/usr/bin/env bash
# The device install on this host: the runtime tests in a fresh venv that holds only the
# project wheel and its runtime dependencies (no torch, no onnx, no plot/bench extras).
#
#   bash scripts/device-venv-check.sh       # run by .ci/run; PYTHON picks the interpreter
#
# The tests run from a copy of tests/ outside the checkout, so `edge_affect` is imported from
# the installed wheel, not from the source tree; under scripts/with-pulseaudio.sh so that the
# audio-stack tests run against a private PulseAudio server too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
WORK=$(mktemp -d /tmp/edge-affect-device-venv.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

rm -rf build/lib build/bdist.*  # setuptools packs whatever an earlier build left there
"$PYTHON" -m pip wheel -q --no-deps -w "$WORK/wheels" . 2>&1 | grep -v '^WARNING' >&2 || true
"$PYTHON" -m venv "$WORK/venv"
wheel=$(ls "$WORK"/wheels/edge_affect-*.whl)
"$WORK/venv/bin/pip" install -q "$wheel[test]" 2>&1 |
  grep -v '^WARNING' >&2 || true
mkdir "$WORK/src"
cp -r tests pyproject.toml "$WORK/src/"
cd "$WORK/src"  # no edge_affect/ here: imports resolve to the venv
"$WORK/venv/bin/python" - "$WORK/venv" <<'EOF'
import importlib.util
import sys
from pathlib import Path

host_only = [m for m in ("torch", "onnx", "onnxscript", "matplotlib") if importlib.util.find_spec(m)]
if host_only:
    sys.exit(f"device-venv-check: the device install pulled in {', '.join(host_only)}")
import edge_affect

where = Path(edge_affect.__file__).resolve()
if not where.is_relative_to(Path(sys.argv[1]).resolve()):
    sys.exit(f"device-venv-check: edge_affect imported from {where}, not from the venv")
print(f"device-venv-check: edge_affect {edge_affect.__version__} from the venv's site-packages")
# the distribution's top-level names: one prefix, nothing that collides with another package
site = where.parent.parent
tops = sorted(p.name for p in site.iterdir() if p.is_dir() and (p / "__init__.py").exists())
ours = [name for name in tops if name in {"train", "export"} or name.startswith("edge_affect")]
if ours != ["edge_affect", "edge_affect_export", "edge_affect_train"]:
    sys.exit(f"device-venv-check: the wheel installs the top-level packages {ours}")
print(f"device-venv-check: top-level packages installed: {', '.join(ours)}")
EOF
# the one edge-affect command starts without the host extras, and a host command says which
# extra it needs (exit 3), one line
for args in "train student --data c --method baseline --out o" "export c.pt --out m.onnx"; do
  set +e
  message=$("$WORK/venv/bin/edge-affect" $args 2>&1 >/dev/null)
  status=$?
  set -e
  extra=$([[ $args == export* ]] && echo export || echo train)
  if [[ $status != 3 || $message != "error: this command needs the [$extra] extra"* ]]; then
    echo "device-venv-check: 'edge-affect $args' gave exit $status: $message" >&2
    exit 1
  fi
  echo "device-venv-check: 'edge-affect ${args%% --*}' without the extra: $message"
done
bash "$ROOT/scripts/with-pulseaudio.sh" "$WORK/venv/bin/python" -m pytest tests/runtime \
  -q -p no:cacheprovider

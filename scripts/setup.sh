#!/usr/bin/env bash
# Fresh-machine setup for Tessera (Debian 12): system packages, optimized BLAS, npm dependencies,
# native addon + TypeScript build, then a `tessera doctor` check. Safe to re-run: installed
# packages are detected with dpkg-query (no apt-get update then) and up-to-date npm deps are kept.
#
#   bash scripts/setup.sh
#   LIBTORCH=/opt/libtorch bash scripts/setup.sh    # use a libtorch from elsewhere (skips libtorch-dev)
#   TESSERA_SETUP_VERBOSE=1 bash scripts/setup.sh   # stream command output (else it goes to setup.log)
#
# Node.js >= 20 is a prerequisite (Debian 12's own nodejs is 18).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
LOG="$ROOT/setup.log"
: >"$LOG"
START=$SECONDS
STEP_START=$SECONDS

say() { printf '[setup] %s\n' "$*"; }
begin() {
  STEP_START=$SECONDS
  CURRENT="$1"
  printf '[setup] %s ... ' "$1"
}
done_() { printf '%s (%ss)\n' "${1:-done}" "$((SECONDS - STEP_START))"; }
# fail <what failed> <how to fix>: the reason, the end of the log, the fix; exit 1.
fail() {
  printf 'FAILED\n' >&2
  printf '[setup] FAILED: %s\n' "$1" >&2
  if [ -s "$LOG" ]; then
    printf '[setup] last lines of %s:\n' "$LOG" >&2
    tail -n 25 "$LOG" | sed 's/^/    /' >&2
  fi
  printf '[setup] fix: %s\n' "$2" >&2
  exit 1
}
# run <cmd…>: output to the log (or also the terminal when verbose); returns the command's status.
run() {
  printf '\n$ %s\n' "$*" >>"$LOG"
  if [ "${TESSERA_SETUP_VERBOSE:-}" = 1 ]; then
    printf '\n' # the step line is still open
    "$@" 2>&1 | tee -a "$LOG"
    return "${PIPESTATUS[0]}"
  fi
  "$@" >>"$LOG" 2>&1
}

SUDO=()
can_root() {
  if [ "$(id -u)" -eq 0 ]; then return 0; fi
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); return 0; fi
  return 1
}

# ---------------------------------------------------------------- 1. system packages
begin "system packages"
PKGS=(libopenblas0-pthread libgloo-dev build-essential g++ make python3 time)
if [ -n "${LIBTORCH:-}" ]; then
  [ -d "$LIBTORCH/include" ] && [ -d "$LIBTORCH/lib" ] ||
    fail "LIBTORCH=$LIBTORCH has no include/ and lib/" \
      "point LIBTORCH at an unpacked libtorch (the directory that contains include/ and lib/), or unset it to use Debian's libtorch-dev"
else
  PKGS=(libtorch-dev "${PKGS[@]}")
fi
if ! command -v dpkg-query >/dev/null 2>&1; then
  done_ "skipped: not a Debian system; install libtorch >= 1.13 (set LIBTORCH=<prefix>), a C++17 compiler, make and python3 yourself"
else
  missing=()
  for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    done_ "all ${#PKGS[@]} installed${LIBTORCH:+ (libtorch-dev skipped: LIBTORCH=$LIBTORCH)}"
  else
    can_root || fail "need root to install: ${missing[*]}" \
      "run as root or install sudo, or install them yourself: apt-get install ${missing[*]}"
    run "${SUDO[@]}" apt-get update ||
      fail "apt-get update failed" "check network access and the apt sources in /etc/apt/sources.list.d/, then re-run"
    run "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
      fail "apt-get install ${missing[*]} failed" \
        "see the apt error above; on Debian 12 these are in 'main' (libtorch-dev is 1.13.1). Retry: apt-get install ${missing[*]}"
    done_ "installed ${missing[*]}"
  fi
fi

# ---------------------------------------------------------------- 2. BLAS alternative
# Debian's libtorch calls whatever libblas.so.3 / liblapack.so.3 the alternatives system selects.
# The reference (netlib) BLAS makes matmul 8-17x slower, so switch it to OpenBLAS (pthread).
begin "BLAS"
if ! command -v update-alternatives >/dev/null 2>&1; then
  done_ "skipped: no update-alternatives"
else
  MA=$(gcc -print-multiarch 2>/dev/null || true)
  [ -n "$MA" ] || MA="$(uname -m)-linux-gnu"
  notes=()
  for lib in blas lapack; do
    name="lib$lib.so.3-$MA"
    want="/usr/lib/$MA/openblas-pthread/lib$lib.so.3"
    cur=$(update-alternatives --query "$name" 2>/dev/null | sed -n 's/^Value: //p' || true)
    case "$cur" in
      "") notes+=("lib$lib.so.3: no alternative registered") ;;
      "/usr/lib/$MA/$lib/lib$lib.so.3"*)
        [ -e "$want" ] || fail "lib$lib.so.3 is the reference implementation and $want is missing" \
          "apt-get install libopenblas0-pthread, then re-run"
        can_root || fail "need root to select $want" "run as root: update-alternatives --set $name $want"
        run "${SUDO[@]}" update-alternatives --set "$name" "$want" ||
          fail "update-alternatives --set $name $want failed" "run it as root and check the output in $LOG"
        notes+=("lib$lib.so.3: switched reference -> openblas-pthread")
        ;;
      "$want") notes+=("lib$lib.so.3: openblas-pthread") ;;
      *) notes+=("lib$lib.so.3: keeping $cur") ;;
    esac
  done
  joined=$(printf '%s; ' "${notes[@]}")
  done_ "${joined%; }"
fi

# ---------------------------------------------------------------- 3. Node.js
begin "node"
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
  fail "node/npm not found" "install Node.js >= 20 (Debian 12 ships 18: use NodeSource's nodejs 20.x or nvm), then re-run"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] ||
  fail "Node.js $(node --version) is too old" "install Node.js >= 20 (NodeSource nodejs 20.x or nvm), then re-run"
done_ "$(node --version), npm $(npm --version 2>/dev/null)"

# ---------------------------------------------------------------- 4. npm dependencies
if [ -f package-lock.json ]; then NPM=(npm ci); else NPM=(npm install); fi
begin "${NPM[*]}"
# npm's hidden lockfile is newer than the manifests only after a completed install of them.
if [ node_modules/.package-lock.json -nt package.json ] && { [ ! -f package-lock.json ] || [ node_modules/.package-lock.json -nt package-lock.json ]; } &&
  npm ls --depth=0 >/dev/null 2>&1; then
  done_ "skipped: node_modules is up to date"
else
  # --include=dev: typescript, node-gyp, eslint and prettier are devDependencies, needed even with
  # NODE_ENV=production (the build, and `npm run lint` in .ci/run). None of them has an install script.
  run "${NPM[@]}" --foreground-scripts --include=dev --no-audit --no-fund ||
    fail "${NPM[*]} failed" "check access to the npm registry ($(npm config get registry 2>/dev/null)) and the log above; then re-run"
  done_
fi

# ---------------------------------------------------------------- 5. build
# scripts/node-gyp.mjs compiles against the running Node's installed headers (/usr/include/node)
# when they match, so no header download and no dependence on a `nodedir` user setting.
begin "native addon (npm run build:native)"
run npm run build:native ||
  fail "native build failed" \
    "libtorch headers/libraries missing? install libtorch-dev or set LIBTORCH=<prefix>; compiler killed? the build runs 2 jobs of ~2 GB each. Full log: $LOG"
done_
begin "TypeScript (npm run build:ts)"
run npm run build:ts || fail "TypeScript build failed (type errors are listed above)" "fix the reported errors, then: npm run build:ts"
done_

# ---------------------------------------------------------------- 6. check
begin "tessera doctor"
DOCTOR=$(node dist/src/cli/main.js doctor --json 2>>"$LOG") ||
  fail "the built engine does not load" "run 'node dist/src/cli/main.js doctor' for details; rebuild with: npm run build"
SUMMARY=$(printf '%s' "$DOCTOR" | node -e '
  const j = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const s = `libtorch ${j.libtorch.version}, ${j.threads.intraOp} threads, BLAS ${j.blas.label}, matmul ${j.matmul.gflops} GFLOP/s, CUDA ${j.cuda.available ? "yes" : "no"}`;
  console.log([s, ...j.warnings.map((w) => "WARNING: " + w)].join("\n[setup]   "));')
done_ "$SUMMARY"

say "ready in $((SECONDS - START))s. Try: npx tessera --help"

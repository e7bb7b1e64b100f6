#!/usr/bin/env bash
# Install the Debian 12 packages that building and testing traced need.
# Idempotent: when every package is installed it does nothing and says
# nothing (-q) or one line. Run as root (or with sudo available).
#
#   scripts/setup.sh [-q]
set -euo pipefail

quiet=0
[[ "${1:-}" == "-q" ]] && quiet=1

# Why each package is here: README.md, "Dependencies".
packages=(
    build-essential cmake pkg-config      # C toolchain and build
    clang lld                             # fuzz targets, wasm test programs
    libjansson-dev                        # JSON: spec runner, protocol
    libuv1-dev libwebsockets-dev libwebsockets-evlib-uv  # the daemon's loop
    check                                 # unit tests
    wabt                                  # wat2wasm, wast2json
    wasi-libc libclang-rt-14-dev-wasm32   # C -> wasm32-wasi test programs
    llvm-14                               # llvm-dwarfdump: tests/debug/run.sh
    valgrind hyperfine                    # memory checks, benchmarks
    chromium                              # the browser client's test (tests/web)
)

missing=()
for p in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]]; then
        missing+=("$p")
    fi
done

# npm packages, pinned by each directory's package-lock.json: the browser
# client's build (client/web) and the browser test's driver (tests/web).
# Installed again only when the lock file changed since the last install.
npm_install() {
    local dir=$1
    [[ -f "$dir/package-lock.json" ]] || return 0
    if ! command -v npm >/dev/null; then
        echo "setup: npm not found: $dir's packages are not installed" >&2
        return 0
    fi
    if [[ ! -f "$dir/node_modules/.package-lock.json" ||
          "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
        echo "setup: npm install in ${dir#"$repo"/}"
        # `npm install`, not `npm ci`: with the lock present it installs
        # exactly the locked versions and leaves the lock as it is, but
        # npm 11 here writes locks whose entries for other platforms'
        # optional packages (rollup's native binaries) are empty, and
        # `npm ci` rejects such a lock as out of sync.
        (cd "$dir" && npm install --no-audit --no-fund --loglevel=error) || return 1
    fi
}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ ${#missing[@]} -eq 0 ]]; then
    npm_install "$repo/client/web"
    npm_install "$repo/tests/web"
    [[ $quiet -eq 1 ]] || echo "setup: all ${#packages[@]} packages are installed"
    exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then
        sudo=(sudo)
    else
        echo "setup: need root to install packages (no sudo found)" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q </dev/null
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
npm_install "$repo/client/web"
npm_install "$repo/tests/web"

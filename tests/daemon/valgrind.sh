#!/usr/bin/env bash
# The daemon under valgrind (memcheck, --leak-check=full,
# --error-exitcode=99) through a short scenario: start, two runs to the
# end (a call-heavy invoke and a WASI program), a subscriber to each, a
# third run still going at SIGTERM with a live and a stalled subscriber,
# then SIGTERM. Fails unless traced exits 0 with no error and no leak.
# ~15 s on 2 cores. Usage: tests/daemon/valgrind.sh BUILD_DIR
# (RelWithDebInfo gives file:line in the log; the log is copied to
# $VALGRIND_LOG, default /tmp/bench-daemon-valgrind.log).
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "${1:?usage: valgrind.sh BUILD_DIR}" && pwd)
command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 1; }
VALGRIND_BUILD=$build exec "$here/../../scripts/bench-daemon.sh" --build "$build" valgrind

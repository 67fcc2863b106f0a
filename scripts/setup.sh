#!/usr/bin/env bash
# Installs everything etcd-dr needs on a Debian machine with Node 20 (run as root), then builds.
#   Debian: etcd-server + etcd-client (etcd/etcdctl 3.4), prometheus (promtool, for alert-rule tests), openssl,
#   age (age/age-keygen, for the encryption interop tests), zstd, systemd-container (systemd-nspawn: the
#   restore tests run members as real systemd units).
#   etcd 3.5 (etcd, etcdctl, etcdutl) from Debian trixie's pool, beside the system's 3.4, in .tools/ (below).
#   npm: the locked dependencies (native modules better-sqlite3 and zstd-napi build with node-gyp).
# Idempotent: a second run installs nothing and only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

# The system part (Debian packages, then etcd 3.5, which needs curl) and the npm part (network, then
# compiling two native modules) do not depend on each other: they run side by side, which saves about half
# a minute of a fresh machine's set-up.
system_part() {
  local need_apt=()
  command -v etcd >/dev/null || need_apt+=(etcd-server)
  command -v etcdctl >/dev/null || need_apt+=(etcd-client)
  command -v promtool >/dev/null || need_apt+=(prometheus)
  command -v openssl >/dev/null || need_apt+=(openssl)
  command -v curl >/dev/null || need_apt+=(curl)
  # age and age-keygen: the interop tests decrypt dr's encrypted backups with the real tool, and encrypt for dr
  command -v age >/dev/null || need_apt+=(age)
  command -v zstd >/dev/null || need_apt+=(zstd)
  # systemd-nspawn: the restore tests boot a real systemd (this machine's /usr) to run members as units
  command -v systemd-nspawn >/dev/null || need_apt+=(systemd-container)
  if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # --no-install-recommends: the prometheus package would otherwise pull in a whole node exporter stack
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  fi
  # ---- etcd 3.5 beside Debian's 3.4 (scripts/install-etcd35.sh says how and from where) ----
  bash scripts/install-etcd35.sh "$ETCD35_DIR"
  # Debian's etcd-server package may start a system etcd on 2379/2380; dr never uses it, and the sandbox
  # and tests use their own ports, so it is left alone.
}
ETCD35_DIR=.tools/etcd-3.5.16
system_part &
system_pid=$!

npm_status=0
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm dependencies" >&2
  # JOBS=max: node-gyp compiles each native module with every core (zstd-napi is ~40 C files)
  JOBS=max npm ci --no-audit --no-fund --loglevel=error || npm_status=$?
fi
system_status=0
wait "$system_pid" || system_status=$?
if [ "$system_status" -ne 0 ]; then
  echo "setup: installing the system packages or etcd 3.5 failed (exit $system_status, see above)" >&2
  exit "$system_status"
fi
if [ "$npm_status" -ne 0 ]; then
  echo "setup: npm ci failed (exit $npm_status, see above)" >&2
  exit "$npm_status"
fi
echo "setup: building" >&2
npm run --silent build
echo "setup: done (etcd $(etcd --version | head -1 | awk '{print $3}') and $("$ETCD35_DIR/usr/bin/etcd" --version | head -1 | awk '{print $3}'), node $(node --version))" >&2

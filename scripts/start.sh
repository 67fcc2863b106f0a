#!/usr/bin/env bash
# The Quick start's main job: the daemon on the embedded default: a local 3-member sandbox etcd cluster
# (ports 23790-23792, data under ./.sandbox), backups every minute to ./.sandbox/backups, metrics and the
# API on http://127.0.0.1:9464. Ctrl-C stops the daemon; `node dist/cli/dr.js sandbox down` stops etcd.
set -euo pipefail
cd "$(dirname "$0")/.."
# The sandbox runs etcd 3.5 (what users run), installed by scripts/setup.sh beside Debian's 3.4.
if [ -x .tools/etcd-3.5.16/usr/bin/etcd ]; then PATH="$PWD/.tools/etcd-3.5.16/usr/bin:$PATH"; fi
exec dist/cli/dr.js daemon --sandbox "$@"

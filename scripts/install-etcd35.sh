#!/usr/bin/env bash
# Installs etcd 3.5 (etcd, etcdctl, etcdutl) into DIR (default .tools/etcd-3.5.16), beside and without
# touching a system etcd 3.4:   bash scripts/install-etcd35.sh [DIR]
#
# Debian bookworm ships etcd 3.4; users run 3.5. trixie (the stable suite: its pool keeps this version,
# where unstable drops superseded ones within weeks) has 3.5.16. The two .debs are fetched from the Debian
# mirror this machine's apt sources already use, checked against the sha256 values below (from trixie's
# Packages index) and unpacked with `dpkg -x` into DIR/usr/bin. DR_DEBIAN_MIRROR overrides the mirror
# (e.g. http://deb.debian.org/debian). Idempotent: nothing is fetched when DIR already holds 3.5.16.
# Used by scripts/setup.sh (tests, sandbox) and the Dockerfile (etcdutl for restores).
set -euo pipefail
ETCD35_DIR=${1:-.tools/etcd-3.5.16}
ETCD35_VERSION=3.5.16-4
declare -A ETCD35_SHA256=(
  [etcd-server_amd64]=0875921bb0d023f2af9b8e15cdfbe417a03e65731345fb832c40f9c2dd72967b
  [etcd-client_amd64]=7eb67e305ba2ce523a5a0b29bf88750ded3f724769c7111a83382b7909f9977b
  [etcd-server_arm64]=5e21469a4f59f1cb2ed7af9c6eb9dda7d9734809c011cfa8a39b34f82a161a32
  [etcd-client_arm64]=56c3527045c4ddd0aca5a572897b9a72e43a015cb09a01c79acc08eda17904ca
)

# The first Debian archive URI in the apt sources (one-line .list or deb822 .sources), not -security.
debian_mirror() {
  if [ -n "${DR_DEBIAN_MIRROR:-}" ]; then echo "${DR_DEBIAN_MIRROR%/}"; return; fi
  local f uri
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri=$(awk '
      /^[[:space:]]*#/ { next }
      $1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i ~ /:\/\//) { print $i; break } }
      tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }
    ' "$f" | grep -E '/debian/?$' | grep -v -- '-security' | head -n 1 || true)
    if [ -n "$uri" ]; then echo "${uri%/}"; return; fi
  done
  return 1
}

install_etcd35() {
  if "$ETCD35_DIR/usr/bin/etcd" --version 2>/dev/null | grep -q 'etcd Version: 3.5.16' &&
    [ -x "$ETCD35_DIR/usr/bin/etcdutl" ] && [ -x "$ETCD35_DIR/usr/bin/etcdctl" ]; then
    return 0
  fi
  local arch mirror tmp pkg sum
  arch=$(dpkg --print-architecture)
  if [ -z "${ETCD35_SHA256[etcd-server_$arch]:-}" ]; then
    echo "setup: no pinned etcd 3.5 packages for architecture $arch (pinned: amd64, arm64)" >&2
    return 1
  fi
  if ! mirror=$(debian_mirror); then
    echo "setup: cannot find a Debian mirror in /etc/apt/sources.list{,.d}; set DR_DEBIAN_MIRROR" >&2
    return 1
  fi
  echo "setup: installing etcd $ETCD35_VERSION from $mirror into $ETCD35_DIR" >&2
  tmp=$(mktemp -d)
  rm -rf "$ETCD35_DIR.partial"
  mkdir -p "$ETCD35_DIR.partial"
  for pkg in etcd-server etcd-client; do
    sum=${ETCD35_SHA256[${pkg}_$arch]}
    if ! curl -fsSL --retry 3 --max-time 300 -o "$tmp/$pkg.deb" \
      "$mirror/pool/main/e/etcd/${pkg}_${ETCD35_VERSION}_${arch}.deb"; then
      echo "setup: cannot download $mirror/pool/main/e/etcd/${pkg}_${ETCD35_VERSION}_${arch}.deb" >&2
      rm -rf "$tmp"
      return 1
    fi
    if ! echo "$sum  $tmp/$pkg.deb" | sha256sum --check --status; then
      echo "setup: $pkg ${ETCD35_VERSION} from $mirror does not match its pinned sha256 $sum" >&2
      rm -rf "$tmp"
      return 1
    fi
    dpkg -x "$tmp/$pkg.deb" "$ETCD35_DIR.partial"
  done
  rm -rf "$tmp" "$ETCD35_DIR"
  mv "$ETCD35_DIR.partial" "$ETCD35_DIR"
}
install_etcd35

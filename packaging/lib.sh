# Shared by the packaging scripts (sourced, not run): pinned tool versions, where the tools live,
# and small helpers. Everything the packaging installs or caches stays under target/packaging/
# (cargo's own registry in ~/.cargo excepted).
# Its variables are for the scripts that source it, hence SC2034 off for this file:
# shellcheck shell=bash disable=SC2034

# Pinned tools. Bump deliberately, then run packaging/ci.
CARGO_ZIGBUILD_VERSION=0.24.1     # PyPI, ships the binary in its wheel
ZIGLANG_VERSION=0.15.2            # PyPI, the zig toolchain cargo-zigbuild drives
CARGO_GENERATE_RPM_VERSION=0.21.1 # crates.io
CARGO_DEB_VERSION=3.8.0           # crates.io

# The binary: glibc 2.28 is EL8's; EL9 (2.34), Debian 11 (2.31) and 12 (2.36) are newer.
RUST_TARGET=x86_64-unknown-linux-gnu
GLIBC_FLOOR=2.28
ZIG_TARGET="$RUST_TARGET.$GLIBC_FLOOR"
BINARY="target/$RUST_TARGET/release/centreon-pagerduty"

PKG_DIR=target/packaging
VENV="$PKG_DIR/venv"
TOOLS="$PKG_DIR/tools"
# The manual page both packages ship, centreon-pagerduty(8): made by man_page below.
MAN_PAGE="$PKG_DIR/man/centreon-pagerduty.8.gz"
export PATH="$PWD/$TOOLS/bin:$PWD/$VENV/bin:$PATH"
# zig and cargo-zigbuild keep their caches under XDG_CACHE_HOME / ZIG_GLOBAL_CACHE_DIR.
export XDG_CACHE_HOME="$PWD/$PKG_DIR/cache"
export ZIG_GLOBAL_CACHE_DIR="$XDG_CACHE_HOME/zig"
export ZIG_LOCAL_CACHE_DIR="$XDG_CACHE_HOME/zig-local"
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export CARGO_TERM_COLOR=never DEBIAN_FRONTEND=noninteractive

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: install the Debian packages that are missing (one apt-get update per run).
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  if [ -z "${_APT_UPDATED:-}" ]; then
    as_root apt-get update -qq
    _APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# man_page: centreon-pagerduty(8), printed by the packaged binary itself (`centreon-pagerduty
# man`, generated from its clap definitions), gzipped reproducibly (-n: no name, no timestamp)
# into $MAN_PAGE, where the RPM and the deb take it.
man_page() {
  mkdir -p "${MAN_PAGE%/*}"
  "$BINARY" man | gzip -9n >"$MAN_PAGE.tmp" || return 1
  mv "$MAN_PAGE.tmp" "$MAN_PAGE"
}

# cargo_tool NAME VERSION: `cargo install --locked` into target/packaging/tools unless that
# exact version is there.
cargo_tool() {
  local name=$1 version=$2 have=""
  have=$(cargo install --list --root "$TOOLS" 2>/dev/null | sed -n "s/^$name v\([^:]*\):\$/\1/p")
  if [ "$have" = "$version" ]; then return 0; fi
  log "cargo install $name $version"
  # Build tools, not the product: opt-level 1 compiles them about twice as fast.
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=0 \
    cargo install --locked --quiet --root "$TOOLS" "$name" --version "$version"
}

# pip_tools: a venv in target/packaging with the pinned cargo-zigbuild and ziglang.
pip_tools() {
  if [ -x "$VENV/bin/cargo-zigbuild" ] \
     && [ "$("$VENV/bin/cargo-zigbuild" --version 2>/dev/null)" = "cargo-zigbuild $CARGO_ZIGBUILD_VERSION" ] \
     && [ "$("$VENV/bin/python" -m ziglang version 2>/dev/null)" = "$ZIGLANG_VERSION" ]; then
    return 0
  fi
  command -v python3 >/dev/null || apt_install python3
  if [ ! -x "$VENV/bin/pip" ]; then
    rm -rf "$VENV"
    python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; rm -rf "$VENV"; python3 -m venv "$VENV"; }
  fi
  log "pip install cargo-zigbuild==$CARGO_ZIGBUILD_VERSION ziglang==$ZIGLANG_VERSION"
  "$VENV/bin/pip" install --quiet "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION" "ziglang==$ZIGLANG_VERSION"
}

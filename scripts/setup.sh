#!/usr/bin/env bash
# Installs what libmaps needs on Debian 12 (as root), then configures and
# builds it in ./build. Safe to run again: it installs only what is missing.
#
#   scripts/setup.sh            build dependencies, test oracles, build
#
# The test oracles are Debian's postfix (postmap, postalias and postconf as
# programs; the system's mail system is never started, one test starts a
# private instance in a temporary directory) with postfix-lmdb, postfix-cdb and
# postfix-pcre, tinycdb,
# db5.3-util, lmdb-utils and perl (DB_File writes a btree: table in a test).
# libcdb-dev (tinycdb) and libdb5.3-dev are benchmark anchors.
# libsasl2-modules (Cyrus's PLAIN and LOGIN plugins), iproute2 and
# util-linux (a private network and mount namespace: a test's own DNS
# server and /dev/log) are for --check-sasl's and the log trail's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  meson ninja-build pkg-config g++ python3 clang libclang-rt-14-dev
  liblmdb-dev libsodium-dev libabsl-dev libicu-dev libpcre2-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  postfix postfix-lmdb postfix-cdb postfix-pcre tinycdb libcdb-dev db5.3-util lmdb-utils libdb5.3-dev strace
  perl
  libsasl2-modules iproute2 util-linux
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}; run as root (or: sudo $0)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # postfix asks how to configure the mail system: it is only a test oracle
  # here, so no configuration, and no service may start during the install.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The benchmarks are built too (CI builds them; it does not run them: see
# docs/benchmarks.md).
# -Werror only when CI asks (LIBMAPS_WERROR=true, set by .ci/run).
werror=${LIBMAPS_WERROR:-false}
if [ ! -f build/build.ninja ]; then
  meson setup build --wrap-mode=nodownload -Dbench=true -Dwerror="$werror"
else
  meson configure build -Dbench=true -Dwerror="$werror"
fi
ninja -C build -j"$(nproc)"

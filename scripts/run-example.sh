#!/usr/bin/env bash
# Sets up and builds libmaps (scripts/setup.sh), then runs cmap on the bundled
# example in examples/: a relay credential map and a small access table,
# in a scratch copy, and shows each command and what it printed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
cmap=$PWD/build/tools/cmap/cmap

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/. "$work"
cd "$work"
chmod 600 smtp_pass  # a credential map is never world-readable

run() {
  echo "\$ $*"
  set +e
  "$@"
  echo "(exit status $?)"
  set -e
  echo
}
run "$cmap" -c postfix smtp_pass          # hash: (main.cf names no other type)
run ls -l smtp_pass smtp_pass.db
run "$cmap" -c postfix -q '[relay.example.jp]:587' smtp_pass
run "$cmap" -c postfix -q '[RELAY.example.JP]:587' hash:smtp_pass
run "$cmap" -c postfix -q 'relay.example.jp:587' hash:smtp_pass
run "$cmap" --check-sasl -c postfix        # what the SMTP client would use for relayhost
run "$cmap" -c postfix lmdb:access
run "$cmap" -c postfix -s lmdb:access
printf 'spammer@example.net\nfriend@example.org\nexample.com\n' > keys
echo "\$ printf 'spammer@example.net\\nfriend@example.org\\nexample.com\\n' | cmap -c postfix -q - lmdb:access"
"$cmap" -c postfix -q - lmdb:access < keys || true
echo
run "$cmap" -c postfix -q example.com texthash:access

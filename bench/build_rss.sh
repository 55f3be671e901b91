#!/usr/bin/env bash
# Peak memory and time of builds and of a one-key -i, cmap beside postmap
# (docs/benchmarks.md, "Peak memory of builds and one-key updates").
#   bench/build_rss.sh CMAP [ENTRIES...]     (default: 1000000 5000000)
# Works in a temporary directory; needs GNU time and postmap.
set -euo pipefail
cmap=$(readlink -f "$1"); shift
sizes=("${@:-1000000 5000000}")
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir etc && echo "compatibility_level = 3.6" > etc/main.cf
touch -d '1 hour ago' etc/main.cf   # postmap waits 2 s after a fresh main.cf
for n in ${sizes[*]}; do
  awk -v n="$n" 'BEGIN{for(i=0;i<n;i++) printf "[smtp-%07d.example.net]:587 user%d:secret-%d\n", i, i, i}' > "s$n"
  for typ in hash lmdb; do
    suffix=$([ "$typ" = hash ] && echo db || echo lmdb)
    for prog in postmap "$cmap"; do
      rm -f "s$n.db" "s$n.lmdb"
      /usr/bin/time -f "$n $typ build $(basename "$prog") %e s %M KB" "$prog" -c etc "$typ:s$n"
      echo "$n $typ file $(stat -c %s "s$n.$suffix") bytes"
      echo "newkey value" | /usr/bin/time -f "$n $typ one-key -i $(basename "$prog") %e s %M KB" \
        "$prog" -c etc -i "$typ:s$n"
    done
  done
done

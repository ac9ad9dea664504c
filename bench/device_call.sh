#!/usr/bin/env bash
# Several bench.run cases in one device call, each under its own time limit, each case's files
# packed into one archive: the lent machine hands back at most 8 files from $OUT (two folders
# deep), and the eleventh session lost the JSON of four arms to that limit. One case a line on
# stdin: SECONDS NAME bench.run-arguments...; a case cut by its limit still leaves what it wrote.
#
#     printf '%s\n' \
#       "300 g4b-12 --model gemma-4b --card-gb 12 --arms c,c0 --seconds 12 --no-init-eval" \
#       "300 g4b-16 --model gemma-4b --card-gb 16 --arms c,c0 --seconds 12 --no-init-eval" \
#       | bash bench/device_call.sh
#
# Leaves in $OUT: card.txt, NAME.tgz for each case (its --out folder and its log), summary.md (each
# case's table, or how it ended).
set -uo pipefail
OUT=${OUT:?set OUT to the folder whose files come back}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv >"$OUT/card.txt" 2>&1 || true
: >"$OUT/summary.md"
while read -r limit name args; do
  [[ -z "${limit:-}" || "$limit" == \#* ]] && continue
  dir=$(mktemp -d)
  # shellcheck disable=SC2086  # the arguments are split as written on the line
  timeout "$limit" python -m bench.run $args --out "$dir/$name" >"$dir/$name.log" 2>&1
  rc=$?
  {
    echo "## $name (exit $rc, limit $limit s): bench.run $args"
    if ls "$dir/$name"/bench-*.md >/dev/null 2>&1; then cat "$dir/$name"/bench-*.md; else tail -5 "$dir/$name.log"; fi
    echo
  } >>"$OUT/summary.md"
  tar czf "$OUT/$name.tgz" -C "$dir" . && rm -rf "$dir"
done
cat "$OUT/summary.md"

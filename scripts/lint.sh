#!/usr/bin/env bash
# `npm run lint`: type-aware eslint, the layering rules (dependency-cruiser) and prettier. eslint takes most
# of the time on one core; the other two run beside it on the second. Each one's output is printed whole,
# after it ends, and the exit status is the first failure's.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx eslint src test >"$out/eslint" 2>&1 &
eslint_pid=$!
{
  npx depcruise src --config .dependency-cruiser.cjs >"$out/depcruise" 2>&1
  echo $? >"$out/depcruise.rc"
  npx prettier --check src test eslint.config.js .dependency-cruiser.cjs >"$out/prettier" 2>&1
  echo $? >"$out/prettier.rc"
}
wait "$eslint_pid"
eslint_rc=$?
status=0
for tool in eslint depcruise prettier; do
  rc=$eslint_rc
  [ "$tool" != eslint ] && rc=$(cat "$out/$tool.rc")
  if [ "$rc" -ne 0 ]; then
    echo "lint: $tool failed (exit $rc):" >&2
    cat "$out/$tool" >&2
    [ "$status" -eq 0 ] && status=$rc
  fi
done
exit "$status"

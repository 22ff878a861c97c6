# SPDX-License-Identifier: MIT
# Sourced by shell tests of the CLI (tests/cli/*.sh): a scratch folder $tmp removed on exit, the counters pass
# and fail, ok and bad to count a check, and expect RC DESCRIPTION COMMAND... that runs the command and checks
# its exit status (stdout in $tmp/out, stderr kept in $tmp/err). Each test ends with
#     echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0; fail=0
ok() { echo "ok: $1"; pass=$((pass + 1)); }
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }
expect() {
    local want=$1 what=$2
    shift 2
    "$@" > "$tmp/out" 2> "$tmp/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then ok "$what (exit $rc)"; else bad "$what: exit $rc, expected $want: $(cat "$tmp/err")"; fi
}

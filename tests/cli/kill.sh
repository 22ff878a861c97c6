#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `voxaug augment` on 10 items killed with SIGINT, SIGTERM and SIGKILL at several moments (fractions of an
# uninterrupted run's time, so the moments scale with the machine). After each kill the folder holds only
# complete copies (image, label map and sidecar, or none of the three), each identical to the uninterrupted
# run's:
#   SIGINT/SIGTERM: exit 130/143 with a "stopped by" summary (or 0 if the run ended first; at "start" the signal
#     may come before the handler is installed: then its default action, before any file was made), no
#     temporary or journal left;
#   SIGKILL: temporaries may be left, and a journal where the kill fell between two renames of one copy; the
#     check applies that journal as the next run does (src/commit.c, roll forward), so the guarantee checked
#     is "complete once the folder is cleaned", whatever the moment.
# Then a re-run with the same arguments must leave exactly the uninterrupted run's files, bit for bit, and
# nothing else. The figures (moment, exit status, complete copies, leftovers) are printed.
# usage: bash kill.sh <voxaug CLI> <tests/data dir>
set -u
cli=${1:?usage: kill.sh CLI DATA_DIR}
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/vxa_kill.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
pass=0; fail=0
bad() { echo "FAIL: $1"; fail=$((fail + 1)); }

# 10 items: copies of the phantom, each with its label map
if ! "$cli" demo --size 20 -n 1 -o d > /dev/null 2> err ||
   ! "$cli" augment --ops "rotate([-20,20])" -n 10 -o items -q d/phantom.nii.gz:d/phantom_label.nii.gz > /dev/null 2> err; then
    echo "cannot make the test inputs: $(cat err)"
    exit 1
fi
args=()
for i in $(seq 0 9); do args+=("items/phantom_aug$i.nii.gz:items/phantom_aug${i}_label.nii.gz"); done
spec="rotate([-15,15]) zoom([0.9,1.1]) elastic(alpha=[100,300], sigma=6) noise(std=[0,0.1])"
run() { "$cli" augment --ops "$spec" --seed 7 -n 2 -o "$1" -q "${args[@]}"; }

t0=$(date +%s.%N)
run ref > /dev/null 2> err || { echo "uninterrupted run failed: $(cat err)"; exit 1; }
dur=$("$py" -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$t0" "$(date +%s.%N)")
nref=$(ls ref | wc -l)
echo "uninterrupted run: $nref files (20 copies x 3) in ${dur}s"
# 20 copies x 3 files, and the run's manifest (written once the run ends unstopped)
[ "$nref" -eq 61 ] || { echo "FAIL: uninterrupted run wrote $nref files, expected 61"; exit 1; }

# check DIR SIGNAL: the folder after a kill, against ref; prints "complete=N leftovers=M"
check_folder() {
    "$py" - "$1" ref "$2" <<'EOF'
import os, re, sys, filecmp
out, ref, sig = sys.argv[1], sys.argv[2], sys.argv[3]
names = set(os.listdir(out))
debris = {n for n in names if re.fullmatch(r"\.vxa-\d+-\d+-[0-9a-f]{8}\.(tmp|jnl)", n)}
other = names - debris - set(os.listdir(ref))
problems = []
if other: problems.append("unexpected files %s" % sorted(other))
if sig != "KILL" and debris: problems.append("left after %s: %s" % (sig, sorted(debris)))
present = {n: os.path.join(out, n) for n in names - debris}
# the journals' renames, as the next run does them: complete journals only, temporaries that exist
for j in sorted(n for n in debris if n.endswith(".jnl")):
    f = open(os.path.join(out, j), "rb").read().split(b"\0")
    if f[0] != b"vxa-commit 1" or len(f) < 3 or f[-2] != b"end": continue
    for t, target in zip(f[1:-2:2], f[2:-2:2]):
        if t.decode() in debris and t.decode().endswith(".tmp"): present[target.decode()] = os.path.join(out, t.decode())
copies = {}
for n in os.listdir(ref):
    if n == "manifest.jsonl": continue  # the run's manifest: written at the end of a run not stopped
    copies.setdefault(re.sub(r"(_label\.nii\.gz|\.nii\.gz|\.json)$", "", n), []).append(n)
complete = 0
for c, files in sorted(copies.items()):
    have = [n for n in files if n in present]
    if len(have) not in (0, 3): problems.append("copy %s incomplete: %s" % (c, sorted(have)))
    for n in have:
        if not filecmp.cmp(present[n], os.path.join(ref, n), shallow=False):
            problems.append("%s differs from the uninterrupted run's" % n)
    complete += len(have) == 3
print("complete=%d leftovers=%d" % (complete, len(debris)))
for p in problems: print("PROBLEM:", p)
sys.exit(1 if problems else 0)
EOF
}

# start_and_kill SIG MOMENT: runs augment into out/, sends SIG at MOMENT, prints the exit status as the shell
# gives it (128 + signal). Moments: "start" (50 ms in: reading, device start-up), "copies=N" (as soon as N
# sidecars exist: between two copies), "tmp=N" (N sidecars and a temporary exist: while a copy is written),
# "journal" (as soon as a commit journal exists: between the renames of one copy). If the run ends first the
# moment is reported as missed.
start_and_kill() {
    "$py" - "$1" "$2" "$cli" "$spec" "${args[@]}" <<'EOF'
import os, signal, subprocess, sys, time
sig, moment, cli, spec, items = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
p = subprocess.Popen([cli, "augment", "--ops", spec, "--seed", "7", "-n", "2", "-o", "out", "-q"] + items,
                     stdout=subprocess.DEVNULL, stderr=open("err", "w"))
hit = True
if moment == "start":
    time.sleep(0.05)
else:
    def reached():
        names = os.listdir("out")
        if moment == "journal": return any(n.endswith(".jnl") for n in names)
        enough = sum(n.endswith(".json") for n in names) >= int(moment.split("=")[1])
        return enough and (moment.startswith("copies") or any(n.endswith(".tmp") for n in names))
    while not reached():
        if p.poll() is not None:
            hit = False
            break
        time.sleep(0.0005)
if p.poll() is None: p.send_signal(getattr(signal, "SIG" + sig))
rc = p.wait()
# "exited": voxaug's handler stopped the run; "killed": the signal's default action (before the handler was
# installed, or SIGKILL)
print(128 - rc if rc < 0 else rc, "killed" if rc < 0 else "exited", "" if hit else "(moment missed: the run had ended)")
EOF
}

for sig in INT TERM KILL; do
    moments="start copies=3 tmp=6 tmp=12"
    [ "$sig" = KILL ] && moments="$moments journal journal"
    for frac in $moments; do
        rm -rf out && mkdir out
        res=$(start_and_kill "$sig" "$frac")
        rc=${res%% *}
        want=$((128 + $(kill -l "$sig")))
        figures=$(check_folder out "$sig")
        frc=$?
        msg="SIG$sig at $frac: exit $res, $(echo "$figures" | head -1)"
        echo "$msg"
        if [ "$rc" -ne "$want" ] && ! { [ "$rc" -eq 0 ] && [ "$sig" != KILL ]; }; then bad "$msg: exit $rc, expected $want"
        elif [ "$frc" -ne 0 ]; then bad "$msg: $(echo "$figures" | tail -n +2)"
        elif [ "$sig" != KILL ] && [ "$frac" != start ] && [[ "$res" == *killed* ]]; then bad "$msg: died of the signal, no handler"
        elif [ "$sig" != KILL ] && [[ "$res" == *exited* ]] && [ "$rc" -ne 0 ] && ! grep -q "stopped by SIG$sig" err; then bad "$msg: no 'stopped' summary: $(cat err)"
        else pass=$((pass + 1)); fi
        # the re-run completes the folder: exactly the uninterrupted run's files
        run out > /dev/null 2> err
        rc=$?
        if [ "$rc" -ne 0 ]; then bad "re-run after SIG$sig at $frac: exit $rc: $(cat err)"
        elif [ -n "$(ls -A out | grep '^\.')" ] || ! diff -r ref out > /dev/null; then bad "re-run after SIG$sig at $frac: folder differs from the uninterrupted run's: $(diff -r ref out | head -3; ls -A out | grep '^\.')"
        else pass=$((pass + 1)); fi
    done
done
echo "kill: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

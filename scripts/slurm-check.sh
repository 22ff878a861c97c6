#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Proves examples/slurm/augment.sbatch on a real Slurm: starts a private single-node cluster on this machine
# (Debian's slurm-wlm and munge: its own munge key and socket, its own slurm.conf and ports, all in a temporary
# folder; nothing of the system's configuration is used or changed), submits a 4-task job array over 12
# subjects and the merge step after it, and checks that the union of the shards equals one unsharded run of
# the same command bit for bit (every file, and the merged manifest against the unsharded one). Stops what it
# started (by pid) at the end. Needs root (slurmd runs the jobs); installs slurm-wlm and munge if missing.
# usage: sudo scripts/slurm-check.sh BUILD_DIR        exit 0: equal; 1: different or failed; 77: cannot run here
set -u
build=$(cd "${1:?usage: slurm-check.sh BUILD_DIR}" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
cli=$build/voxaug
[ -x "$cli" ] || { echo "no $cli: build first"; exit 1; }
if [ "$(id -u)" -ne 0 ]; then echo "skip: slurm-check needs root (slurmd runs the jobs)"; exit 77; fi
if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
    [ -n "${VXA_SLURM_NO_INSTALL:-}" ] && { echo "skip: slurm-wlm and munge are not installed"; exit 77; }
    apt-get install -y --no-install-recommends slurm-wlm munge > /dev/null || { echo "skip: cannot install slurm-wlm and munge"; exit 77; }
fi
t=$(mktemp -d /tmp/vxa_slurm.XXXXXX)
chmod 755 "$t"
pids=()
cleanup() {
    [ -f "$t/slurm.conf" ] && SLURM_CONF=$t/slurm.conf scancel --quiet -u root 2> /dev/null
    for f in "$t/slurmd.pid" "$t/slurmctld.pid" "$t/munged.pid"; do
        [ -s "$f" ] && kill "$(cat "$f")" 2> /dev/null
    done
    sleep 1
    rm -rf "$t"
}
trap cleanup EXIT
host=$(hostname -s)
port=$((20000 + RANDOM % 20000))

# ---- munge: a key of our own, a socket of our own
dd if=/dev/urandom of="$t/munge.key" bs=1024 count=1 2> /dev/null
chmod 600 "$t/munge.key"
mkdir -p "$t/munge"
chmod 700 "$t/munge"
munged --key-file="$t/munge.key" --socket="$t/munge.sock" --pid-file="$t/munged.pid" --log-file="$t/munged.log" \
    --seed-file="$t/munge/seed" --force || { echo "munged did not start: $(cat "$t/munged.log" 2> /dev/null)"; exit 1; }

# ---- slurm: one node, this machine
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
mkdir -p "$t/state" "$t/spool"
cat > "$t/slurm.conf" << EOF
ClusterName=vxacheck
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$t/munge.sock
StateSaveLocation=$t/state
SlurmdSpoolDir=$t/spool
SlurmctldPidFile=$t/slurmctld.pid
SlurmdPidFile=$t/slurmd.pid
SlurmctldLogFile=$t/slurmctld.log
SlurmdLogFile=$t/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$t/slurm.conf
slurmctld -f "$t/slurm.conf" || { echo "slurmctld did not start: $(tail -5 "$t/slurmctld.log")"; exit 1; }
slurmd -f "$t/slurm.conf" || { echo "slurmd did not start: $(tail -5 "$t/slurmd.log")"; exit 1; }
for _ in $(seq 60); do sinfo -h -o %T 2> /dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o "%P %D %T %c" 2> /dev/null | grep -q idle || {
    echo "the node did not come up: $(sinfo 2>&1) $(tail -5 "$t/slurmd.log")"; exit 1; }
echo "slurm-check: single-node Slurm $(sinfo -V | cut -d' ' -f2) up on $host ($cpus CPUs), port $port"

# ---- 12 subjects: the built-in phantom, 32^3, under 12 names (12 keys, 12 different draws), in a list
mkdir -p "$t/data"
"$cli" demo --size 32 -n 1 -o "$t/demo" > /dev/null || { echo "voxaug demo failed"; exit 1; }
for i in $(seq -w 1 12); do
    cp "$t/demo/phantom.nii.gz" "$t/data/s$i.nii.gz"
    cp "$t/demo/phantom_label.nii.gz" "$t/data/s${i}_seg.nii.gz"
    echo "s$i.nii.gz,s${i}_seg.nii.gz"
done > "$t/data/subjects.txt"
chmod -R a+rX "$t"
export VOXAUG=$cli OPS="flip(axes=0,p_axis=0.5) rotate([-15,15],plane=0,1) zoom([0.9,1.1]) zscore"
export INPUT="--list $t/data/subjects.txt" COPIES=2 SEED=5 EXTRA="-q"

# ---- the reference: one unsharded run of the same command, outside Slurm
OUT=$t/ref "$cli" augment --ops "$OPS" -o "$t/ref" $INPUT -n 2 --seed 5 -q > /dev/null || { echo "unsharded run failed"; exit 1; }

# ---- the job array and the merge step
cd "$t" || exit 1
export OUT=$t/out
jid=$(sbatch --parsable --array=0-3 "$repo/examples/slurm/augment.sbatch") || { echo "sbatch failed"; exit 1; }
mid=$(sbatch --parsable --dependency=afterok:$jid --array=0 --export=ALL,VXA_MERGE=4 "$repo/examples/slurm/augment.sbatch")
echo "slurm-check: array job $jid (4 tasks), merge job $mid"
for _ in $(seq 300); do [ -z "$(squeue -h 2> /dev/null)" ] && break; sleep 1; done
[ -z "$(squeue -h)" ] || { echo "jobs still queued after 300 s: $(squeue)"; exit 1; }
fail=0
for f in "$t"/voxaug-augment-*.log; do
    echo "--- $(basename "$f"): $(tr '\n' ' ' < "$f")"
done
for i in 0 1 2 3; do
    n=$(grep -c '"kind":"image"' "$t/out/manifest.$i-of-4.jsonl" 2> /dev/null || echo 0)
    echo "slurm-check: task $i wrote $n images (manifest.$i-of-4.jsonl)"
    [ "$n" -eq 6 ] || fail=1
done
# ---- the union equals the unsharded run, bit for bit
want=$(cd "$t/ref" && ls | sort)
got=$(cd "$t/out" && ls | grep -v '^manifest\.[0-9]-of-4\.jsonl$' | sort)
if [ "$want" != "$got" ]; then echo "slurm-check: file names differ"; diff <(echo "$want") <(echo "$got"); fail=1; fi
n=0
for f in $want; do
    if cmp -s "$t/ref/$f" "$t/out/$f"; then n=$((n + 1)); else echo "slurm-check: $f differs"; fail=1; fi
done
echo "slurm-check: $n of $(echo "$want" | wc -w) files of the 4 shards equal the unsharded run's byte for byte (manifest.jsonl included)"
[ "$fail" -eq 0 ] && echo "slurm-check: PASS" || echo "slurm-check: FAIL"
exit $fail

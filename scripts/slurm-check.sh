#!/usr/bin/env bash
# make slurm-check: start a throw-away one-node Slurm cluster on this machine
# (munged, slurmctld and slurmd, all state in a temporary folder), run
# scripts/cluster/xai-array.sbatch as a 4-task array job over the sample data
# set, merge the shards with `xai merge` and check that the result is
# byte-identical to a single unsharded `xai batch` run.
#
#   SLURM_CHECK_SMOKE=1  run a trivial array job instead of xai (checks only
#                        munge, the daemons and job arrays; needs no xai binary)
#   XAI=PATH             the xai binary (default .build/release/xai)
#   INPUT=FILE.jsonl     the data set (default samples/data/rotten_tomatoes_test.jsonl)
#
# Needs root (the daemons run as root, SlurmUser=root); installs slurm-wlm and
# munge with apt-get when they are missing. Every daemon it starts is stopped by
# its pid on exit; nothing else on the machine is touched. Does not use the
# machine's /etc/slurm configuration, nor its munged if one is running.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

if [ "$(id -u)" != 0 ]; then
  exec sudo --preserve-env=SLURM_CHECK_SMOKE,XAI,INPUT bash "$0" "$@"
fi

SMOKE=${SLURM_CHECK_SMOKE:-0}
[ "$SMOKE" = 0 ] && SMOKE=""
SHARDS=4
START=$(date +%s)
log() { echo "slurm-check: $*"; }

# --- packages ---------------------------------------------------------------
missing=""
for p in slurm-wlm munge; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  log "installing:$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# --- inputs -----------------------------------------------------------------
if [ -z "$SMOKE" ]; then
  XAI=${XAI:-$ROOT/.build/release/xai}
  case "$XAI" in /*) ;; *) XAI="$ROOT/$XAI" ;; esac
  INPUT=${INPUT:-samples/data/rotten_tomatoes_test.jsonl}
  case "$INPUT" in /*) ;; *) INPUT="$ROOT/$INPUT" ;; esac
  [ -x "$XAI" ] || { log "no xai binary at $XAI (make build)"; exit 1; }
  [ -f "$INPUT" ] || { log "no input $INPUT"; exit 1; }
fi

# --- temporary cluster ------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/xai-slurm.XXXXXX")
chmod 755 "$TMP"
PIDS=()        # "name:pid" of every daemon this script started, in start order
JOBS=()        # job ids this script submitted

stop_all() {
  local rc=$? i name pid n
  trap - EXIT INT TERM
  set +e
  if [ "${#JOBS[@]}" -gt 0 ] && [ -n "${SLURM_CONF:-}" ]; then
    scancel "${JOBS[@]}" >/dev/null 2>&1
  fi
  # stop in reverse order: slurmd, slurmctld, munged
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    name=${PIDS[i]%%:*}; pid=${PIDS[i]##*:}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null
    for ((n = 0; n < 100; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name ($pid) ignored SIGTERM, killing it"
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  done
  if [ "$rc" != 0 ]; then
    log "FAILED (exit $rc); last lines of the daemon logs:"
    for f in "$TMP"/log/*.log "$TMP"/log/*.out; do
      [ -s "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }
    done
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$TMP/munge" "$TMP/spool" "$TMP/state" "$TMP/log" "$TMP/out" "$TMP/out/logs"
chmod 755 "$TMP/munge"

# Two free TCP ports, so that a Slurm already running on the default ports
# (6817, 6818) is left alone.
read -r CTLD_PORT SLURMD_PORT < <(python3 - <<'PY'
import socket
ports, socks = [], []
for start in (6817, 16817, 26817, 36817):
    for p in (start, start + 1):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the daemons do
        try:
            s.bind(("", p)); socks.append(s); ports.append(p)
        except OSError:
            s.close(); break
    if len(ports) == 2:
        break
    for s in socks: s.close()
    ports, socks = [], []
print(*ports)
PY
)
[ -n "${SLURMD_PORT:-}" ] || { log "no free port pair for slurmctld/slurmd"; exit 1; }

HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(free -m | awk '/^Mem:/ {print $2}')
REALMEM=$(( MEM * 9 / 10 ))        # a bit less than free -m shows
MUNGE_SOCKET="$TMP/munge/munge.socket.2"

export SLURM_CONF="$TMP/slurm.conf"
cat > "$SLURM_CONF" <<EOF
# One-node throw-away cluster written by scripts/slurm-check.sh
ClusterName=xaicheck
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/log/slurmctld.log
SlurmdLogFile=$TMP/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MinJobAge=600
InactiveLimit=0
KillWait=5
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REALMEM State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
log "slurm.conf ($SLURM_CONF):"
sed 's/^/    /' "$SLURM_CONF"

# --- munge ------------------------------------------------------------------
KEY=/etc/munge/munge.key
if [ ! -r "$KEY" ]; then
  KEY="$TMP/munge/munge.key"
  if command -v mungekey >/dev/null 2>&1; then mungekey --create --keyfile="$KEY"
  else create-munge-key -f >/dev/null && KEY=/etc/munge/munge.key; fi
  chmod 600 "$KEY"
fi
munged --foreground --force --socket="$MUNGE_SOCKET" --key-file="$KEY" \
  --pid-file="$TMP/munge/munged.pid" --log-file="$TMP/log/munged.log" \
  --seed-file="$TMP/munge/munged.seed" > "$TMP/log/munged.out" 2>&1 &
PIDS+=("munged:$!")
for ((n = 0; n < 100; n++)); do [ -S "$MUNGE_SOCKET" ] && break; sleep 0.1; done
munge --socket="$MUNGE_SOCKET" -n | unmunge --socket="$MUNGE_SOCKET" >/dev/null \
  || { log "munge does not work"; exit 1; }

# --- slurm daemons ----------------------------------------------------------
slurmctld -D -f "$SLURM_CONF" > "$TMP/log/slurmctld.out" 2>&1 &
PIDS+=("slurmctld:$!")
slurmd -D -f "$SLURM_CONF" > "$TMP/log/slurmd.out" 2>&1 &
PIDS+=("slurmd:$!")
log "started ${PIDS[*]} (ports $CTLD_PORT, $SLURMD_PORT)"

state=""
for ((n = 0; n < 120; n++)); do
  state=$(sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -n 1 || true)
  [ "$state" = idle ] && break
  for entry in "${PIDS[@]}"; do
    kill -0 "${entry##*:}" 2>/dev/null || { log "${entry%%:*} exited"; exit 1; }
  done
  sleep 0.5
done
[ "$state" = idle ] || { log "node $HOST is '${state:-absent}' after 60 s, not idle"; exit 1; }
sinfo

# --- the array job ----------------------------------------------------------
OUT="$TMP/out"
submit() {   # sbatch --wait; the job id lands in $TMP/jobid as soon as it is queued
  local rc=0
  sbatch --parsable --wait --array=0-$((SHARDS - 1)) --chdir="$OUT" \
    --output="$OUT/logs/%A_%a.out" "$@" > "$TMP/jobid" || rc=$?
  JOBID=$(cut -d';' -f1 "$TMP/jobid" | head -n 1)
  [ -n "$JOBID" ] && JOBS+=("$JOBID")
  return "$rc"
}
summary() {
  log "array job $JOBID (squeue is empty now: $(squeue -h | wc -l) jobs):"
  scontrol -o show job "$JOBID" \
    | awk '{ delete v; for (i = 1; i <= NF; i++) { k = $i; sub(/=.*/, "", k); x = $i; sub(/^[^=]*=/, "", x); v[k] = x }
             printf "    task %s  job %s  %s  exit %s  run %s  on %s\n", v["ArrayTaskId"], v["JobId"], v["JobState"], v["ExitCode"], v["RunTime"], v["NodeList"] }' \
    | sort -n -k2 || true
  for f in "$OUT"/logs/*.out; do [ -s "$f" ] || continue; echo "    --- $(basename "$f"):"; sed 's/^/    /' "$f"; done
}

if [ -n "$SMOKE" ]; then
  log "smoke run: a trivial $SHARDS-task array job"
  export OUT
  submit --job-name=smoke --wrap 'echo $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT on $(hostname) > $OUT/t-$SLURM_ARRAY_TASK_ID' \
    || { rc=$?; summary; log "array job failed (sbatch --wait exit $rc)"; exit "$rc"; }
  summary
  for ((i = 0; i < SHARDS; i++)); do
    read -r got _ < "$OUT/t-$i" || { log "task $i wrote nothing"; exit 1; }
    [ "$got" = "$i" ] || { log "t-$i says '$got'"; exit 1; }
    echo "    t-$i: $(cat "$OUT/t-$i")"
  done
  log "smoke run passed: $SHARDS array tasks ran on the one-node cluster ($(( $(date +%s) - START )) s)"
  exit 0
fi

log "array job: $SHARDS shards of $INPUT with $XAI"
export INPUT XAI OUTDIR="$OUT"
t0=$(date +%s)
submit "$ROOT/scripts/cluster/xai-array.sbatch" \
  || { rc=$?; summary; log "array job failed (sbatch --wait exit $rc)"; exit "$rc"; }
t1=$(date +%s)
summary
shards=()
for ((i = 0; i < SHARDS; i++)); do shards+=("$OUT/shard-$i.jsonl"); done
log "shard line counts ($(( t1 - t0 )) s for the array job):"
wc -l "${shards[@]}" | sed "s|$OUT/||; s/^/    /"

"$XAI" merge "$OUT/merged.jsonl" "${shards[@]}"
t2=$(date +%s)
"$XAI" batch --input "$INPUT" --method lrp --output "$OUT/single.jsonl" --quiet
t3=$(date +%s)
log "merged $(wc -l < "$OUT/merged.jsonl") lines, single run $(wc -l < "$OUT/single.jsonl") lines ($(( t3 - t2 )) s); merged line 1:"
echo "    $(head -n 1 "$OUT/merged.jsonl" | cut -c1-200)"
cmp "$OUT/merged.jsonl" "$OUT/single.jsonl"
log "merged shards are byte-identical to a single run ($(( $(date +%s) - START )) s in all)"

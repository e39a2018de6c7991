#!/usr/bin/env bash
# What a fleet costs: `status` over 1, 10 and 50 contexts, in wall time and memory, beside
# the single-context time measured in the same run. Two beds of its own, each with a decoy;
# the fleets' contexts point at them in turn, and some at a listener that accepts TCP and
# never answers (a black-holed API server behind a load balancer). A shell loop of
# single-context runs over the ten reachable contexts is the way a fleet was checked before.
#
#   benches/fleet-scale.sh            # prints a table of figures; exits 1 if a fleet misses
#                                     # the goal (2x the single-context time plus one
#                                     # --context-timeout) or a run's result is wrong
#
# Settings (environment): BENCH_RUNS (runs per figure, default 5), BENCH_TIMEOUT (the fleets'
# --context-timeout in seconds, default 5).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
runs=${BENCH_RUNS:-5}
timeout=${BENCH_TIMEOUT:-5}

work=$(mktemp -d)
beds=("$repo/tests/controlplane/.cache/bench-fleet-one" "$repo/tests/controlplane/.cache/bench-fleet-two")
silent_pid=
cleanup() {
  [ -z "$silent_pid" ] || kill "$silent_pid" 2>/dev/null || true
  for bed in "${beds[@]}"; do
    HONEYTOKEN_BED_DIR=$bed tests/controlplane/down >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet --locked
plugin=$repo/target/release/kubectl-honeytoken
export HONEYTOKEN_HOME=$work/home

# Each bed: its server, CA and admin token, for the fleets' kubeconfigs.
servers=() cas=() tokens=()
for bed in "${beds[@]}"; do
  exports=$(HONEYTOKEN_BED_DIR=$bed tests/controlplane/up)
  kubeconfig=$(printf '%s\n' "$exports" | sed -n "s/^export KUBECONFIG='\(.*\)'$/\1/p")
  "$plugin" --kubeconfig "$kubeconfig" --context admin plant --yes --profile tiller >/dev/null
  read -r server ca token < <(python3 - "$kubeconfig" <<'PY'
import sys, re
text = open(sys.argv[1]).read()
server = re.search(r"server: (\S+)", text).group(1)
ca = re.search(r"certificate-authority: (\S+)", text).group(1)
token = re.search(r"- name: admin\n\s+user:\n\s+token: (\S+)", text).group(1)
print(server, ca, token)
PY
  )
  servers+=("$server") cas+=("$ca") tokens+=("$token")
done

# A listener that completes the TCP handshake and then never says a word.
silent_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $silent_port)); s.listen(1024); time.sleep(86400)" &
silent_pid=$!

# A kubeconfig of N contexts, every tenth of them (the tenth, twentieth...) silent.
fleet_kubeconfig() {
  local n=$1 silent_every=$2 file=$work/fleet-$1-$2.yaml i
  {
    echo "apiVersion: v1"
    echo "kind: Config"
    echo "current-context: c001"
    echo "clusters:"
    echo "  - {name: bed0, cluster: {server: '${servers[0]}', certificate-authority: '${cas[0]}'}}"
    echo "  - {name: bed1, cluster: {server: '${servers[1]}', certificate-authority: '${cas[1]}'}}"
    echo "  - {name: silent, cluster: {server: 'https://127.0.0.1:$silent_port', insecure-skip-tls-verify: true}}"
    echo "users:"
    echo "  - {name: admin0, user: {token: '${tokens[0]}'}}"
    echo "  - {name: admin1, user: {token: '${tokens[1]}'}}"
    echo "contexts:"
    for i in $(seq 1 "$n"); do
      if [ "$silent_every" -gt 0 ] && [ $((i % silent_every)) -eq 0 ]; then
        printf '  - {name: c%03d, context: {cluster: silent, user: admin0}}\n' "$i"
      else
        printf '  - {name: c%03d, context: {cluster: bed%d, user: admin%d}}\n' "$i" $((i % 2)) $((i % 2))
      fi
    done
  } >"$file"
  echo "$file"
}

# Mean wall time (ms) and the largest peak memory (MiB) of a command over $runs runs; checks
# that each run exits with the code expected.
measure() {
  local expect=$1
  shift
  python3 - "$runs" "$expect" "$@" <<'PY'
import resource, subprocess, sys, time
runs, expect, command = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
total, peak, cpu = 0.0, 0, 0.0
for _ in range(runs):
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", *command],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    total += time.perf_counter() - start
    if done.returncode != expect:
        sys.exit(f"exit {done.returncode}, not {expect}: {' '.join(command)}\n{done.stderr}")
    kib, user, system = done.stderr.strip().splitlines()[-1].split()
    peak = max(peak, int(kib))
    cpu += float(user) + float(system)
print(f"{total * 1000 / runs:.0f} {peak / 1024:.1f} {cpu * 1000 / runs:.0f}")
PY
}

one=$(fleet_kubeconfig 1 0)
ten_reachable=$(fleet_kubeconfig 10 0)
ten=$(fleet_kubeconfig 10 10)
fifty_reachable=$(fleet_kubeconfig 50 0)
fifty=$(fleet_kubeconfig 50 10)

"$plugin" --kubeconfig "$one" status >/dev/null # warm-up
read -r single_ms single_mib single_cpu < <(measure 0 "$plugin" --kubeconfig "$one" status)
# The way before fleets: one process a context, one after another.
cat >"$work/loop.sh" <<EOF
for i in \$(seq 1 10); do
  "$plugin" --kubeconfig "$ten_reachable" --context "\$(printf c%03d "\$i")" status >/dev/null || exit 1
done
EOF
read -r loop_ms _ loop_cpu < <(measure 0 bash "$work/loop.sh")

rows=()
fails=0
fleet_row() {
  local label=$1 file=$2 silent=$3 expect=$4
  local ms mib cpu goal verdict
  read -r ms mib cpu < <(measure "$expect" "$plugin" --kubeconfig "$file" --all-contexts \
    --context-timeout "$timeout" status)
  goal=$(( 2 * single_ms + timeout * 1000 ))
  if [ "$ms" -le "$goal" ]; then verdict=met; else verdict=MISSED; fails=1; fi
  rows+=("$(printf '%-26s %6s %7s %7.2fx %8s %9s %8s %s' "$label" "$silent" "$ms" \
    "$(python3 -c "print($ms / $single_ms)")" "$cpu" "$mib" "$goal" "$verdict")")
}
fleet_row "fleet of 1" "$one" 0 0
fleet_row "fleet of 10 (reachable)" "$ten_reachable" 0 0
fleet_row "fleet of 10" "$ten" 1 1
fleet_row "fleet of 50 (reachable)" "$fifty_reachable" 0 0
fleet_row "fleet of 50" "$fifty" 5 1

echo "status over a fleet: two beds, a tiller decoy each; --context-timeout ${timeout}s;" \
  "--parallel default (64); mean of $runs runs; on $(nproc) cores shared with both beds"
printf '%-26s %6s %7s %8s %8s %9s %8s %s\n' "run" "silent" "wall ms" "ratio" "cpu ms" \
  "peak MiB" "goal ms" "goal"
printf '%-26s %6s %7s %7.2fx %8s %9s %8s %s\n' "single context (baseline)" 0 "$single_ms" 1 \
  "$single_cpu" "$single_mib" "-" "-"
printf '%-26s %6s %7s %7.2fx %8s %9s %8s %s\n' "loop of 10 single runs" 0 "$loop_ms" \
  "$(python3 -c "print($loop_ms / $single_ms)")" "$loop_cpu" "-" "-" "-"
printf '%s\n' "${rows[@]}"
echo "goal: a fleet within 2x the single-context time plus one --context-timeout; cpu ms is" \
  "the plugin's own (user + system), what a fleet costs the machine that runs it"
exit "$fails"

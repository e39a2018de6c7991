#!/usr/bin/env bash
# What each command costs the API server, and whether status's cost grows with the
# cluster. On a bed of its own: plants a decoy, counts each command's requests in the audit
# log, seeds 5,000 Secrets across 200 namespaces, counts again, and times `status` against
# `kubectl get serviceaccounts,secrets -n kube-system` in the same run.
#
#   benches/status-cost.sh            # prints a table of figures; exits 1 if status's request
#                                # count changed with the cluster's size
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
runs=${BENCH_RUNS:-20}

export HONEYTOKEN_BED_DIR=${HONEYTOKEN_BED_DIR:-$repo/tests/controlplane/.cache/bench-bed}
eval "$(tests/controlplane/up)"
trap 'tests/controlplane/down >/dev/null 2>&1' EXIT

cargo build --release --quiet --locked
plugin=$repo/target/release/kubectl-honeytoken
export HONEYTOKEN_HOME
HONEYTOKEN_HOME=$(mktemp -d)

# Requests the operator (or the decoy, for the drill) made while running one command.
count_requests() {
  local user=$1
  shift
  local before
  before=$(wc -c <"$HONEYTOKEN_AUDIT_LOG")
  "$@" >/dev/null 2>&1 || true
  sleep 0.5
  tail -c +"$((before + 1))" "$HONEYTOKEN_AUDIT_LOG" | python3 -c '
import json, sys
user = sys.argv[1]
ids = set()
for line in sys.stdin:
    try:
        event = json.loads(line)
    except ValueError:
        continue
    if event.get("user", {}).get("username") == user:
        ids.add(event["auditID"])
print(len(ids))' "$user"
}

# Mean wall time of a command over $runs runs, in milliseconds.
mean_ms() {
  python3 - "$runs" "$@" <<'PY'
import subprocess, sys, time
runs = int(sys.argv[1])
command = sys.argv[2:]
subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm-up
start = time.perf_counter()
for _ in range(runs):
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"{(time.perf_counter() - start) * 1000 / runs:.1f}")
PY
}

op=(--context operator)
decoy_user=system:serviceaccount:kube-system:tiller

plant_requests=$(count_requests operator "$plugin" "${op[@]}" plant --yes)
status_empty=$(count_requests operator "$plugin" "${op[@]}" status)
drill_operator=$(count_requests operator "$plugin" "${op[@]}" test-trigger)
drill_decoy=$(count_requests "$decoy_user" "$plugin" "${op[@]}" test-trigger)
status_empty_ms=$(mean_ms "$plugin" "${op[@]}" status)
kubectl_empty_ms=$(mean_ms kubectl --context operator get serviceaccounts,secrets -n kube-system)

echo "seeding 5000 Secrets across 200 namespaces..." >&2
python3 - >"$HONEYTOKEN_BED_DIR/seed.json" <<'PY'
import json
items = []
for n in range(200):
    ns = f"seed-{n:03d}"
    items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    for s in range(25):
        items.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"app-{s:02d}", "namespace": ns},
                      "type": "Opaque", "stringData": {"password": "x" * 64}})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
seed_started=$(date +%s)
kubectl --context admin create -f "$HONEYTOKEN_BED_DIR/seed.json" >/dev/null
echo "seeded in $(( $(date +%s) - seed_started ))s" >&2

status_seeded=$(count_requests operator "$plugin" "${op[@]}" status)
status_seeded_ms=$(mean_ms "$plugin" "${op[@]}" status)
kubectl_seeded_ms=$(mean_ms kubectl --context operator get serviceaccounts,secrets -n kube-system)
remove_requests=$(count_requests operator "$plugin" "${op[@]}" remove --yes)

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
printf '\n%-52s %s\n' "measure" "value"
printf '%-52s %s\n' "plant: API requests" "$plant_requests"
printf '%-52s %s\n' "status: API requests, empty cluster" "$status_empty"
printf '%-52s %s\n' "status: API requests, 5000 Secrets / 200 namespaces" "$status_seeded"
printf '%-52s %s\n' "test-trigger: API requests as the operator" "$drill_operator"
printf '%-52s %s\n' "test-trigger: API requests as the decoy" "$drill_decoy"
printf '%-52s %s\n' "remove: API requests" "$remove_requests"
printf '%-52s %s\n' "status wall time, empty (ms, mean of $runs)" "$status_empty_ms"
printf '%-52s %s\n' "kubectl get sa,secrets -n kube-system, empty (ms)" "$kubectl_empty_ms"
printf '%-52s %s\n' "ratio status / kubectl, empty" "$(ratio "$status_empty_ms" "$kubectl_empty_ms")"
printf '%-52s %s\n' "status wall time, seeded (ms, mean of $runs)" "$status_seeded_ms"
printf '%-52s %s\n' "kubectl get sa,secrets -n kube-system, seeded (ms)" "$kubectl_seeded_ms"
printf '%-52s %s\n' "ratio status / kubectl, seeded" "$(ratio "$status_seeded_ms" "$kubectl_seeded_ms")"

if [ "$status_empty" != "$status_seeded" ]; then
  echo "status made $status_empty requests on the empty cluster and $status_seeded on the seeded one" >&2
  exit 1
fi

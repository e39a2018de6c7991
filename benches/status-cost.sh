#!/usr/bin/env bash
# What each command costs the API server, and whether status's cost grows with the
# cluster. On a bed of its own: plants a decoy, counts each command's requests in the audit
# log, plants four more of other profiles (five decoys in three namespaces), counts again,
# seeds 5,000 Secrets across 200 namespaces, counts again with five decoys and with one, and
# times `status` against `kubectl get serviceaccounts,secrets -n kube-system` in the same
# run. The operator holds deploy/operator-rbac.yaml's Role in each namespace it plants in
# (kube-system, default, kubernetes-dashboard), as the README's operator RBAC says.
#
#   benches/status-cost.sh            # prints a table of figures; exits 1 if status's request
#                                     # count changed with the cluster's size, or a command
#                                     # it counts failed
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

# Requests the operator (or the decoys, for a drill: users separated by commas) made while
# running one command. With BREAKDOWN set, also writes them by namespace to that file.
count_requests() {
  local users=$1
  shift
  local before
  before=$(wc -c <"$HONEYTOKEN_AUDIT_LOG")
  "$@" >/dev/null 2>&1 || true
  sleep 0.5
  tail -c +"$((before + 1))" "$HONEYTOKEN_AUDIT_LOG" | python3 -c '
import collections, json, os, sys
users = set(sys.argv[1].split(","))
ids = {}
for line in sys.stdin:
    try:
        event = json.loads(line)
    except ValueError:
        continue
    if event.get("user", {}).get("username") in users:
        ref = event.get("objectRef") or {}
        ids[event["auditID"]] = ref.get("namespace") or "(cluster)"
print(len(ids))
out = os.environ.get("BREAKDOWN")
if out:
    by_namespace = collections.Counter(ids.values())
    with open(out, "w") as f:
        f.write(", ".join(f"{ns} {n}" for ns, n in sorted(by_namespace.items())))
' "$users"
}

# Runs a command once and stops the benchmark if it fails: a failed status makes fewer
# requests, which would read as a cheap one.
must_succeed() {
  if ! "$@" >/dev/null 2>"$HONEYTOKEN_BED_DIR/last-error"; then
    echo "failed: $*" >&2
    cat "$HONEYTOKEN_BED_DIR/last-error" >&2
    exit 1
  fi
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
tiller_user=system:serviceaccount:kube-system:tiller
# The four other decoys: profile and namespace. Five decoys in three namespaces, in the
# profiles' own namespaces (dashboard-admin-user's needs the Dashboard's namespace).
others=(argocd-manager:kube-system headlamp-admin:kube-system gitlab:default
  dashboard-admin-user:kubernetes-dashboard)
decoy_users=$tiller_user,system:serviceaccount:kube-system:argocd-manager
decoy_users+=,system:serviceaccount:kube-system:headlamp-admin
decoy_users+=,system:serviceaccount:default:gitlab
decoy_users+=,system:serviceaccount:kubernetes-dashboard:admin-user

kubectl --context admin create namespace kubernetes-dashboard >/dev/null
for namespace in default kubernetes-dashboard; do
  sed "s/namespace: kube-system/namespace: $namespace/" deploy/operator-rbac.yaml |
    kubectl --context admin apply -f - >/dev/null
done

# One decoy.
plant_requests=$(count_requests operator "$plugin" "${op[@]}" plant --yes)
must_succeed "$plugin" "${op[@]}" status
status_empty=$(count_requests operator "$plugin" "${op[@]}" status)
must_succeed "$plugin" "${op[@]}" test-trigger --profile tiller
drill_operator=$(count_requests operator "$plugin" "${op[@]}" test-trigger --profile tiller)
drill_decoy=$(count_requests "$tiller_user" "$plugin" "${op[@]}" test-trigger --profile tiller)
status_empty_ms=$(mean_ms "$plugin" "${op[@]}" status)
kubectl_empty_ms=$(mean_ms kubectl --context operator get serviceaccounts,secrets -n kube-system)

# Five decoys of five profiles.
for other in "${others[@]}"; do
  must_succeed "$plugin" "${op[@]}" plant --yes --profile "${other%%:*}" -n "${other##*:}"
done
must_succeed "$plugin" "${op[@]}" status
if [ "$("$plugin" "${op[@]}" status -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["decoys"]))')" != 5 ]; then
  echo "status does not report the five decoys" >&2
  exit 1
fi
status5_empty=$(BREAKDOWN=$HONEYTOKEN_BED_DIR/status5-empty count_requests operator "$plugin" "${op[@]}" status)
status5_empty_ms=$(mean_ms "$plugin" "${op[@]}" status)
must_succeed "$plugin" "${op[@]}" test-trigger
drill5_operator=$(count_requests operator "$plugin" "${op[@]}" test-trigger)
drill5_decoys=$(count_requests "$decoy_users" "$plugin" "${op[@]}" test-trigger)

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

# Five decoys, seeded; then remove them all in one run.
must_succeed "$plugin" "${op[@]}" status
status5_seeded=$(BREAKDOWN=$HONEYTOKEN_BED_DIR/status5-seeded count_requests operator "$plugin" "${op[@]}" status)
status5_seeded_ms=$(mean_ms "$plugin" "${op[@]}" status)
remove5_requests=$(count_requests operator "$plugin" "${op[@]}" remove --yes)

# One decoy, seeded.
must_succeed "$plugin" "${op[@]}" plant --yes
must_succeed "$plugin" "${op[@]}" status
status_seeded=$(count_requests operator "$plugin" "${op[@]}" status)
status_seeded_ms=$(mean_ms "$plugin" "${op[@]}" status)
kubectl_seeded_ms=$(mean_ms kubectl --context operator get serviceaccounts,secrets -n kube-system)
remove_requests=$(count_requests operator "$plugin" "${op[@]}" remove --yes)

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
printf '\n%-60s %s\n' "measure" "value"
printf '%-60s %s\n' "plant: API requests" "$plant_requests"
printf '%-60s %s\n' "status, 1 decoy: API requests, empty cluster" "$status_empty"
printf '%-60s %s\n' "status, 1 decoy: API requests, 5000 Secrets / 200 namespaces" "$status_seeded"
printf '%-60s %s\n' "status, 1 decoy: ratio seeded / empty" "$(ratio "$status_seeded" "$status_empty")"
printf '%-60s %s\n' "status, 5 decoys: API requests, empty cluster" "$status5_empty"
printf '%-60s %s\n' "status, 5 decoys: API requests, 5000 Secrets / 200 namespaces" "$status5_seeded"
printf '%-60s %s\n' "status, 5 decoys: ratio seeded / empty" "$(ratio "$status5_seeded" "$status5_empty")"
printf '%-60s %s\n' "status, 5 decoys, seeded: requests by namespace" "$(cat "$HONEYTOKEN_BED_DIR/status5-seeded")"
printf '%-60s %s\n' "test-trigger --profile tiller: requests as the operator" "$drill_operator"
printf '%-60s %s\n' "test-trigger --profile tiller: requests as the decoy" "$drill_decoy"
printf '%-60s %s\n' "test-trigger, 5 decoys: requests as the operator" "$drill5_operator"
printf '%-60s %s\n' "test-trigger, 5 decoys: requests as the decoys" "$drill5_decoys"
printf '%-60s %s\n' "remove, 1 decoy: API requests" "$remove_requests"
printf '%-60s %s\n' "remove, 5 decoys: API requests" "$remove5_requests"
printf '%-60s %s\n' "status wall time, 1 decoy, empty (ms, mean of $runs)" "$status_empty_ms"
printf '%-60s %s\n' "kubectl get sa,secrets -n kube-system, empty (ms)" "$kubectl_empty_ms"
printf '%-60s %s\n' "ratio status / kubectl, empty" "$(ratio "$status_empty_ms" "$kubectl_empty_ms")"
printf '%-60s %s\n' "status wall time, 1 decoy, seeded (ms, mean of $runs)" "$status_seeded_ms"
printf '%-60s %s\n' "kubectl get sa,secrets -n kube-system, seeded (ms)" "$kubectl_seeded_ms"
printf '%-60s %s\n' "ratio status / kubectl, seeded" "$(ratio "$status_seeded_ms" "$kubectl_seeded_ms")"
printf '%-60s %s\n' "status wall time, 5 decoys, empty (ms, mean of $runs)" "$status5_empty_ms"
printf '%-60s %s\n' "status wall time, 5 decoys, seeded (ms, mean of $runs)" "$status5_seeded_ms"
printf '%-60s %s\n' "ratio status 5 decoys / kubectl, seeded" "$(ratio "$status5_seeded_ms" "$kubectl_seeded_ms")"

if [ "$status_empty" != "$status_seeded" ] || [ "$status5_empty" != "$status5_seeded" ]; then
  echo "status made $status_empty / $status5_empty requests (1 / 5 decoys) on the empty cluster and $status_seeded / $status5_seeded on the seeded one" >&2
  echo "by namespace, empty: $(cat "$HONEYTOKEN_BED_DIR/status5-empty"); seeded: $(cat "$HONEYTOKEN_BED_DIR/status5-seeded")" >&2
  exit 1
fi

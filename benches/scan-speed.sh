#!/usr/bin/env bash
# How fast `scan` reads an audit log, against `grep -cF` for the decoy's quoted user name and
# `jq` with the equivalent filter, on the same generated logs in the same run.
#
#   benches/scan-speed.sh [SIZE_MIB]     # default 1024: logs of 1 GiB
#
# Two logs are generated, one after the other (only one is on disk at a time):
#   near-miss  one line in eight is from a user whose name begins with the decoy's
#              (`system:serviceaccount:kube-system:tiller-deployer` and the like);
#   clean      no user name begins with the decoy's.
# Both mix users, verbs and resources the way a busy cluster's log does, with four decoy
# events at known offsets (20, 40, 60 and 80 %); each tool must find exactly those.
#
# scan and grep are timed as the best of three runs, jq once. jq reads the whole log when it
# is at most JQ_MAX_MIB (default 512); a larger log is timed on its first JQ_MAX_MIB
# (cut at a line's end), the time scaled to the whole size, and jq must find the decoy
# events that lie in that part. The page cache is warmed before each log is timed.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
size_mib=${1:-1024}
jq_max_mib=${JQ_MAX_MIB:-512}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
decoy=system:serviceaccount:kube-system:tiller

# SCAN_PLUGIN: time this binary instead of the release build (an earlier version, say).
# SCAN_SECRET: also pass --secret with this NAMESPACE/NAME, as scan does when it asks the
# cluster (the stamps of the decoy's Secret are then looked for too; the logs hold none).
if [ -n "${SCAN_PLUGIN:-}" ]; then
  plugin=$SCAN_PLUGIN
else
  cargo build --release --quiet --locked
  plugin=$repo/target/release/kubectl-honeytoken
fi
scan_args=(scan --user "$decoy")
[ -n "${SCAN_SECRET:-}" ] && scan_args+=(--secret "$SCAN_SECRET")

# generate PATH SIZE_MIB NEAR_MISS: writes the log, and the decoy events' byte offsets to
# PATH.offsets.
generate() {
  python3 - "$1" "$2" "$decoy" "$3" <<'PY'
import json, random, sys
path, size_mib, decoy, near_miss = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
random.seed(7)
users = (["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver", "admin"]
         + [f"system:node:ip-10-0-{i}-{j}.ec2.internal" for i in range(4) for j in range(8)]
         + [f"system:serviceaccount:team-{i}:app" for i in range(20)])
# Users whose names begin with the decoy's: a deployer beside tiller, as real clusters have.
near_misses = [f"{decoy}-deployer", f"{decoy}-deployer", f"{decoy}-upgrade", f"{decoy}2"]
resources = ["pods", "secrets", "configmaps", "leases", "events", "endpointslices", "nodes", "serviceaccounts"]
verbs = ["get", "list", "watch", "update", "patch", "create"]
agents = ["kube-controller-manager/v1.36.3 (linux/amd64) kubernetes/abc/leader-election",
          "kubelet/v1.36.3 (linux/amd64) kubernetes/abc", "kubectl/v1.36.3 (linux/amd64) kubernetes/abc",
          "argocd-application-controller/v2.11", "helm/v3.16.2"]

def event(n, user, verb, resource, ns, code, agent):
    return json.dumps({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": f"{n:08x}-1f2e-4c3b-9a8d-{n:012x}", "stage": "ResponseComplete",
        "requestURI": f"/api/v1/namespaces/{ns}/{resource}?limit=500", "verb": verb,
        "user": {"username": user, "uid": "u", "groups": ["system:authenticated"]},
        "sourceIPs": [f"10.0.{n % 250}.{n % 199}"], "userAgent": agent,
        "objectRef": {"resource": resource, "namespace": ns, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": "2026-11-28T10:00:00.000000Z",
        "stageTimestamp": "2026-11-28T10:00:00.004000Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
    }, separators=(",", ":")) + "\n"

def user_of(n):
    if near_miss and n % 8 == 0:
        return near_misses[(n // 8) % len(near_misses)]
    return random.choice(users)

# 5000 is a multiple of 8: one line in eight is a near miss all through the log.
pool = [event(n, user_of(n), random.choice(verbs), random.choice(resources),
              f"ns-{n % 40}", random.choice([200, 200, 200, 201, 404, 409]), random.choice(agents))
        for n in range(5000)]
target = size_mib * 1024 * 1024
decoy_at = sorted({target * k // 5 for k in range(1, 5)})
written, n, placed, near, offsets = 0, 0, 0, 0, []
with open(path, "w") as out:
    chunk = []
    while written < target:
        line = pool[n % len(pool)]
        if placed < len(decoy_at) and written >= decoy_at[placed]:
            line = event(10**7 + placed, decoy, "list", "secrets", "kube-system", 403, "kubectl/v1.36.3 (linux/amd64)")
            offsets.append(written)
            placed += 1
        elif near_miss and n % 8 == 0:
            near += 1
        chunk.append(line)
        written += len(line)
        n += 1
        if len(chunk) >= 10000:
            out.write("".join(chunk))
            chunk = []
    out.write("".join(chunk))
with open(path + ".offsets", "w") as out:
    out.write("".join(f"{o}\n" for o in offsets))
print(f"  {written} bytes, {n} lines, {placed} decoy events, {near} near-miss lines", file=sys.stderr)
PY
}

seconds_of() {
  local start end
  start=$(date +%s.%N)
  "$@" >"$work/out" 2>/dev/null || true
  end=$(date +%s.%N)
  python3 -c "print($end - $start)"
}
best_of_3() {
  local best='' s
  for _ in 1 2 3; do
    s=$(seconds_of "$@")
    best=$(python3 -c "print(min(float(x) for x in '$best $s'.split()))")
  done
  echo "$best"
}
calc() { python3 -c "print(f'{$1}')"; }

failed=0
summary=()
for data in near-miss clean; do
  log=$work/audit-$data.log
  echo "generating the ${data} log (${size_mib} MiB)..." >&2
  generate "$log" "$size_mib" "$([ "$data" = near-miss ] && echo 1 || echo 0)"
  bytes=$(stat -c %s "$log")
  mib=$(calc "$bytes / 1048576")
  cat "$log" >/dev/null # warm the page cache

  scan_s=$(best_of_3 "$plugin" "${scan_args[@]}" "$log" -o json)
  scan_found=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["uses"]))' "$work/out")
  grep_s=$(best_of_3 grep -cF "\"username\":\"$decoy\"" "$log")
  grep_found=$(cat "$work/out")

  jq_input=$log
  jq_expected=4
  jq_note="whole log"
  if [ "$size_mib" -gt "$jq_max_mib" ]; then
    jq_input=$work/slice.log
    python3 - "$log" "$jq_input" "$((jq_max_mib * 1048576))" <<'PY'
import sys
source, dest, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(source, "rb") as f:
    data = f.read(limit)
with open(dest, "wb") as f:
    f.write(data[: data.rfind(b"\n") + 1])
PY
    slice_bytes=$(stat -c %s "$jq_input")
    jq_expected=$(awk -v end="$slice_bytes" '$1 < end' "$log.offsets" | wc -l)
    jq_note="timed on the first $(calc "$slice_bytes / 1048576:.0f") MiB, scaled"
    cat "$jq_input" >/dev/null
  fi
  jq_part_s=$(seconds_of jq -c --arg u "$decoy" 'select(.user.username == $u)' "$jq_input")
  jq_found=$(wc -l <"$work/out")
  jq_s=$(calc "$jq_part_s * $bytes / $(stat -c %s "$jq_input")")
  rm -f "$work/slice.log"

  grep_ratio=$(calc "$grep_s / $scan_s:.2f")
  jq_ratio=$(calc "$jq_s / $scan_s:.1f")
  printf '\n%s log, %.0f MiB:\n' "$data" "$mib"
  printf '%-40s %9s %9s %6s\n' "tool" "seconds" "MiB/s" "found"
  printf '%-40s %9.3f %9.0f %6s\n' "kubectl honeytoken scan --user" "$scan_s" "$(calc "$mib / $scan_s")" "$scan_found"
  printf '%-40s %9.3f %9.0f %6s\n' "grep -cF '\"username\":\"<decoy>\"'" "$grep_s" "$(calc "$mib / $grep_s")" "$grep_found"
  printf '%-40s %9.3f %9.0f %6s  (%s)\n' "jq 'select(.user.username == \$u)'" "$jq_s" "$(calc "$mib / $jq_s")" "$jq_found/$jq_expected" "$jq_note"
  printf 'scan throughput / grep -cF: %s   scan throughput / jq: %s\n' "$grep_ratio" "$jq_ratio"
  summary+=("$(printf '%-10s scan/grep -cF %s  scan/jq %s' "$data" "$grep_ratio" "$jq_ratio")")

  if [ "$scan_found" != 4 ] || [ "$grep_found" != 4 ] || [ "$jq_found" != "$jq_expected" ]; then
    echo "expected scan and grep to find the 4 decoy events, jq $jq_expected" >&2
    failed=1
  fi
  rm -f "$log" "$log.offsets"
done
echo
printf '%s\n' "${summary[@]}"
exit "$failed"

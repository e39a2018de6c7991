#!/usr/bin/env bash
# How fast `watch --tripwire` tells a use of a decoy token, and what it costs while idle.
# On a bed of its own: plants BENCH_USES decoys (one namespace each, so each use is the
# first of its token and the API server's 10 s token cache never hides one), starts the
# watcher, then for each decoy sends the attacker's cheapest probe (GET /version with the
# token) and times it until the watcher's alert line for that Secret. The baseline, in the
# same run and for the same uses: a plain watch of the Secret by name (what `kubectl get
# -w` sees), i.e. the API server's own stamp latency, which no watcher can beat.
# Then the watcher idles for BENCH_IDLE seconds: its requests to the API server (from the
# audit log, by its user agent) are extrapolated to an hour, and its memory read from
# /proc.
#
#   benches/tripwire-latency.sh        # BENCH_USES=20 BENCH_IDLE=330 by default
#   HONEYTOKEN_BIN=target/debug/kubectl-honeytoken benches/tripwire-latency.sh
#
# Prints a table; exits 1 if an alert did not come.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
uses=${BENCH_USES:-20}
idle=${BENCH_IDLE:-330}

export HONEYTOKEN_BED_DIR=${HONEYTOKEN_BED_DIR:-$repo/tests/controlplane/.cache/bench-tripwire}
eval "$(tests/controlplane/up)"
trap 'tests/controlplane/down >/dev/null 2>&1' EXIT

plugin=${HONEYTOKEN_BIN:-}
if [ -z "$plugin" ]; then
  cargo build --release --quiet --locked
  plugin=$repo/target/release/kubectl-honeytoken
fi
export HONEYTOKEN_HOME
HONEYTOKEN_HOME=$(mktemp -d)

echo "planting $uses decoys..." >&2
: >"$HONEYTOKEN_BED_DIR/decoys"
for n in $(seq 1 "$uses"); do
  ns=$(printf 'bench-%03d' "$n")
  kubectl --context admin create namespace "$ns" >/dev/null
  secret=$("$plugin" --context admin -n "$ns" plant --yes -o json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  token=$(kubectl --context admin -n "$ns" get secret "$secret" -o jsonpath='{.data.token}' | base64 -d)
  printf '%s %s %s\n' "$ns" "$secret" "$token" >>"$HONEYTOKEN_BED_DIR/decoys"
done
chmod 600 "$HONEYTOKEN_BED_DIR/decoys"

server=$(cat "$HONEYTOKEN_BED_DIR/apiserver-url")
admin_token=$(kubectl config view --raw -o jsonpath='{.users[?(@.name=="admin")].user.token}')

python3 - "$plugin" "$server" "$admin_token" "$HONEYTOKEN_BED_DIR/decoys" "$HONEYTOKEN_AUDIT_LOG" "$idle" <<'PY'
import json, os, ssl, subprocess, sys, threading, time, http.client, urllib.parse

plugin, server, admin_token, decoys_file, audit_log, idle = sys.argv[1:7]
idle = int(idle)
decoys = [line.split() for line in open(decoys_file)]
host = urllib.parse.urlparse(server)
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE

watcher = subprocess.Popen(
    [plugin, "--context", "admin", "watch", "--tripwire"],
    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
)
alerts = {}  # secret -> monotonic time of the alert line
stderr_lines = []
ready = threading.Event()

def read_stdout():
    for line in watcher.stdout:
        at = time.monotonic()
        try:
            alert = json.loads(line)
        except ValueError:
            continue
        if alert.get("signal") == "tripwire":
            alerts.setdefault(alert.get("secret"), at)

def read_stderr():
    for line in watcher.stderr:
        stderr_lines.append(line)
        if line.startswith("watch: watching"):
            ready.set()

threading.Thread(target=read_stdout, daemon=True).start()
threading.Thread(target=read_stderr, daemon=True).start()
if not ready.wait(120):
    sys.exit("the watcher did not start:\n" + "".join(stderr_lines))
time.sleep(3)  # its watches have listed

# The baseline: a plain watch of each Secret by name, as `kubectl get -w` makes it.
stamped = {}
def plain_watch(namespace, secret):
    connection = http.client.HTTPSConnection(host.hostname, host.port, context=context)
    connection.request("GET",
        f"/api/v1/namespaces/{namespace}/secrets?watch=1&fieldSelector=metadata.name%3D{secret}",
        headers={"Authorization": f"Bearer {admin_token}"})
    response = connection.getresponse()
    for line in response:
        at = time.monotonic()
        event = json.loads(line)
        labels = event["object"]["metadata"].get("labels") or {}
        if "kubernetes.io/legacy-token-last-used" in labels:
            stamped.setdefault(f"{namespace}/{secret}", at)
            return
for namespace, secret, _ in decoys:
    threading.Thread(target=plain_watch, args=(namespace, secret), daemon=True).start()
time.sleep(2)

sent = {}
for namespace, secret, token in decoys:
    connection = http.client.HTTPSConnection(host.hostname, host.port, context=context)
    key = f"{namespace}/{secret}"
    sent[key] = time.monotonic()
    connection.request("GET", "/version", headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"GET /version with the token of {key} answered {response.status}")
    time.sleep(1)
deadline = time.monotonic() + 30
while len(alerts) < len(sent) and time.monotonic() < deadline:
    time.sleep(0.1)
missing = [k for k in sent if k not in alerts]
if missing:
    print("no alert for: " + ", ".join(missing), file=sys.stderr)

def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(p / 100 * len(values) + 0.5)) - 1))]

watcher_ms = [(alerts[k] - sent[k]) * 1000 for k in sent if k in alerts]
plain_ms = [(stamped[k] - sent[k]) * 1000 for k in sent if k in stamped]

# Idle cost: the watcher's requests in the audit log while nothing happens.
time.sleep(5)  # the re-arms are done
start_offset = os.path.getsize(audit_log)
time.sleep(idle)
ids = set()
with open(audit_log, "rb") as log:
    log.seek(start_offset)
    for line in log:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        # Requests started in the window: a watch that started before it logs only its
        # end here.
        if event.get("verb") == "watch" and event.get("stage") == "ResponseComplete":
            continue
        if event.get("userAgent", "").startswith("kubectl-honeytoken/"):
            ids.add(event["auditID"])
status = open(f"/proc/{watcher.pid}/status").read()
memory = {l.split(":")[0]: l.split(":")[1].strip() for l in status.splitlines() if l.startswith(("VmRSS", "VmHWM"))}
watcher.terminate()
watcher.wait(10)

rows = [
    ("uses (one decoy each, 1 s apart)", len(sent)),
    ("alerts received", len(watcher_ms)),
    ("watcher: request -> alert line, p50 (ms)", f"{percentile(watcher_ms, 50):.0f}"),
    ("watcher: request -> alert line, p99 (ms)", f"{percentile(watcher_ms, 99):.0f}"),
    ("baseline plain watch: request -> stamp seen, p50 (ms)", f"{percentile(plain_ms, 50):.0f}"),
    ("baseline plain watch: request -> stamp seen, p99 (ms)", f"{percentile(plain_ms, 99):.0f}"),
    ("ratio watcher / baseline, p50", f"{percentile(watcher_ms, 50) / max(percentile(plain_ms, 50), 0.1):.2f}"),
    ("ratio watcher / baseline, p99", f"{percentile(watcher_ms, 99) / max(percentile(plain_ms, 99), 0.1):.2f}"),
    ("goal p99 < 250 ms", "met" if percentile(watcher_ms, 99) < 250 else "NOT met"),
    (f"idle: API requests in {idle} s ({len(decoys)} decoys)", len(ids)),
    ("idle: API requests per hour", f"{len(ids) * 3600 / idle:.0f}"),
    ("idle: API requests per hour per decoy", f"{len(ids) * 3600 / idle / len(decoys):.1f}"),
    ("memory: RSS now / peak", f"{memory.get('VmRSS')} / {memory.get('VmHWM')}"),
]
print()
for name, value in rows:
    print(f"{name:<58} {value}")
sys.exit(1 if missing else 0)
PY

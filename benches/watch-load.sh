#!/usr/bin/env bash
# Load on `watch --listen`: sustained events per second against a receiver that only reads
# and acknowledges, and alert latency percentiles (see benches/watch_load.rs).
#
#   benches/watch-load.sh [SECONDS] [CONNECTIONS]     # default 10 s, 4 connections
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --locked --bench watch_load -- "$@"

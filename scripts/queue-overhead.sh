#!/usr/bin/env bash
# The cost of the Redis queue (issue 14): the same sweep through the local process pool (`--workers N`) and
# through `--queue` with N `pnpm worker` processes on this machine, N = 1, 2, 3, each on a fresh database
# (and a flushed Redis), every trial with --threads 1. Prints one line per run and a table of wall times.
#
#   scripts/queue-overhead.sh                              # experiments/smoke.yaml (2 trials)
#   scripts/queue-overhead.sh experiments/smoke.yaml 3     # the same with seeds [0, 1, 2] (6 trials)
#   REPEAT=2 scripts/queue-overhead.sh ...                 # each configuration twice (the table gives the minimum)
#
# Needs redis-server and sqlite3 (Debian's packages) and a built tree (pnpm build). Times are whole `pnpm sweep` commands
# (planning, training, validation, FPS, writing), measured with `date +%s.%N`; the workers are started (and
# ready) before the sweep starts, as on a cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
exp_in=${1:-experiments/smoke.yaml}
seeds=${2:-1}
repeat=${REPEAT:-1}
sweep=packages/runner/dist/cli/sweep.js
worker=packages/runner/dist/cli/worker.js
command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install -y redis-server)" >&2; exit 1; }
[ -f "$sweep" ] || { echo "$sweep is missing: run pnpm build" >&2; exit 1; }

tmp=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
url="redis://127.0.0.1:$port"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly no --daemonize yes --logfile "$tmp/redis.log"
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
export ABLATE_CACHE_DIR="$tmp/cache"

# The experiment with the asked number of seeds, under its own name (the trial ids do not depend on it).
exp="$tmp/experiment.yaml"
seed_list=$(seq -s ', ' 0 $((seeds - 1)))
sed -e "s/^seeds: .*/seeds: [$seed_list]/" "$exp_in" > "$exp"
ntrials=$(node "$sweep" "$exp" --dry-run --db "$tmp/dry.db" 2>/dev/null | grep -cE '^[0-9]+ +[0-9a-f]{12} ')
echo "experiment $exp_in with seeds [$seed_list]: $ntrials trials; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
declare -A best
for r in $(seq 1 "$repeat"); do
  for n in 1 2 3; do
    t0=$(now)
    node "$sweep" "$exp" --workers "$n" --threads 1 --db "$tmp/local-$n-$r.db" --no-progress >"$tmp/local-$n-$r.log" 2>&1
    t=$(echo "$(now) - $t0" | bc)
    echo "local pool, $n worker(s), run $r: $t s"
    [ -z "${best[local-$n]:-}" ] || (($(echo "$t < ${best[local-$n]}" | bc))) && best[local-$n]=$t

    redis-cli -p "$port" flushall >/dev/null
    pids=()
    for i in $(seq 1 "$n"); do
      node "$worker" --queue "$url" --threads 1 >"$tmp/worker-$n-$r-$i.log" 2>&1 &
      pids+=($!)
    done
    for i in $(seq 1 "$n"); do
      until grep -q 'trial(s) at a time' "$tmp/worker-$n-$r-$i.log" 2>/dev/null; do sleep 0.2; done
    done
    t0=$(now)
    node "$sweep" "$exp" --queue "$url" --threads 1 --db "$tmp/queue-$n-$r.db" --no-progress >"$tmp/queue-$n-$r.log" 2>&1
    t=$(echo "$(now) - $t0" | bc)
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "queue, $n worker(s), run $r: $t s"
    [ -z "${best[queue-$n]:-}" ] || (($(echo "$t < ${best[queue-$n]}" | bc))) && best[queue-$n]=$t
    for f in "$tmp/local-$n-$r.db" "$tmp/queue-$n-$r.db"; do
      ok=$(sqlite3 "$f" "SELECT COUNT(*) FROM results WHERE status = 'ok'")
      [ "$ok" = "$ntrials" ] || { echo "$f: $ok of $ntrials trials ok; see the logs in $tmp" >&2; trap - EXIT; exit 1; }
    done
  done
done
echo
echo "| workers | local pool | queue | queue - local per trial |"
echo "| --- | --- | --- | --- |"
for n in 1 2 3; do
  l=${best[local-$n]}
  q=${best[queue-$n]}
  printf '| %d | %.1f s | %.1f s | %+.2f s |\n' "$n" "$l" "$q" "$(echo "($q - $l) / $ntrials" | bc -l)"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

# bench/run with BENCH_STORE=postgres (sourced): the same scenarios on LMDB with one node, on
# PostgreSQL with one node, and on PostgreSQL with two nodes (one wrk per node, each with half the
# connections), in one run, with the CPU each costs. PostgreSQL is a throwaway cluster
# (tests/postgres/cluster: Unix socket, fsync and synchronous_commit on, so every commit is
# durable), stopped by its PID at the end. Prints one Markdown table.
#
# CPU s per 1k requests is split in two: the idpd processes, and the PostgreSQL processes (the
# postmaster's children). "rollbacks" is PostgreSQL's xact_rollback over the run: every
# serialisation failure is one, so it bounds the retries from above.

pg_dir=$(mktemp -d -u /tmp/idpd-bench-pg-XXXXXX)
pg_uri=$(tests/postgres/cluster start "$pg_dir")
pg_postmaster=$(head -n 1 "$pg_dir/data/postmaster.pid")
stores_cleanup() {
  for p in ${node_pids:-}; do stop_pid "$p"; done
  tests/postgres/cluster stop "$pg_dir"
}
trap 'stores_cleanup; cleanup' EXIT

pg_ticks() { # pg_ticks: user+system clock ticks of the postmaster and all its children
  local t=0 p
  for p in $pg_postmaster $(pgrep -P "$pg_postmaster"); do t=$((t + $(cpu_ticks "$p"))); done
  echo "$t"
}
pg_rollbacks() {
  psql "$pg_uri" -Atc "SELECT sum(xact_rollback) FROM pg_stat_database WHERE datname = 'bench'"
}
psql "$pg_uri" -qc "CREATE DATABASE bench"
bench_uri=${pg_uri/\/postgres/\/bench}

# stores_measure SETUP SCENARIO ROUND PATH [SCRIPT [SCRIPT-ARG]]: one wrk per node at once, each with
# conns / nodes connections, aimed at PATH of its node; node i's wrk sees BENCH_RT_<t> from
# BENCH_RT_<t>_<i> (its own refresh tokens) when those are set. One line in $results with the
# summed req/s, the worst p99, and the CPU split "idpd/postgres".
stores_measure() {
  local setup=$1 scenario=$2 round=$3 path=$4 script=${5:-} sarg=${6:-}
  local n=${#node_urls[@]} i k before_i=0 before_p after_i=0 after_p rb0=0 rb1=0
  local per=$((conns / n)) t=$((threads < conns / n ? threads : 1))
  local -a wrk_pids=()
  for p in "${node_pids[@]}"; do before_i=$((before_i + $(cpu_ticks "$p"))); done
  before_p=$(pg_ticks)
  [[ $setup == lmdb* ]] || rb0=$(pg_rollbacks)
  for i in $(seq 0 $((n - 1))); do
    local -a own=()
    for k in $(seq "$t"); do
      local v="BENCH_RT_${k}_$i"
      [[ -n ${!v:-} ]] && own+=("BENCH_RT_$k=${!v}")
    done
    local -a cmd=(wrk --latency -t"$t" -c"$per" -d"${secs}s")
    [[ -n $script ]] && cmd+=(-s "$script")
    cmd+=("${node_urls[$i]}$path")
    [[ -n $sarg ]] && cmd+=("$sarg")
    env ${own[@]+"${own[@]}"} "${cmd[@]}" >"$tmp/wrk.$i" &
    wrk_pids+=($!)
  done
  for p in "${wrk_pids[@]}"; do wait "$p"; done
  for p in "${node_pids[@]}"; do after_i=$((after_i + $(cpu_ticks "$p"))); done
  after_p=$(pg_ticks)
  [[ $setup == lmdb* ]] || rb1=$(pg_rollbacks)
  local rps=0 reqs=0 bad=0 p99=0 v
  for i in $(seq 0 $((n - 1))); do
    rps=$(awk -v a="$rps" '/^Requests\/sec/ {print a + $2}' "$tmp/wrk.$i")
    reqs=$((reqs + $(awk '/requests in/ {print $1}' "$tmp/wrk.$i")))
    bad=$((bad + $(awk '/Non-2xx/ {n = $5} END {print n + 0}' "$tmp/wrk.$i")))
    v=$(to_ms "$(awk '$1 == "99%" {print $2}' "$tmp/wrk.$i")")
    p99=$(awk -v a="$p99" -v b="$v" 'BEGIN {print (b > a) ? b : a}')
    grep '^refresh:' "$tmp/wrk.$i" >&2 || true
  done
  local cpu_i cpu_p
  cpu_i=$(awk -v t=$((after_i - before_i)) -v hz="$clk_tck" -v n="$reqs" \
    'BEGIN { printf "%.3f", n ? t / hz / n * 1000 : 0 }')
  cpu_p=$(awk -v t=$((after_p - before_p)) -v hz="$clk_tck" -v n="$reqs" \
    'BEGIN { printf "%.3f", n ? t / hz / n * 1000 : 0 }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$setup" "$round" "$rps" "-" \
    "$p99" "$bad" "$((rb1 - rb0))" "$reqs" "$cpu_i+$cpu_p" >>"$results"
  printf '  %-20s %-18s round %s: %10s req/s  p99 %8s ms  non-2xx %s  rollbacks %s  CPU/1k %s + %s s\n' \
    "$scenario" "$setup" "$round" "$rps" "$p99" "$bad" "$((rb1 - rb0))" "$cpu_i" "$cpu_p" >&2
}

# stores_setup NAME NODES STORE: fixtures on a fresh store, then NODES servers on it.
stores_setup() {
  local name=$1 nodes=$2 store=$3 i
  for p in ${node_pids[@]+"${node_pids[@]}"}; do stop_pid "$p"; done
  node_pids=() node_urls=()
  rm -rf "$tmp/s-$name"
  mkdir "$tmp/s-$name"
  local -a st=()
  [[ -n $store ]] && st=(--store "$store")
  if [[ -n $store ]]; then
    psql "$pg_uri" -qc "DROP DATABASE IF EXISTS bench WITH (FORCE)" -c "CREATE DATABASE bench"
  fi
  local acct
  acct=$("$bin" service-account create --data "$tmp/s-$name" "${st[@]}" --name bench \
    --role idp:introspect)
  export BENCH_BASIC_IDPD
  BENCH_BASIC_IDPD=$(printf '%s:%s' "$(json_field client_id <<<"$acct")" \
    "$(json_field client_secret <<<"$acct")" | base64 -w0)
  s_app=$("$bin" application create --data "$tmp/s-$name" "${st[@]}" --name bench \
    --grant password --grant refresh_token | json_field client_id)
  for i in $(seq "$nodes"); do
    env IDPD_RATE_LIMIT_TOKEN=0 IDPD_RATE_LIMIT_INTROSPECT=0 IDPD_LOGIN_ADDRESS_THRESHOLD=0 \
      IDPD_WORKER_QUEUE_PER_ACCOUNT=256 IDPD_WORKER_QUEUE_PER_ADDRESS=128 IDPD_LOG_LEVEL=warn \
      "$bin" serve --listen 127.0.0.1:0 --data "$tmp/s-$name" "${st[@]}" \
      --issuer http://idpd.bench.test --allow-registration 2>"$tmp/s-$name.$i.log" &
    node_pids+=($!)
    node_urls+=("http://127.0.0.1:$(wait_port "$tmp/s-$name.$i.log")")
  done
  s_login="grant_type=password&client_id=$s_app&username=bench%40example.com&password=bench+password"
  curl -sf -o /dev/null -H 'Content-Type: application/json' "${node_urls[0]}/v1/register" \
    -d "{\"client_id\":\"$s_app\",\"email\":\"bench@example.com\",\"password\":\"bench password\"}"
  export BENCH_TOKEN_IDPD
  BENCH_TOKEN_IDPD=$(curl -sf -H "Authorization: Basic $BENCH_BASIC_IDPD" \
    -d grant_type=client_credentials "${node_urls[0]}/oauth/token" | json_field access_token)
}

stores_run() { # stores_run NAME NODES STORE
  local name=$1 r n i k t per list
  stores_setup "$@"
  n=${#node_urls[@]}
  t=$((threads < conns / n ? threads : 1))
  per=$(((conns / n + t - 1) / t + 1)) # one token per connection, one spare per thread
  echo "bench: $name" >&2
  for r in $(seq "$rounds"); do
    for i in 0 1; do for k in $(seq "$t"); do unset "BENCH_RT_${k}_$i"; done; done
    stores_measure "$name" jwks "$r" /jwks
    stores_measure "$name" "client credentials" "$r" /oauth/token bench/token.lua idpd
    stores_measure "$name" introspection "$r" /oauth/introspect bench/introspect.lua idpd
    BENCH_LOGIN_BODY=$s_login stores_measure "$name" "password login" "$r" /oauth/token \
      bench/login.lua
    # refresh: fresh sessions each round, a pool per wrk thread of each node
    for i in $(seq 0 $((n - 1))); do
      for k in $(seq "$t"); do
        list=""
        for _ in $(seq "$per"); do
          list+=${list:+,}$(curl -sf -d "$s_login" "${node_urls[0]}/oauth/token" |
            json_field refresh_token)
        done
        export "BENCH_RT_${k}_$i=$list"
      done
    done
    BENCH_APP=$s_app stores_measure "$name" refresh "$r" /oauth/token bench/refresh.lua
  done
}

conns=${BENCH_CONNECTIONS:-32}
stores_run "lmdb, 1 node" 1 ""
stores_run "postgres, 1 node" 1 "$bench_uri"
stores_run "postgres, 2 nodes" 2 "$bench_uri"
for p in "${node_pids[@]}"; do stop_pid "$p"; done
node_pids=()

echo
echo "### Stores: $started, $(nproc) cores ($cpu), $conns connections in all (split over the nodes), median of $rounds x ${secs} s"
echo
echo "CPU s per 1k requests: idpd + PostgreSQL. Rollbacks: PostgreSQL transactions rolled back"
echo "during the runs (each serialisation retry is one), summed over the rounds."
echo
# CPU: the last round's (the rounds differ little; req/s is the median)
cpu_of() { awk -F'\t' -v s="$1" -v t="$2" '$1 == s && $2 == t {v = $10} END {print v}' "$results"; }
echo "| scenario | LMDB, 1 node | PostgreSQL, 1 node | PostgreSQL, 2 nodes | PG 1 node / LMDB | rollbacks (PG 1 / 2 nodes) | CPU/1k LMDB | CPU/1k PG 1 node | CPU/1k PG 2 nodes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in jwks "client credentials" introspection refresh "password login"; do
  l=$(median "$s" "lmdb, 1 node" 4)
  p1=$(median "$s" "postgres, 1 node" 4)
  p2=$(median "$s" "postgres, 2 nodes" 4)
  printf '| %s | %s | %s | %s | %s | %s / %s | %s | %s | %s |\n' "$s" "$l" "$p1" "$p2" \
    "$(ratio "$p1" "$l")" "$(median "$s" "postgres, 1 node" 8)" "$(median "$s" "postgres, 2 nodes" 8)" \
    "$(cpu_of "$s" "lmdb, 1 node")" "$(cpu_of "$s" "postgres, 1 node")" \
    "$(cpu_of "$s" "postgres, 2 nodes")"
done

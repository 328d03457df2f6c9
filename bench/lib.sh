# Helpers of bench/run (sourced): starting servers, one measured wrk run, the summary tables.
# A measured run appends one tab-separated line to $results:
#   scenario target round req/s p50_ms p99_ms non2xx socket_errors requests cpu_s_per_1k

clk_tck=$(getconf CLK_TCK)

cpu_ticks() { # cpu_ticks PID: user+system clock ticks of a process (0 when there is no process)
  if [[ -n "${1:-}" && -r /proc/$1/stat ]]; then
    # Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
    sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{print $12 + $13}'
  else
    echo 0
  fi
}

wait_port() { # wait_port FILE: prints the first "port":N found in FILE within 10 s
  local port=""
  for _ in $(seq 100); do
    port=$(grep -o '"port":[0-9]*' "$1" 2>/dev/null | head -1 | cut -d: -f2 || true)
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  [[ -n "$port" ]] || { echo "bench: no port in $1" >&2; cat "$1" >&2; return 1; }
  echo "$port"
}

json_field() { # json_field NAME: the string member NAME of the JSON on stdin (flat documents)
  sed -E "s/.*\"$1\":\"([^\"]+)\".*/\\1/"
}

stop_pid() { # stop_pid PID: SIGTERM, then wait; a process that is already gone is fine
  [[ -n "${1:-}" ]] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

to_ms() { # to_ms 1.23ms|850.00us|1.20s|2.00m
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /m$/) n *= 60000;
    else if (v ~ /s$/) n *= 1000
    printf "%.3f", n }'
}

# measure SCENARIO TARGET ROUND PID wrk-args...: one wrk run, recorded in $results.
# PID is the server whose CPU time is charged to the scenario.
measure() {
  local scenario=$1 target=$2 round=$3 pid=$4
  shift 4
  local before after out
  before=$(cpu_ticks "$pid")
  out=$(wrk --latency "$@")
  after=$(cpu_ticks "$pid")
  local rps p50 p99 bad errs reqs
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  errs=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  local cpu
  cpu=$(awk -v t=$((after - before)) -v hz="$clk_tck" -v n="${reqs:-0}" \
    'BEGIN { if (n > 0) printf "%.3f", t / hz / n * 1000; else print "-" }')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$target" "$round" "${rps:-0}" \
    "$p50" "$p99" "${bad:-0}" "${errs:-0}" "${reqs:-0}" "$cpu" >>"$results"
  printf '  %-26s %-8s round %s: %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s  errors %s\n' \
    "$scenario" "$target" "$round" "${rps:-0}" "$p50" "$p99" "${bad:-0}" "${errs:-0}" >&2
  grep '^refresh:' <<<"$out" >&2 || true # a broken rotation chain says so
}

# median SCENARIO TARGET COLUMN: the median over rounds of one column of $results (4 = req/s,
# 5 = p50, 6 = p99, 10 = CPU); non-2xx and socket errors are summed instead (columns 7, 8).
median() {
  awk -F'\t' -v s="$1" -v t="$2" -v c="$3" '
    $1 == s && $2 == t { v[n++] = $c; sum += $c }
    END {
      if (n == 0) { print "-"; exit }
      if (c == 7 || c == 8) { print sum; exit }
      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
      print (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2 }' "$results"
}

ratio() { # ratio A B: A/B with two decimals, "-" when either is missing
  awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-";
                                   else printf "%.2f", a / b }'
}

# The tables of bench/run (sourced at its end): Markdown, so a run can be pasted into the README.
# Reads $results (see bench/lib.sh) and the ceilings bench/run measured.

m() { median "$1" "$2" "$3"; }
yes_no() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-";
                                           else print (a + 0 >= b + 0) ? "met" : "**missed**" }'; }
argon2_rate=$(ceil argon2_hashes_per_s)
lmdb_rate=$(ceil lmdb_commits_per_s)
fixed_rate=$(m mhd-fixed ceiling 4)
sign_rate=$(m mhd-sign ceiling 4)

echo
echo "### idpd, $started, $(nproc) cores ($cpu), wrk -t$threads -c$conns, median of $rounds x ${secs} s"
echo
echo "| scenario | req/s | p50 ms | p99 ms | non-2xx | CPU s per 1k req | ceiling | of ceiling | peer req/s | idpd / peer |"
echo "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"
row() { # row SCENARIO CEILING-NAME CEILING-FIGURE
  local s=$1 rps peer
  rps=$(m "$s" idpd 4)
  peer=$(m "$s" peer 4)
  local errs
  errs=$(m "$s" idpd 8)
  printf '| %s | %s | %s | %s | %s%s | %s | %s | %s | %s | %s |\n' "$s" "$rps" "$(m "$s" idpd 5)" \
    "$(m "$s" idpd 6)" "$(m "$s" idpd 7)" "$([[ $errs != 0 && $errs != - ]] && echo " (+$errs socket errors)")" \
    "$(m "$s" idpd 10)" "$2" "$(ratio "$rps" "$3")" "$peer" "$(ratio "$rps" "$peer")"
}
row jwks "libmicrohttpd, fixed body" "$fixed_rate"
row discovery "libmicrohttpd, fixed body" "$fixed_rate"
row "client credentials" "libmicrohttpd + ES256 sign" "$sign_rate"
row "client credentials, no cache" "Argon2id hashes/s" "$argon2_rate"
row introspection "-" "-"
row "password login" "Argon2id hashes/s" "$argon2_rate"
row refresh "LMDB durable commits/s" "$lmdb_rate"
row "GET /v1/me" "libmicrohttpd, fixed body" "$fixed_rate"
row "admin list users" "-" "-"

echo
echo "### Ceilings of this machine, same run"
echo
echo "| ceiling | figure |"
echo "|---|---:|"
echo "| ES256 signatures/s, one core (\`openssl speed -seconds 3 ecdsap256\`) | ${sign_s:-?} |"
echo "| ES256 verifications/s, one core | ${verify_s:-?} |"
echo "| one Argon2id hash, m=19456 KiB t=2 p=1 | $(ceil argon2_hash_ms) ms |"
echo "| Argon2id hashes/s, $(ceil argon2_threads) threads | $argon2_rate |"
echo "| LMDB durable commit (one writer, fsync each) | $(ceil lmdb_commit_ms) ms, $lmdb_rate/s |"
echo "| libmicrohttpd, fixed 64-byte body (\`bench-mhd fixed\`) | $fixed_rate req/s (p99 $(m mhd-fixed ceiling 6) ms) |"
echo "| libmicrohttpd + one ES256 JWT per request (\`bench-mhd sign\`) | $sign_rate req/s (p99 $(m mhd-sign ceiling 6) ms) |"

if ((with_peer)); then
  echo
  echo "### The peer: oidc-provider $(node -p 'require("./bench/peers/oidc-provider/node_modules/oidc-provider/package.json").version') (node $(node --version), in-memory store), same run"
  echo
  echo "| scenario | req/s | p50 ms | p99 ms | non-2xx | CPU s per 1k req |"
  echo "|---|---:|---:|---:|---:|---:|"
  for s in jwks discovery "client credentials" introspection; do
    printf '| %s | %s | %s | %s | %s | %s |\n' "$s" "$(m "$s" peer 4)" "$(m "$s" peer 5)" \
      "$(m "$s" peer 6)" "$(m "$s" peer 7)" "$(m "$s" peer 10)"
  done
fi

echo
echo "### Login storm: $(m "storm logins" storm 4) wrong-password logins/s on 64 connections; measured with wrk -t1 -c8"
echo
echo "| measured | req/s alone | p99 ms alone | req/s in the storm | p99 ms in the storm | p99 ratio |"
echo "|---|---:|---:|---:|---:|---:|"
for s in jwks "client credentials"; do
  printf '| %s | %s | %s | %s | %s | %s |\n' "$s" "$(m "$s" calm 4)" "$(m "$s" calm 6)" \
    "$(m "$s" storm 4)" "$(m "$s" storm 6)" "$(ratio "$(m "$s" storm 6)" "$(m "$s" calm 6)")"
done

echo
echo "A quiet user's right-password login from another address, one at a time (40 per round), alone"
echo "and while the storm runs: the Argon2 queue is shared per address (issue 12, finding 3)."
echo
echo "| measured | p50 ms alone | p99 ms alone | p50 ms in the storm | p99 ms in the storm | p99 ratio | non-200 in the storm |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '| quiet login | %s | %s | %s | %s | %s | %s |\n' "$(m "quiet login" calm 5)" \
  "$(m "quiet login" calm 6)" "$(m "quiet login" storm 5)" "$(m "quiet login" storm 6)" \
  "$(ratio "$(m "quiet login" storm 6)" "$(m "quiet login" calm 6)")" "$(m "quiet login" storm 7)"

echo
echo "### Targets (issue 5)"
echo
echo "| target | measured | |"
echo "|---|---:|---|"
target() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
cc=$(m "client credentials" idpd 4)
target "client credentials ≥ 0.80 of the signing ceiling" "$(ratio "$cc" "$sign_rate")" \
  "$(yes_no "$(ratio "$cc" "$sign_rate")" 0.80)"
for s in "client credentials" jwks discovery introspection; do
  want=4
  [[ $s == introspection ]] && want=2
  r=$(ratio "$(m "$s" idpd 4)" "$(m "$s" peer 4)")
  target "$s ≥ ${want}x the peer" "$r" "$(yes_no "$r" "$want")"
done
for s in jwks discovery; do
  r=$(ratio "$(m "$s" idpd 4)" "$fixed_rate")
  target "$s ≥ 0.60 of the libmicrohttpd ceiling" "$r" "$(yes_no "$r" 0.60)"
done
r=$(ratio "$(m "password login" idpd 4)" "$argon2_rate")
errs=$(($(m "password login" idpd 7) + $(m "password login" idpd 8)))
target "password login ≥ 0.90 of the Argon2 ceiling, 0 errors" "$r, $errs errors" \
  "$( ((errs == 0)) && yes_no "$r" 0.90 || echo '**missed**')"
target "refresh ≥ 1,500/s, every commit durable" "$(m refresh idpd 4)" "$(yes_no "$(m refresh idpd 4)" 1500)"
for s in jwks "client credentials"; do
  r=$(ratio "$(m "$s" storm 6)" "$(m "$s" calm 6)")
  # met when the ratio is at most 3: compare 3 >= r
  target "$s p99 in the storm ≤ 3x alone" "$r" "$(yes_no 3 "$r")"
done

#!/usr/bin/env bash
# The style checks of STYLE.md: clang-format clean, and none of the banned C functions in the
# product code (tests may memcmp known vectors).
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
mapfile -t files < <(find crypto storage keys server tests bench -name '*.[ch]' -not -path '*/node_modules/*' 2>/dev/null | sort)
if ! clang-format --dry-run --Werror "${files[@]}" 2>&1 | head -40; then :; fi
if ! clang-format --dry-run --Werror "${files[@]}" >/dev/null 2>&1; then
  echo "style: clang-format would change the files above; run clang-format -i" >&2
  status=1
fi
banned='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|rand|srand|gets)[[:space:]]*\('
if grep -nE "$banned" crypto/*.c storage/*.c keys/*.c server/*.c; then
  echo "style: banned functions above (STYLE.md)" >&2
  status=1
fi
# memcmp is fine on public data but never on secrets: product code must use crypto_memeq.
if grep -nE '\bmemcmp[[:space:]]*\(' server/*.c keys/*.c; then
  echo "style: memcmp in server/ or keys/: compare secrets with crypto_memeq" >&2
  status=1
fi
# One home per library (STYLE.md): microhttpd in server/http.c, lmdb in storage/.
if grep -lE '#include <microhttpd.h>' server/*.c | grep -v '^server/http.c$'; then
  echo "style: microhttpd.h outside server/http.c" >&2
  status=1
fi
if grep -lE '#include <lmdb.h>' crypto/* keys/* server/* 2>/dev/null; then
  echo "style: lmdb.h outside storage/" >&2
  status=1
fi
if ((status == 0)); then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $status

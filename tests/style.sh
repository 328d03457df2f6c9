#!/usr/bin/env bash
# The style checks of STYLE.md: clang-format clean, and none of the banned C functions in the
# product code (tests may memcmp known vectors).
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
mapfile -t files < <(find buf crypto storage keys server tests bench -name '*.[ch]' -not -path '*/node_modules/*' 2>/dev/null | sort)
if ! clang-format --dry-run --Werror "${files[@]}" 2>&1 | head -40; then :; fi
if ! clang-format --dry-run --Werror "${files[@]}" >/dev/null 2>&1; then
  echo "style: clang-format would change the files above; run clang-format -i" >&2
  status=1
fi
banned='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|rand|srand|gets)[[:space:]]*\('
mapfile -t product < <(find buf crypto storage keys server -name '*.c' | sort)
if grep -nE "$banned" "${product[@]}"; then
  echo "style: banned functions above (STYLE.md)" >&2
  status=1
fi
# memcmp is fine on public data but never on secrets: product code must use crypto_memeq.
if grep -nE '\bmemcmp[[:space:]]*\(' $(find server keys -name '*.c'); then
  echo "style: memcmp in server/ or keys/: compare secrets with crypto_memeq" >&2
  status=1
fi
# One home per library (STYLE.md): microhttpd in server/http/http.c, ICU in
# server/core/email_text.c, lmdb in storage/.
if grep -rlE '#include <microhttpd.h>' server | grep -v '^server/http/http.c$'; then
  echo "style: microhttpd.h outside server/http/http.c" >&2
  status=1
fi
if grep -rlE '#include <unicode/' server | grep -v '^server/core/email_text.c$'; then
  echo "style: ICU outside server/core/email_text.c" >&2
  status=1
fi
# The rooms of server/ (README "Layout"): includes run one way, core <- http <- signin <- oauth,
# pages, account, appservices, admin <- cli and routes.c. A room includes its own header and the
# headers of the rooms below it; oauth, pages, account and appservices do not include each
# other, nor admin them.
declare -A may=(
  [core]="core" [http]="core http" [signin]="core http signin"
  [oauth]="core http signin oauth" [pages]="core http signin pages"
  [account]="core http signin account" [admin]="core http admin"
  [appservices]="core http signin appservices"
)
for room in "${!may[@]}"; do
  while IFS=: read -r file line; do
    inc=$(sed -E 's#.*"server/([a-z]+)/.*#\1#' <<<"$line")
    if [[ " ${may[$room]} " != *" $inc "* ]]; then
      echo "style: $file includes server/$inc/ from server/$room/ (includes run one way)" >&2
      status=1
    fi
  done < <(grep -HE '#include "server/[a-z]+/' server/"$room"/*.[ch])
done
if grep -rlE --include='*.[ch]' '#include "server/internal.h"' server tests; then
  echo "style: server/internal.h is gone: include your room's header" >&2
  status=1
fi
# buf/ includes no other module: keys/ and server/ both use it.
if grep -lE '#include "(crypto|storage|keys|server)/' buf/*.[ch]; then
  echo "style: buf/ includes another module (README \"Layout\")" >&2
  status=1
fi
# Each backend's library in its one file (storage/kv.h is what the record files use).
if grep -rlE '#include <lmdb.h>' buf crypto storage keys server | grep -v '^storage/lmdb.c$'; then
  echo "style: lmdb.h outside storage/lmdb.c" >&2
  status=1
fi
if grep -rlE '#include <libpq-fe.h>' buf crypto storage keys server | grep -v '^storage/postgres.c$'; then
  echo "style: libpq-fe.h outside storage/postgres.c" >&2
  status=1
fi
if ((status == 0)); then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
exit $status

#!/usr/bin/env bash
# `make fuzz`: schemathesis against each service's OpenAPI, on a throwaway `fourlinks up` with
# the small seeded district (500 households, 100 members, cards): no 5xx, every response
# conforms to the declared schema. The seed is printed; FUZZ_SEED=N repeats a run's cases.
# Results go to var/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${RUN:-uv run --locked --no-sync}"
seed="${FUZZ_SEED:-$RANDOM$RANDOM}"
out=var/fuzz && rm -rf "$out" && mkdir -p "$out"
export FOURLINKS_VAR_DIR="$PWD/$out/var" FOURLINKS_LOG_LEVEL=ERROR
echo "fuzz seed $seed (repeat with FUZZ_SEED=$seed make fuzz); seeding a district first"
$RUN fourlinks up --var-dir "$FOURLINKS_VAR_DIR" > "$out/up.log" 2>&1 &
up=$!
trap 'kill -INT $up 2>/dev/null || true; wait $up 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do grep -q "Ctrl-C stops" "$out/up.log" && break; sleep 1; done
token=$($RUN fourlinks token --role administrator --role secretary --role inspector --role auditor --scope yuhang)
status=0
for url in $(grep -o "API http://[0-9.:]*" "$out/up.log" | cut -d' ' -f2); do
  if ! $RUN schemathesis run --wait-for-schema 30 "$url/openapi.json" -H "Authorization: Bearer $token" \
      -c not_a_server_error,response_schema_conformance -n "${EXAMPLES:-15}" --seed "$seed" \
      --phases examples,fuzzing > "$out/${url##*:}.log" 2>&1; then
    status=1
  fi
  echo "$url: $(grep -E '[0-9]+ generated' "$out/${url##*:}.log" | tail -1)"
done
exit $status

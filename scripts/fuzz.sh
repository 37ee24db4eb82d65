#!/usr/bin/env bash
# Builds the engine's libFuzzer targets (cpp/fuzz/, clang + ASan + UBSan) in build/fuzz and runs
# each for SECONDS (default 10) on a copy of its seed corpus: the checked-in corpus never grows.
# Fails if any target hits a crash, leak, timeout or broken invariant, naming the saved input;
# prints the number of executions per target and in all.
#
#   bash scripts/fuzz.sh [-j JOBS] [SECONDS] [TARGET...]     (TARGET: deframer, base64, ...,
#                                                            server_connection, client_connection)
#
# (tls_server: a TLS server stream fed arbitrary client bytes.)
# -j runs that many targets at once (default 1; the machine has 2 cores). Reproduce a failure with
# build/fuzz/fuzz/<target>_fuzzer <saved input>. Needs clang and libclang-rt-dev (bootstrap.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

parallel=1
if [ "${1:-}" = "-j" ]; then parallel="$2"; shift 2; fi
seconds="${1:-10}"
shift || true
all_targets=(deframer metadata_rules timeout percent_encoding base64 compression health_status
             server_connection client_connection tls_server)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")

# Longest input per target: enough for several messages / values, small enough to stay fast.
max_len() {
  case "$1" in
    server_connection|client_connection|tls_server) echo 16384 ;;
    deframer|compression) echo 4096 ;;
    percent_encoding|base64) echo 1024 ;;
    metadata_rules|health_status) echo 256 ;;
    timeout) echo 32 ;;
    *) echo "fuzz.sh: unknown target $1 (have: ${all_targets[*]})" >&2; return 1 ;;
  esac
}
for t in "${targets[@]}"; do max_len "$t" >/dev/null; done

command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found: run scripts/bootstrap.sh" >&2; exit 1; }
mkdir -p build/fuzz
if ! { cmake -S cpp -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release \
         -DTURBOGRPC_FUZZ=ON -DTURBOGRPC_BUILD_TESTS=OFF -DTURBOGRPC_SANITIZE=OFF &&
       ninja -C build/fuzz $(printf '%s_fuzzer ' "${targets[@]}"); } >build/fuzz/build.log 2>&1; then
  tail -n 40 build/fuzz/build.log
  echo "fuzz: build FAILED (build/fuzz/build.log)"
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
artifacts="build/fuzz/artifacts" logs="build/fuzz/logs"  # logs: the last run's, one per target
mkdir -p "$artifacts" "$logs"

run_one() {  # target -> log in $logs/<target>.log, exit status of the fuzzer
  local t="$1"
  cp -r "cpp/fuzz/corpus/$t" "$work/corpus-$t"
  ASAN_OPTIONS="halt_on_error=1:detect_leaks=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    "build/fuzz/fuzz/${t}_fuzzer" "$work/corpus-$t" -max_total_time="$seconds" \
    -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$t-" >"$logs/$t.log" 2>&1
}

for t in "${targets[@]}"; do
  while (($(jobs -rp | wc -l) >= parallel)); do wait -n || true; done
  (rc=0; run_one "$t" || rc=$?; echo "$rc" >"$work/$t.rc") &
done
wait

failed=0 total=0
for t in "${targets[@]}"; do
  rc="$(cat "$work/$t.rc" 2>/dev/null || echo 1)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)"
  if [ "$rc" != 0 ] || [ -z "$execs" ]; then
    failed=1
    echo "FAIL ${t}_fuzzer (exit $rc): last lines of $logs/$t.log:"
    tail -n 40 "$logs/$t.log" | sed 's/^/    /'
    grep -ho "Test unit written to .*" "$logs/$t.log" | sed 's/^Test unit written to /  saved input: /' || true
  else
    total=$((total + execs))
    printf '%-18s %12d executions in %ss, 0 crashes\n' "$t" "$execs" "$seconds"
  fi
done
if ((failed)); then
  echo "fuzz: FAILED (inputs saved under $artifacts/)"
  exit 1
fi
printf '%-18s %12d executions\n' "total" "$total"

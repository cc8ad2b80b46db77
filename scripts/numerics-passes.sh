#!/usr/bin/env bash
# The numerical reference suites again, under what another machine would run: a second
# OpenBLAS kernel family (every product through OpenBLAS) and the other GEMM backend
# (every product through oneDNN). Part of `make test`, after the whole suite has run once
# with the machine's own choices; it reuses that build.
#
# A machine that sets OPENBLAS_CORETYPE in its environment does so because older OpenBLAS
# builds compute wrong results or crash on its CPU: that value is never overridden, and
# the passes then vary the GEMM backend only.
set -euo pipefail
cd "$(dirname "$0")/.."
swift=${SWIFT:-swift}
suites='TextAttributionTests|AttnLRPTests|RelevanceAuditTests|VisionAttributionTests|GraphReferenceTests'
suites+='|RelevantWalkTests|FaithfulnessTests|TransformerReferenceTests|VisionTransformerTests|CheckpointTests'
suites+='|EvalCommandTests|testOneAndTwoWorkersWriteIdenticalFiles|testShardsMergedAreByteIdenticalToOneRun'
binary=.build/debug/xai

# The kernel family OpenBLAS picks for this CPU (it prints it with OPENBLAS_VERBOSE=2).
core_under() { env "$@" OPENBLAS_VERBOSE=2 "$binary" models 2>&1 >/dev/null | sed -n 's/^Core: //p' | head -n 1; }
has_flag() { grep -m 1 '^flags' /proc/cpuinfo | grep -qw "$1"; }

# Another family this CPU can execute: Sandybridge (AVX) below the AVX2 families, Haswell
# (AVX2 + FMA) above the generic SSE ones.
other_kernel() {
  case "$1" in
    Haswell | Zen | SkylakeX | Cooperlake | SapphireRapids) echo Sandybridge ;;
    Sandybridge) if has_flag avx2 && has_flag fma; then echo Haswell; else echo Nehalem; fi ;;
    *)
      if has_flag avx2 && has_flag fma; then echo Haswell
      elif has_flag avx; then echo Sandybridge
      else echo Prescott; fi ;;
  esac
}

run_pass() {
  local label=$1 log
  shift
  log=$(mktemp)
  echo "numerics pass: $label"
  local code=0
  env "$@" "$swift" test --skip-build --filter "$suites" >"$log" 2>&1 || code=$?
  grep -E "error:|^reference margin" "$log" || true
  grep -E "Executed [0-9]+ tests?, with" "$log" | tail -n 1
  rm -f "$log"
  return $code
}

status=0
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "numerics passes: OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE is set by this machine's environment and is not overridden;"
  echo "numerics passes: the second kernel family is skipped, the GEMM backends are varied."
  run_pass "every product through OpenBLAS ($OPENBLAS_CORETYPE, as the environment sets)" XAI_GEMM=openblas || status=1
else
  own=$(core_under)
  other=$(other_kernel "$own")
  seen=$(core_under OPENBLAS_CORETYPE="$other")
  echo "numerics passes: OpenBLAS runs '$own' kernels on this CPU; second family '$other' (OpenBLAS reports '$seen')"
  if [ -z "$own" ] || [ "$seen" = "$own" ]; then
    # An OpenBLAS built for one kernel (no DYNAMIC_ARCH), or a CPU without these x86 families.
    echo "numerics passes: this OpenBLAS cannot switch kernel families ('$own' under '$other': '$seen'); every product goes through its own kernels instead"
    run_pass "every product through OpenBLAS ($own)" XAI_GEMM=openblas || status=1
  else
    run_pass "every product through OpenBLAS's $other kernels" OPENBLAS_CORETYPE="$other" XAI_GEMM=openblas || status=1
  fi
fi
run_pass "every product through oneDNN" XAI_GEMM=onednn || status=1
exit $status

#!/usr/bin/env bash
# Run an experiment grid on a borrowed GPU machine in one call, and bring back everything it
# made (checkpoints, audits, results rows, report, log) whatever happens, so that the next call
# resumes where this one stopped. docs/experiments.md ("A grid on a borrowed GPU") shows the
# whole round trip.
#
#   scripts/device_grid.sh SPEC DATA [SECONDS]   on the GPU machine, in the repository root
#   scripts/device_grid.sh --wheels              here: the wheels the GPU machine lacks -> .whl/
#
# The run stops after SECONDS (default 540) and is packed into $OUT/NAME.tar.gz.N, parts of
# at most 15 MiB. Copy those parts into $STATE (default .grid/) and name .grid in the next
# call's carry: the run resumes from them (finished cells are kept, unfinished ones rerun).
# The machine's python3 must hold torch; what robusteye needs beyond it travels in .whl/.
# Environment: OUT (default device-out), STATE (.grid), DEVICE (cuda), WORKERS (4 cells at a
# time), PYTHON (python3).
set -uo pipefail

PY=${PYTHON:-python3}
# the wheels of robusteye's needs that the GPU image lacks (pydantic and its own needs), for
# its Python 3.12; versions as tested here
WHEELS=(pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5)

fail() {
    echo "error: $*" >&2
    exit 2
}

if [ "${1:-}" = "--wheels" ]; then
    mkdir -p .whl || fail "cannot write .whl"
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}" || fail "pip download failed"
    ls .whl
    exit 0
fi

[ $# -ge 2 ] && [ $# -le 3 ] || fail "usage: scripts/device_grid.sh SPEC DATA [SECONDS]"
SPEC=$1
DATA=$2
LIMIT=${3:-540}
[ -f "$SPEC" ] || fail "no spec file $SPEC"
[[ "$LIMIT" =~ ^[0-9]+$ ]] && [ "$LIMIT" -gt 0 ] || fail "SECONDS must be a positive integer, not $LIMIT"
OUT=${OUT:-device-out}
STATE=${STATE:-.grid}
NAME=$(basename "$SPEC" .yaml)
WORK=$(mktemp -d) || fail "no temporary folder"
trap 'rm -rf "$WORK"' EXIT
RUN=$WORK/$NAME
mkdir -p "$OUT" || fail "cannot write $OUT"

shopt -s nullglob
parts=("$STATE/$NAME".tar.gz.*)
if [ ${#parts[@]} -gt 0 ]; then
    cat "${parts[@]}" | tar xzf - -C "$WORK" || fail "$STATE/$NAME.tar.gz.* is damaged"
    echo "resuming $NAME from ${#parts[@]} part(s) in $STATE"
fi
wheels=(.whl/*.whl)
if [ ${#wheels[@]} -gt 0 ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$WORK/site" "${wheels[@]}" || fail "installing .whl/ failed"
    export PYTHONPATH=$WORK/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1

# SIGINT first, so the run stops like a Ctrl-C (a finished cell is never half-written)
timeout --signal=INT --kill-after=30 "$LIMIT" "$PY" -m robusteye experiment "$SPEC" \
    --data "$DATA" --device "${DEVICE:-cuda}" --workers "${WORKERS:-4}" --out "$RUN" \
    --no-progress 2>&1 | tee -a "$OUT/$NAME.log"
rc=${PIPESTATUS[0]}
case $rc in
    0) echo "finished: $NAME" ;;
    124 | 130 | 137) echo "stopped after $LIMIT s: run again with the parts in $STATE to resume" ;;
    *) echo "robusteye exited with $rc" ;;
esac

rm -f "$OUT/$NAME".tar.gz.*
if [ -d "$RUN" ]; then
    tar czf - -C "$WORK" "$NAME" | split -b 15M -d -a 1 - "$OUT/$NAME.tar.gz." ||
        fail "packing $RUN failed"
    echo "packed: $(cd "$OUT" && ls "$NAME".tar.gz.* | tr '\n' ' ')"
fi
exit "$rc"

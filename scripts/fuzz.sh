#!/usr/bin/env bash
# fuzz.sh [SECONDS] - build the libFuzzer targets with clang (build-fuzz/)
# and run each for SECONDS (default 45) from its corpus, in a scratch copy so
# the repository's corpus stays small. A crash fails the run; libFuzzer
# writes the input as crash-* in the scratch dir and this script copies it to
# tests/fuzz/<target>/regressions/ so it is replayed by the unit suite after
# the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-45}
B=${FUZZ_BUILD:-build-fuzz}
[ -f "$B/build.ninja" ] || CC=clang meson setup "$B" -Dfuzz=true -Dtests=disabled >/dev/null
targets="tcp smtp recover relay_reply"
ninja -C "$B" $(for t in $targets; do echo "tests/fuzz/$t/fuzz_$t"; done) >/dev/null
rc=0
for t in $targets; do
	work=$(mktemp -d)
	cp -r "tests/fuzz/$t/corpus/." "$work/"
	echo "fuzz_$t: ${secs}s"
	if ! (cd "$work" && "$OLDPWD/$B/tests/fuzz/$t/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
		-close_fd_mask=3 . 2>"$work/log"); then
		rc=1
		echo "fuzz_$t: FAILED" >&2
		tail -30 "$work/log" >&2
		for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
			[ -e "$f" ] && cp "$f" "tests/fuzz/$t/regressions/" && echo "kept $f in tests/fuzz/$t/regressions/" >&2
		done
	else
		grep -E "stat::number_of_executed_units|cov:" "$work/log" | tail -2
	fi
	rm -rf "$work"
done
exit $rc

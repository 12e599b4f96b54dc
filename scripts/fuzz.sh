#!/usr/bin/env bash
# fuzz.sh [SECONDS] - build the libFuzzer targets with clang (build-fuzz/)
# and run each for SECONDS (default 30) from its corpus, in a scratch copy so
# the repository's corpus stays small. A crash fails the run; libFuzzer
# writes the input as crash-* in the scratch dir and this script copies it to
# tests/fuzz/<target>/regressions/ so it is replayed by the unit suite after
# the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
B=${FUZZ_BUILD:-build-fuzz}
[ -f "$B/build.ninja" ] || CC=clang meson setup "$B" -Dfuzz=true -Dtests=disabled >/dev/null
# DIR:TARGET:CORPUS:REGRESSIONS under tests/fuzz/.
targets="tcp:tcp:corpus:regressions smtp:smtp:corpus:regressions tls:tls:corpus:regressions
recover:recover:corpus:regressions relay_reply:relay_reply:corpus:regressions
policy:policy:corpus_checks:regressions_checks policy:dns:corpus_dns:regressions_dns
policy:spf:corpus_spf:regressions_spf policy:verify:corpus_verify:regressions_verify"
ninja -C "$B" $(for e in $targets; do IFS=: read -r d t _ _ <<<"$e"; echo "tests/fuzz/$d/fuzz_$t"; done) >/dev/null
rc=0
for e in $targets; do
	IFS=: read -r d t corpus regr <<<"$e"
	work=$(mktemp -d)
	cp -r "tests/fuzz/$d/$corpus/." "$work/"
	echo "fuzz_$t: ${secs}s"
	if ! (cd "$work" && "$OLDPWD/$B/tests/fuzz/$d/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
		-close_fd_mask=3 . 2>"$work/log"); then
		rc=1
		echo "fuzz_$t: FAILED" >&2
		tail -30 "$work/log" >&2
		for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
			[ -e "$f" ] && cp "$f" "tests/fuzz/$d/$regr/" && echo "kept $f in tests/fuzz/$d/$regr/" >&2
		done
	else
		grep -E "stat::number_of_executed_units|cov:" "$work/log" | tail -2
	fi
	rm -rf "$work"
done
exit $rc

#!/usr/bin/env bash
# get-postfix.sh DIR - unpack Debian's postfix package into DIR (once) so
# tests and benchmarks can run smtp-source, smtp-sink and smtpd without
# installing Postfix as the system MTA (it conflicts with OpenSMTPD and
# Exim as Debian packages). Prints the directory holding the binaries.
set -euo pipefail
dir=${1:?usage: get-postfix.sh DIR}
if [ ! -x "$dir/usr/sbin/smtp-source" ]; then
	mkdir -p "$dir"
	(cd "$dir" && apt-get download postfix >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get download postfix >/dev/null; })
	dpkg-deb -x "$dir"/postfix_*.deb "$dir"
fi
echo "$dir/usr/sbin"

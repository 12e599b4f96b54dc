#!/usr/bin/env bash
# install-deps.sh - install what mxgate needs to build, run and test, from
# Debian 12 packages. Idempotent: when everything is installed it only
# checks (about a second) and touches nothing. Used by `make demo`,
# `make test` and CI. Also creates the system user mxgate runs as
# (scripts/ensure-user.sh, idempotent).
set -euo pipefail

packages=(
	# build
	build-essential meson ninja-build pkg-config clang clang-format
	libdpdk-dev dpdk libssl-dev liburcu-dev libjemalloc-dev libinih-dev
	libcmocka-dev libc-ares-dev libclang-rt-14-dev
	# run and test: namespaces, veth, ping/arping, capture
	iproute2 iputils-ping iputils-arping ethtool netcat-openbsd tcpdump tshark procps util-linux
	python3 python3-scapy swaks dovecot-lmtpd
	# /metrics test: fetch and parse the Prometheus exposition
	curl python3-prometheus-client
	# DNS tests: fixture zones served by dnsmasq (the binary only, no service)
	dnsmasq-base
	# STARTTLS tests (int-tls): swaks --tls needs Net::SSLeay; testssl.sh audits the port
	libnet-ssleay-perl libio-socket-ssl-perl testssl.sh
	# bench plots (bench/plot_monday.py)
	python3-matplotlib
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ "$(id -u)" -eq 0 ]; then
	"$(dirname "$0")/ensure-user.sh" mxgate
fi
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"

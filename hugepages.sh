#!/usr/bin/env bash
# hugepages.sh - reserve and mount hugepages for mxgate in production (a PCI
# NIC bound to vfio-pci). Development, tests and the demo run with
# no_huge = yes and do not need this.
#
#   ./hugepages.sh [--size 2M|1G] [--pages N] [--mount DIR]   reserve + mount
#   ./hugepages.sh --release [--size 2M|1G] [--mount DIR]      undo
#   ./hugepages.sh --status                                    show
#
# Defaults: 2M pages, 1024 of them (2 GiB) spread over NUMA nodes by the
# kernel, mounted at /dev/hugepages-mxgate. Idempotent: running it twice
# changes nothing the second time. 1G pages can usually only be reserved at
# boot (kernel command line: default_hugepagesz=1G hugepagesz=1G hugepages=N);
# the script says so when the kernel refuses.
set -euo pipefail

size=2M
pages=1024
mnt=/dev/hugepages-mxgate
action=reserve

die() { echo "hugepages.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	--size) size=${2:?--size needs 2M or 1G}; shift 2 ;;
	--pages) pages=${2:?--pages needs a number}; shift 2 ;;
	--mount) mnt=${2:?--mount needs a directory}; shift 2 ;;
	--release) action=release; shift ;;
	--status) action=status; shift ;;
	-h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument '$1' (try --help)" ;;
	esac
done

case "$size" in
2M | 2m) kb=2048 ;;
1G | 1g) kb=1048576 ;;
*) die "--size must be 2M or 1G, not '$size'" ;;
esac
[[ "$pages" =~ ^[0-9]+$ ]] || die "--pages must be a whole number, not '$pages'"
sysfile=/sys/kernel/mm/hugepages/hugepages-${kb}kB/nr_hugepages
[ -e "$sysfile" ] || die "this kernel has no ${size} hugepages ($sysfile missing)"

status() {
	echo "hugepages-${kb}kB: $(cat "$sysfile") reserved, $(cat "${sysfile%/*}/free_hugepages") free"
	if mountpoint -q "$mnt" 2>/dev/null; then
		echo "mounted: $mnt ($(findmnt -no OPTIONS "$mnt"))"
	else
		echo "not mounted at $mnt"
	fi
}

if [ "$action" = status ]; then
	status
	exit 0
fi
[ "$(id -u)" -eq 0 ] || die "must run as root (it writes $sysfile and mounts $mnt)"

if [ "$action" = release ]; then
	if mountpoint -q "$mnt" 2>/dev/null; then
		if ls -A "$mnt" | grep -q .; then
			die "$mnt still holds files: is a DPDK process (mxgate) running? stop it first"
		fi
		umount "$mnt"
		echo "unmounted $mnt"
	fi
	rmdir "$mnt" 2>/dev/null || true
	echo 0 >"$sysfile"
	echo "released: $(cat "$sysfile") ${size} pages reserved"
	exit 0
fi

cur=$(cat "$sysfile")
if [ "$cur" -lt "$pages" ]; then
	echo "$pages" >"$sysfile"
	got=$(cat "$sysfile")
	if [ "$got" -lt "$pages" ]; then
		msg="asked for $pages ${size} pages, the kernel gave $got (memory too fragmented"
		[ "$kb" -eq 1048576 ] && msg="$msg; 1G pages usually need hugepagesz=1G hugepages=N at boot"
		die "$msg)"
	fi
	echo "reserved $got ${size} pages (was $cur)"
else
	echo "already $cur ${size} pages reserved (>= $pages): unchanged"
fi
mkdir -p "$mnt"
if mountpoint -q "$mnt"; then
	echo "already mounted at $mnt: unchanged"
else
	mount -t hugetlbfs -o pagesize="$size" nodev "$mnt"
	echo "mounted hugetlbfs (pagesize=$size) at $mnt"
fi
echo "now set in mxgate.conf: [eal] no_huge = no (and remove the vdevs you do not use)"
status

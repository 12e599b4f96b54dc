#!/usr/bin/env bash
# Root never follows a link the daemon's user could plant (issue 11, defect
# 9): the ctl socket's directory is root-owned 0755 and not writable by
# that user; a symbolic link pre-planted at the socket path is removed, not
# followed (the root-owned file it points at keeps its owner and mode); an
# older, user-owned socket directory is taken back; a symbolic link as the
# socket directory or as the spool directory is refused with a clear error.
. "$(dirname "$0")/lib.sh"
mx_setup ctlsym
U=mxgate
as_user() { setpriv --reuid="$U" --regid="$U" --clear-groups "$@"; }
owner_mode() { stat -c '%U:%G %a' "$1"; }

victim=$MX_TMP/victim # root's file, what a planted link would hand over
echo secret >"$victim"
chmod 600 "$victim"
vdir=$MX_TMP/victimdir
mkdir -m 700 "$vdir"

# 1. A socket directory that does not exist yet: created root-owned 0755.
MX_SOCK=$MX_TMP/run/ctl.sock
mx_conf
mx_start
[ "$(owner_mode "$MX_TMP/run")" = "root:root 755" ] ||
	fail "socket directory is $(owner_mode "$MX_TMP/run"), expected root:root 755"
as_user ln -s "$victim" "$MX_TMP/run/evil" 2>/dev/null && fail "user $U can write in the socket directory"
[ "$(stat -c '%F %U %a' "$MX_SOCK")" = "socket $U 660" ] ||
	fail "socket is $(stat -c '%F %U %a' "$MX_SOCK"), expected socket $U 660"
mx_stop
pass "new socket directory root:root 755, not writable by $U; socket $U 0660"

# 2. An older layout: the directory is the user's, and the user planted a
# link at the socket's name.
rm -rf "$MX_TMP/run"
mkdir -m 750 "$MX_TMP/run"
chown "$U:$U" "$MX_TMP/run"
as_user ln -s "$victim" "$MX_SOCK" || fail "cannot plant the link as $U"
mx_start
[ "$(owner_mode "$victim")" = "root:root 600" ] || fail "victim file is now $(owner_mode "$victim")"
[ "$(cat "$victim")" = secret ] || fail "victim file changed"
[ "$(owner_mode "$MX_TMP/run")" = "root:root 755" ] || fail "user-owned socket directory not taken back"
[ -S "$MX_SOCK" ] && [ ! -L "$MX_SOCK" ] || fail "socket path is not the daemon's socket"
mx_ctl show info >/dev/null || fail "ctl does not answer on the replaced path"
grep -q "now root:root 0755" "$MX_LOG" || fail "no notice about the directory taken back"
mx_stop
pass "planted link at the socket path replaced; root's file untouched; directory taken back"

# 2b. A user-writable directory holding anything but sockets is not taken
# back (it is not a socket directory: a home, a shared directory): refused.
rm -rf "$MX_TMP/run"
mkdir -m 750 "$MX_TMP/run"
touch "$MX_TMP/run/notes"
chown -R "$U:$U" "$MX_TMP/run"
out=$(timeout 60 ip netns exec "$MX_NS" "$MX_BIN" -c "$MX_CONF" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "user directory with other files: exit $rc, expected 1: $out"
grep -q "writable by others than root and holds other files" <<<"$out" || fail "no clear error: $out"
[ "$(owner_mode "$MX_TMP/run")" = "$U:$U 750" ] || fail "directory changed: $(owner_mode "$MX_TMP/run")"
pass "user directory with other files refused, left as it was"

# 3. The socket directory itself is a symbolic link: refused.
rm -rf "$MX_TMP/run"
ln -s "$vdir" "$MX_TMP/run"
mx_conf
out=$(timeout 60 ip netns exec "$MX_NS" "$MX_BIN" -c "$MX_CONF" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "symlinked socket directory: exit $rc, expected 1: $out"
grep -q "cannot open directory $MX_TMP/run: .*symbolic link" <<<"$out" || fail "no clear error: $out"
[ "$(owner_mode "$vdir")" = "root:root 700" ] || fail "victim directory is now $(owner_mode "$vdir")"
pass "symlinked socket directory refused: $(grep -o 'cannot open directory.*' <<<"$out" | head -1)"

# 3b. A spool written under an older user (nobody): its files are given to
# mxgate at start, through fds; a link inside is not followed, a file with
# a second name elsewhere is left alone.
rm -rf "$MX_TMP/run" "$MX_TMP/spool"
mx_conf
mkdir -p -m 700 "$MX_TMP/spool/0"
echo seg >"$MX_TMP/spool/0/0000000000000001.seg"
echo other >"$MX_TMP/outside"
ln "$MX_TMP/outside" "$MX_TMP/spool/0/linked"
chown -R nobody:nogroup "$MX_TMP/spool" "$MX_TMP/outside"
ln -s "$victim" "$MX_TMP/spool/evil"
mx_start
mx_stop
[ "$(stat -c %U "$MX_TMP/spool/0" "$MX_TMP/spool/0/0000000000000001.seg" | sort -u)" = "$U" ] ||
	fail "spool entries of nobody not given to $U: $(ls -lR "$MX_TMP/spool")"
[ "$(owner_mode "$victim")" = "root:root 600" ] || fail "link in the spool followed: victim is $(owner_mode "$victim")"
[ "$(stat -c %U "$MX_TMP/outside")" = nobody ] || fail "file with a second name outside the spool changed owner"
pass "spool of an older user adopted; link inside not followed; hard-linked file left alone"

# 4. The spool directory is a symbolic link to a root-owned directory:
# refused, the directory keeps its owner (it used to be chowned through).
rm -rf "$MX_TMP/spool"
ln -s "$vdir" "$MX_TMP/spool"
mx_conf
out=$(timeout 60 ip netns exec "$MX_NS" "$MX_BIN" -c "$MX_CONF" 2>&1)
rc=$?
[ "$(owner_mode "$vdir")" = "root:root 700" ] || fail "spool link followed: victim directory is now $(owner_mode "$vdir")"
[ "$rc" -eq 1 ] || fail "symlinked spool: exit $rc, expected 1: $out"
grep -q "\[spool\] dir = $MX_TMP/spool: cannot open: .*symbolic link" <<<"$out" || fail "no clear error: $out"
pass "symlinked spool directory refused, its target untouched"

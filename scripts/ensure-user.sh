#!/usr/bin/env bash
# ensure-user.sh [USER] - create the dedicated system user mxgate drops to
# after start-up ([daemon] user, default mxgate), with its own group, no
# home and no login shell. Idempotent: an existing user is left as it is.
# Needs root to create; without root it only says whether the user exists.
set -euo pipefail
user=${1:-mxgate}
if getent passwd "$user" >/dev/null; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "ensure-user: user $user does not exist; run as root: $0 $user" >&2
	exit 1
fi
useradd --system --user-group --no-create-home --home-dir /nonexistent \
	--shell /usr/sbin/nologin --comment "mxgate SMTP gateway" "$user"
echo "ensure-user: created system user $user"

#!/bin/sh
# axprobe package: before the files are unpacked (deb preinst, rpm %pre). Creates the
# axprobe system group and user, which own nothing but may read /etc/axprobe (group) and
# run the daemon unprivileged (docs/DEPLOY.md, "Packages"). Idempotent.
set -e
if ! getent group axprobe >/dev/null; then
	groupadd --system axprobe
fi
if ! getent passwd axprobe >/dev/null; then
	useradd --system --gid axprobe --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin --comment "axprobe health probes" axprobe
fi
exit 0

#!/usr/bin/env bash
# The systemd files of dist/: the unit (configured over the built berthd)
# through `systemd-analyze verify`, the tmpfiles snippet through
# systemd-tmpfiles on a prefix that matches none of its paths (it parses
# every line, creates nothing). Any message fails: verify exits 0 on warnings.
#   tests/dist/verify_unit.sh UNIT_FILE TMPFILES_CONF
set -u
unit=$1 tmpfiles=$2
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze is not installed (Debian: systemd): skipping the unit check"
  exit 77
fi
status=0
# --man=no: the man page is not installed in the build tree.
out=$(systemd-analyze verify --man=no "$unit" 2>&1) || status=1
if [ -n "$out" ]; then echo "$out"; status=1; fi
grep -q '^Type=notify$' "$unit" || { echo "$unit: not Type=notify"; status=1; }
grep -q '^KillMode=process$' "$unit" || { echo "$unit: containers would not survive a restart (KillMode)"; status=1; }
grep -q '^RuntimeDirectoryPreserve=yes$' "$unit" || { echo "$unit: a restart would empty the run dir"; status=1; }
if command -v systemd-tmpfiles >/dev/null; then
  out=$(systemd-tmpfiles --create --prefix=/nonexistent-berth-verify "$tmpfiles" 2>&1) || status=1
  if [ -n "$out" ]; then echo "$out"; status=1; fi
fi
[ $status -eq 0 ] && echo "systemd unit and tmpfiles: ok"
exit $status

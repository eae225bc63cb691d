#!/usr/bin/env bash
# `cmake --install` into a scratch prefix puts every file where Debian expects it.
#   tests/dist/install_layout.sh BUILD_DIR
set -u
build=$1
root=$(mktemp -d /tmp/berth-install.XXXXXX)
trap 'rm -rf "$root"' EXIT
if ! cmake --install "$build" --prefix "$root/usr" >"$root.log" 2>&1; then
  cat "$root.log"; rm -f "$root.log"; exit 1
fi
rm -f "$root.log"
status=0
for path in usr/sbin/berthd usr/sbin/berth-shim usr/sbin/berth-oci usr/bin/berth \
    usr/lib/systemd/system/berthd.service usr/lib/tmpfiles.d/berth.conf \
    usr/share/man/man1/berth.1 usr/share/man/man8/berthd.8 usr/share/man/man8/berth-shim.8 usr/share/man/man8/berth-oci.8 \
    usr/share/doc/berth/examples/berthd.yaml usr/share/bash-completion/completions/berth \
    usr/share/zsh/vendor-completions/_berth; do
  [ -e "$root/$path" ] || { echo "missing: /$path"; status=1; }
done
for binary in usr/sbin/berthd usr/sbin/berth-shim usr/sbin/berth-oci usr/bin/berth; do
  [ -x "$root/$binary" ] || { echo "not executable: /$binary"; status=1; }
done
# The unit starts berthd from the configured prefix's sbin (CMAKE_INSTALL_PREFIX, not --prefix).
grep -q '^ExecStart=/.*/sbin/berthd$' "$root/usr/lib/systemd/system/berthd.service" ||
  { echo "the installed unit does not start sbin/berthd"; status=1; }
if command -v man >/dev/null; then
  for page in usr/share/man/man1/berth.1 usr/share/man/man8/berthd.8; do
    out=$(MANWIDTH=80 man --warnings -l "$root/$page" 2>&1 >/dev/null) || status=1
    [ -z "$out" ] || { echo "$page: $out"; status=1; }
  done
fi
[ $status -eq 0 ] && echo "install layout: ok"
exit $status

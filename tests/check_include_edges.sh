#!/usr/bin/env bash
# Fails when a module includes a header of a module it may not depend on.
# Allowed edges (DESIGN.md): api -> {runtime, iam} -> {store, namespaces, cgroup, net, storage} -> common;
# oci (berth-oci's config.json) -> {namespaces, cgroup} -> common.
set -u
root=${1:-.}
declare -A allowed=(
  [common]="common"
  [cgroup]="cgroup common"
  [namespaces]="namespaces common"
  [oci]="oci namespaces cgroup common"
  [net]="net common"
  [storage]="storage common"
  [store]="store common"
  [runtime]="runtime store namespaces cgroup net storage common"
  [iam]="iam store common"
  [api]="api runtime iam common"
)
# Third-party headers stay in one module each (tokens and password hashes are
# made by iam/accounts.cpp; api/ only passes the opaque token along). A key
# that is a folder (websocketpp) owns every header under it. OpenSSL has two
# owners: storage's digests and api's TLS listener (api/http_server.cpp).
declare -A owner=([lmdb.h]=store [seccomp.h]=namespaces [sys/capability.h]=namespaces [httplib.h]=api [jwt.h]=iam [sodium.h]=iam
  [websocketpp]=api [netlink]=net [nftables]=net
  [archive.h]=storage [archive_entry.h]=storage [openssl]="storage api" [linux/btrfs.h]=storage [linux/bpf.h]=cgroup)
status=0
for module in "${!allowed[@]}"; do
  [ -d "$root/$module" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include[[:space:]]*[<"]([^">]+)[">].*/\1/' <<<"${line#*:}")
    top=${inc%%/*}
    # Project headers are included with quotes; <net/if.h> is the C library's.
    quoted=0; [[ ${line#*:} == *'#include'*'"'* ]] && quoted=1
    if [ $quoted -eq 1 ] && [ -n "${allowed[$top]+x}" ] && [[ " ${allowed[$module]} " != *" $top "* ]]; then
      echo "forbidden edge: $file includes $inc ($module -> $top)"; status=1
    fi
    lib=
    if [ -n "${owner[$inc]+x}" ]; then lib=$inc; elif [[ $inc == */* ]] && [ -n "${owner[$top]+x}" ]; then lib=$top; fi
    if [ -n "$lib" ] && [[ " ${owner[$lib]} " != *" $module "* ]]; then
      echo "third-party header outside its module: $file includes $inc (belongs to ${owner[$lib]})"; status=1
    fi
  done < <(grep -rnE '^[[:space:]]*#include' "$root/$module" --include='*.hpp' --include='*.cpp' --include='*.h' | sed -E 's/^([^:]+):[0-9]+:/\1:/')
done
[ $status -eq 0 ] && echo "include edges: ok"
exit $status

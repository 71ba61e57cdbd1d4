#!/usr/bin/env bash
# Builds the edgecache .deb from a build directory (cpack -G DEB) and checks it: the files
# it installs, its control data, that the packaged binary runs and accepts the packaged
# configuration, and that the systemd unit passes `systemd-analyze verify` where that
# command exists. Run by ctest as package.deb; usage: scripts/package-check.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: scripts/package-check.sh BUILD_DIR}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "package-check: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) || {
  cat "$work/cpack.log" >&2
  fail "cpack -G DEB failed"
}
deb=$(ls "$work"/edgecache_*_*.deb)
echo "built $(basename "$deb")"

contents=$(dpkg-deb --contents "$deb" | awk '{print $6}')
for f in ./usr/bin/edgecache ./usr/bin/edgecachectl ./usr/bin/edgecache-epoll \
  ./usr/bin/edgecachectl-epoll ./etc/edgecache/node.toml \
  ./etc/logrotate.d/edgecache ./lib/systemd/system/edgecache.service \
  ./usr/share/doc/edgecache/operations.md ./usr/share/doc/edgecache/configuration.md; do
  grep -qx -- "$f" <<<"$contents" || fail "the package lacks $f"
  echo "holds $f"
done

dpkg-deb --field "$deb" Package | grep -qx edgecache || fail "Package is not edgecache"
depends=$(dpkg-deb --field "$deb" Depends)
for lib in adduser librocksdb liburing libspdlog; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
echo "depends on $depends"
mkdir "$work/control"
dpkg-deb --control "$deb" "$work/control"
grep -qx /etc/edgecache/node.toml "$work/control/conffiles" || fail "node.toml is not a conffile"
grep -qx /etc/logrotate.d/edgecache "$work/control/conffiles" ||
  fail "the logrotate snippet is not a conffile"
grep -q "adduser --system" "$work/control/postinst" || fail "postinst adds no system user"
echo "conffiles and maintainer scripts OK"

root="$work/root"
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/edgecache" --version | grep -q "^edgecache [0-9]" || fail "edgecache --version"
"$root/usr/bin/edgecachectl" --version | grep -q "^edgecachectl [0-9]" ||
  fail "edgecachectl --version"
# The epoll twins, for hosts without io_uring (edgecache runs its twin there by itself).
"$root/usr/bin/edgecache-epoll" --version --verbose | grep -qx "event loop: epoll" ||
  fail "edgecache-epoll is not built on epoll"
"$root/usr/bin/edgecachectl-epoll" --version | grep -q "^edgecachectl [0-9]" ||
  fail "edgecachectl-epoll --version"
# The configuration the package ships validates (its store directory is systemd's to make).
"$root/usr/bin/edgecache" --check-config --config "$root/etc/edgecache/node.toml" \
  --store "$work/store" | grep -q "configuration OK" || fail "the packaged node.toml is refused"
echo "packaged binaries run; packaged node.toml validates"

if command -v systemd-analyze >/dev/null; then
  # The unit as installed, with its commands pointing into the extracted package.
  sed "s|/usr/bin/|$root/usr/bin/|g" "$root/lib/systemd/system/edgecache.service" \
    >"$work/edgecache.service"
  systemd-analyze verify "$work/edgecache.service" || fail "systemd-analyze verify"
  echo "systemd-analyze verify: OK"
else
  echo "systemd-analyze not installed: unit not verified"
fi

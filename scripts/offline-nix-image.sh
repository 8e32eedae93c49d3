#!/usr/bin/env bash
# scripts/offline-nix-image.sh [--force] [TAG]
#
# Build, with no network, a small Nix builder image that stands in for `nixos/nix`
# (which cannot be pulled here). Default TAG: nixdf-offline/nix:latest.
#
# The image holds: a static busybox at /bin/busybox with one relative symlink per applet
# in /bin (and /usr/bin/env); Debian's Nix 2.8 (/usr/bin/nix, its nix-* links, and every
# library `ldd` lists, plus libnss_files/libnss_dns and the loader); /etc/passwd, /etc/group
# (with nixbld), /etc/nsswitch.conf and /etc/nix/nix.conf (sandbox = false, no
# build-users-group, no substituters: Nix never touches the network); an initialised
# /nix store holding one path, a directory `busybox` with bin/busybox + bin/sh, and the
# profile link /nix/var/nix/profiles/default -> that path, so /nix is a valid, non-empty
# store like nixos/nix's. PATH=/nix/var/nix/profiles/default/bin:/usr/bin:/bin.
#
# Idempotent: if TAG already exists it is left alone (unless --force) and its ID printed.
# The only line on stdout is the image ID. Needs root, nix-bin, busybox-static and
# docker.io (the engine is started with scripts/engine.sh if none answers).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
DOCKER=${NIXDF_DOCKER:-/usr/bin/docker}
IMAGE_PATH=/nix/var/nix/profiles/default/bin:/usr/bin:/bin
MTIME=@1

log() { printf 'offline-nix-image: %s\n' "$*" >&2; }
die() { rc=$1; shift; printf 'offline-nix-image: error: %s\n' "$*" >&2; exit "$rc"; }

force=0
tag=
for a in "$@"; do
    case $a in
        -f | --force) force=1 ;;
        -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die 2 "unknown option '$a' (usage: $0 [--force] [TAG])" ;;
        *) [ -z "$tag" ] || die 2 "only one TAG allowed"; tag=$a ;;
    esac
done
tag=${tag:-nixdf-offline/nix:latest}

# --- prerequisites ---------------------------------------------------------------------
missing=
[ -x /usr/bin/nix ] || missing="$missing nix-bin"
[ -x /bin/busybox ] || missing="$missing busybox-static"
[ -x "$DOCKER" ] || missing="$missing docker.io"
[ -z "$missing" ] || {
    printf '%s\n' "offline-nix-image: missing packages: run 'apt-get install -y$missing' (as root)" >&2
    exit 3
}
if ldd /bin/busybox >/dev/null 2>&1; then
    die 3 "/bin/busybox is dynamically linked; install the static one: apt-get install -y busybox-static"
fi
[ "$(id -u)" = 0 ] || die 1 "must run as root (chroot, and files owned by root in the image)"

# --- engine ----------------------------------------------------------------------------
if ! { [ -n "${DOCKER_HOST:-}" ] && timeout 5 "$DOCKER" version >/dev/null 2>&1; }; then
    eval "$("$here/engine.sh" env)"
fi
export DOCKER_HOST

old=$("$DOCKER" image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
if [ "$force" = 0 ] && [ -n "$old" ]; then
    log "$tag already exists (use --force to rebuild)"
    printf '%s\n' "$old"
    exit 0
fi

# --- rootfs ----------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/nixdf-nix-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
R=$tmp/rootfs
mkdir -p "$R/bin" "$R/usr/bin" "$R/usr/libexec/nix" "$R/etc/nix" "$R/root" "$R/tmp" "$R/var/tmp"
chmod 1777 "$R/tmp" "$R/var/tmp"
chmod 0700 "$R/root"

# 1. busybox and its applets (relative links)
cp /bin/busybox "$R/bin/busybox"
chmod 0755 "$R/bin/busybox"
for applet in $(/bin/busybox --list); do
    case $applet in busybox | */*) continue ;; esac
    [ -e "$R/bin/$applet" ] || ln -s busybox "$R/bin/$applet"
done
ln -s ../../bin/busybox "$R/usr/bin/env"

# 2. nix, its links, its libraries, NSS modules, the loader
cp /usr/bin/nix "$R/usr/bin/nix"
for l in nix-build nix-store nix-instantiate nix-env nix-shell nix-hash nix-collect-garbage \
    nix-channel nix-copy-closure nix-daemon nix-prefetch-url; do
    ln -s nix "$R/usr/bin/$l"
done
ln -s ../../bin/nix "$R/usr/libexec/nix/build-remote"
libs=$(ldd /usr/bin/nix | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
[ -n "$libs" ] || die 1 "ldd /usr/bin/nix listed no libraries"
libc=$(printf '%s\n' "$libs" | grep '/libc\.so\.' | head -n 1)
libdir=$(dirname "$libc")
for l in "$libdir/libnss_files.so.2" "$libdir/libnss_dns.so.2"; do
    [ -e "$l" ] && libs="$libs
$l"
done
# copy each at the path ldd names (dereferenced), keeping the directory structure
printf '%s\n' "$libs" | sort -u | while IFS= read -r l; do
    cp -L --parents "$l" "$R/"
done

# 3. users, groups, name service, nix.conf
cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$R/etc/group" <<'EOF'
root:x:0:
nixbld:x:30000:
nogroup:x:65534:
EOF
cat >"$R/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
cat >"$R/etc/nix/nix.conf" <<'EOF'
# offline stand-in for nixos/nix (built by nixdf scripts/offline-nix-image.sh)
sandbox = false
build-users-group =
substituters =
experimental-features = nix-command
EOF

# 4. an initialised store holding busybox, and the default profile pointing at it
CHROOT=$(PATH=$PATH:/usr/sbin:/sbin command -v chroot) || die 3 "chroot not found (coreutils)"
# run a command chrooted into the rootfs; without /proc there, Boehm GC warns on every
# start: drop those lines, show the rest of stderr, keep the exit status.
inroot() {
    rc=0
    env -i HOME=/root USER=root PATH=/usr/bin:/bin TMPDIR=/tmp "$CHROOT" "$R" "$@" 2>"$tmp/stderr" || rc=$?
    grep -v '^GC Warning' "$tmp/stderr" >&2 || true
    return "$rc"
}
inroot nix-store --init
mkdir -p "$R/tmp/busybox/bin"
cp /bin/busybox "$R/tmp/busybox/bin/busybox"
chmod 0755 "$R/tmp/busybox/bin/busybox"
ln -s busybox "$R/tmp/busybox/bin/sh"
bbpath=$(inroot nix-store --add /tmp/busybox)
rm -rf "$R/tmp/busybox"
case $bbpath in /nix/store/*-busybox) ;; *) die 1 "nix-store --add gave '$bbpath'" ;; esac
mkdir -p "$R/nix/var/nix/profiles"
ln -s "$bbpath" "$R/nix/var/nix/profiles/default"
inroot nix-store --verify --check-contents >/dev/null 2>&1 || die 1 "the new store does not verify"
[ -L "$R$bbpath/bin/sh" ] && [ -x "$R$bbpath/bin/busybox" ] || die 1 "$bbpath has no bin/sh"

# 5. determinism: Nix's reserved-space file is recreated on demand; registration times and
# mtimes are pinned so the layer is byte-identical across builds.
rm -f "$R/nix/var/nix/db/reserved" "$R/nix/var/nix/db/db.sqlite-wal" "$R/nix/var/nix/db/db.sqlite-shm"
rm -rf "$R/nix/var/log/nix/drvs" "$R/root/.cache"
if py=$(command -v /usr/bin/python3 python3 2>/dev/null | head -n 1) && [ -n "$py" ]; then
    "$py" - "$R/nix/var/nix/db/db.sqlite" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("UPDATE ValidPaths SET registrationTime = 1")
c.commit()
c.execute("VACUUM")
c.close()
EOF
else
    log "no python3: the Nix DB keeps its registration time (image content not byte-reproducible)"
fi
find "$R" -exec touch -h -d "$MTIME" {} +

tar -C "$R" --sort=name --numeric-owner --owner=0 --group=0 --format=gnu -cf "$tmp/rootfs.tar" .
log "rootfs: $(du -sh "$R" | cut -f1), store path $bbpath"
id=$("$DOCKER" import \
    -c "ENV PATH=$IMAGE_PATH" \
    -c 'ENV USER=root' \
    -c 'WORKDIR /' \
    -c 'CMD ["/bin/sh"]' \
    -m 'nixdf offline Nix 2.8 builder (scripts/offline-nix-image.sh)' \
    "$tmp/rootfs.tar" "$tag")
# the image --force replaced: drop it if nothing else uses it (no -f: refused otherwise)
if [ -n "$old" ] && [ "$old" != "$id" ]; then
    "$DOCKER" rmi "$old" >/dev/null 2>&1 || true
fi
log "built $tag"
printf '%s\n' "$id"

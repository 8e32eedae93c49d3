#!/usr/bin/env bash
# scripts/frontend-image.sh REF
#
# Build nixdf's BuildKit frontend image (nixdf/frontend.py: `# syntax=REF` in a Nixfile) from
# this checkout and push it to REF with `docker buildx build --push`, through the selected
# builder: $BUILDX_BUILDER if set, else the current builder of the docker client
# $NIXDF_DOCKER, else of the first docker on PATH that has buildx.
#
# Offline: no base image is pulled. The image is a root filesystem put together here from this
# machine's Debian packages and PyPI: Debian's /usr/bin/python3.11 with its standard library and
# every shared library `ldd` lists, and a venv (/opt/nixdf) holding nixdf, grpcio and protobuf,
# plus the Python compiled with grpcio-tools from frontend/proto (then removed). So it needs
# Debian bookworm's python3.11 on the machine that builds it. For a release image on a public
# base instead, see docs/frontend.md.
#
# Prints the pushed REF's digest on stdout; everything else goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
checkout=$(dirname "$here")
PYTHON=/usr/bin/python3.11

log() { printf 'frontend-image: %s\n' "$*" >&2; }
die() { rc=$1; shift; printf 'frontend-image: error: %s\n' "$*" >&2; exit "$rc"; }

case ${1:-} in
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    '' | -*) die 2 "usage: $0 REF (e.g. localhost:5000/nixdf-frontend:latest)" ;;
esac
[ "$#" = 1 ] || die 2 "usage: $0 REF"
ref=$1
[ -x "$PYTHON" ] || die 3 "$PYTHON is missing: apt-get install -y python3.11 (Debian bookworm)"

# --- the docker client with buildx ------------------------------------------------------
has_buildx() { "$1" buildx version >/dev/null 2>&1; }
docker=
for candidate in ${NIXDF_DOCKER:-} $(type -ap docker); do
    if has_buildx "$candidate"; then docker=$candidate; break; fi
done
[ -n "$docker" ] || die 3 "no docker client with buildx (\$NIXDF_DOCKER, or docker on PATH)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/nixdf-frontend-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
R=$tmp/rootfs
VENV=/opt/nixdf
SITE=$R$VENV/lib/python3.11/site-packages

# --- python, its standard library, a venv ----------------------------------------------
log "root filesystem in $R"
mkdir -p "$R/usr/bin" "$R/usr/lib" "$R/tmp" "$R/root" "$SITE" "$R$VENV/bin"
chmod 1777 "$R/tmp"
cp -L "$PYTHON" "$R/usr/bin/python3.11"
ln -s python3.11 "$R/usr/bin/python3"
# The tests, 2to3 and pip's bootstrap are never imported by the frontend.
tar -C /usr/lib --exclude=python3.11/test --exclude=python3.11/lib2to3 \
    --exclude=python3.11/ensurepip --exclude=python3.11/EXTERNALLY-MANAGED \
    -cf - python3.11 | tar -C "$R/usr/lib" -xf -
# A venv by hand: what `python3 -m venv` writes, with the links made for the image's paths.
printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11\n' \
    >"$R$VENV/pyvenv.cfg"
ln -s /usr/bin/python3.11 "$R$VENV/bin/python3"
ln -s python3 "$R$VENV/bin/python"
ln -s lib "$R$VENV/lib64"

# --- nixdf, grpcio, protobuf; the gateway messages compiled -----------------------------
log "installing nixdf from $checkout, grpcio and protobuf (PyPI)"
# pip from a venv of its own: Debian's python3 has none without python3-pip.
"$PYTHON" -m venv "$tmp/pip" || die 3 "$PYTHON -m venv failed: apt-get install -y python3-venv"
# From a copy of what the package is made of: pip builds in the source tree (build/, *.egg-info),
# and the checkout stays as it is.
mkdir "$tmp/src"
tar -C "$checkout" --exclude=__pycache__ -cf - pyproject.toml README.md nixdf grammar templates \
    | tar -C "$tmp/src" -xf -
"$tmp/pip/bin/pip" install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$SITE" --no-compile "$tmp/src[frontend]" grpcio-tools >&2
PYTHONPATH=$SITE "$PYTHON" -m grpc_tools.protoc -I "$checkout/frontend/proto" \
    --python_out="$SITE" --grpc_python_out="$SITE" "$checkout"/frontend/proto/nixdf_buildkit/*.proto
# grpcio-tools (the compiler, 7 MB) is needed only for that step; the scripts pip made point
# at this machine's paths.
rm -rf "$SITE"/grpc_tools "$SITE"/grpcio_tools-*.dist-info "$SITE/bin"
"$PYTHON" -m compileall -q -j 0 "$SITE" "$R/usr/lib/python3.11" >&2

# --- shared libraries -------------------------------------------------------------------
log "copying the shared libraries ldd lists"
# (ldd fails on the few files that are not dynamic: they need nothing.)
find "$R" -type f \( -name '*.so' -o -name '*.so.*' -o -path "$R/usr/bin/python3.11" \) \
    -print0 | { xargs -0 ldd 2>/dev/null || true; } | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }' \
    | sort -u | while read -r lib; do cp -L --parents "$lib" "$R"; done

# --- nixdf's caches, filled ---------------------------------------------------------------
# A frontend starts from the image's files at every build: without the parse tables and the
# compiled templates in ~/.cache/nixdf (nixdf.cachedir), each build would make them again
# (0.2-0.3 s). They are keyed by path, so they are made in the image's own filesystem.
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$R/tmp/warm"
    printf '{ app = buildImage { name = "app"; contents = pkgs.hello; }; }\n' >"$R/tmp/warm/Nixfile"
    env -i HOME=/root PATH=/usr/bin /usr/sbin/chroot "$R" /opt/nixdf/bin/python3 -c \
        'from pathlib import Path; from nixdf import api; api.render_path(Path("/tmp/warm/Nixfile"), api.RenderOptions())'
    rm -rf "$R/tmp/warm"
else
    log "not root: the image's nixdf caches stay empty (each build compiles the templates)"
fi

# --- the image, pushed --------------------------------------------------------------------
cat >"$tmp/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/opt/nixdf/bin:/usr/bin HOME=/root PYTHONDONTWRITEBYTECODE=1
# BuildKit runs a frontend without network when this label says so, and passes it frontend
# inputs and named contexts only when its caps label lists them (frontend/gateway/gateway.go).
LABEL moby.buildkit.frontend.network.none="true" \
      moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
ENTRYPOINT ["/opt/nixdf/bin/python3", "-m", "nixdf.frontend"]
EOF
log "rootfs: $(du -sh "$R" | cut -f1); pushing $ref with $docker buildx build (builder ${BUILDX_BUILDER:-current})"
"$docker" buildx build ${BUILDX_BUILDER:+--builder "$BUILDX_BUILDER"} --push --provenance=false \
    --metadata-file "$tmp/metadata.json" -t "$ref" "$tmp" >&2
"$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' \
    "$tmp/metadata.json"

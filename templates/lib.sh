# nixdf's shell side. nixdf writes this file, unchanged, beside each Dockerfile it renders (as
# .nixdf/lib.sh); a build step mounts it at /nixdf/lib and sources it, then calls the functions
# below by name. Plain POSIX sh with the builder's core tools: nixos/nix has no awk.
#
# Files they share: /nixdf/contents (the store paths of the image's contents, one a line),
# /nixdf/ref-outputs (those its config and scripts name), /nixdf/closure (their runtime
# closure, sorted). What the image gets is staged under /out.

# The outputs of the store paths in a JSON list (nix-instantiate --json) into OUT, built or
# substituted. realise_json FILE OUT
realise_json() {
  tr -d '[]"' < "$1" | tr ',' '\n' | grep . > /nixdf/realise || true
  if [ -s /nixdf/realise ]; then nix-store --realise $(cat /nixdf/realise) > "$2"; else : > "$2"; fi
}

# lib.nix's `extras` (its first item the file of lines, the rest what they name) realised;
# $extras is that file.
realise_extras() {
  tr -d '[]"' < /nixdf/extras.json | tr ',' '\n' > /nixdf/extras-paths
  extras=$(sed -n 1p /nixdf/extras-paths)
  sed 1d /nixdf/extras-paths > /nixdf/extras-drvs
  if [ -s /nixdf/extras-drvs ]; then nix-store --realise $(cat /nixdf/extras-drvs) > /dev/null; fi
}

# The runtime closure of the paths in FILEs, sorted, into /nixdf/closure. closure_of FILE...
closure_of() {
  cat "$@" > /nixdf/roots
  : > /nixdf/closure
  if [ -s /nixdf/roots ]; then nix-store --query --requisites $(cat /nixdf/roots) | sort > /nixdf/closure; fi
}

# The closure copied out of the /nix cache into the root, modes and times kept.
copy_closure() {
  mkdir -p /out/root
  if [ -s /nixdf/closure ]; then mkdir -p /out/root/nix/store; fi
  while read -r path; do cp -a "$path" /out/root/nix/store/; done < /nixdf/closure
}

# The same, less what the base image (mounted at /nixdf/base) holds already, as buildImage
# leaves out what its fromImage's layers have: this layer is what the image adds.
copy_closure_on_base() {
  mkdir -p /out/root
  while read -r path; do
    if [ ! -e "/nixdf/base/nix/store/${path##*/}" ] && [ ! -L "/nixdf/base/nix/store/${path##*/}" ]; then
      mkdir -p /out/root/nix/store; cp -a "$path" /out/root/nix/store/
    fi
  done < /nixdf/closure
}

# Per path: each store layer's stage copies its own paths (the marks in /out/marks list them);
# every listed path must be in this build's closure, and a path no mark lists (none, while the
# lock is current) goes into the root.
copy_unmarked() {
  mkdir -p /out/root
  cat /out/marks/* > /nixdf/locked
  while read -r name; do
    grep -qxF "/nix/store/$name" /nixdf/closure || { echo "nixdf: the lock file names /nix/store/$name, which this build does not have: run nixdf lock" >&2; exit 1; }
  done < /nixdf/locked
  while read -r path; do
    grep -qxF "${path##*/}" /nixdf/locked || { mkdir -p /out/root/nix/store; cp -a "$path" /out/root/nix/store/; }
  done < /nixdf/closure
}

# Each item of contents copied into the root, as buildImage's rsync does: symlinks to
# directories become real directories (rsync -k), unless keepContentsDirlinks (--keep-dirlinks)
# keeps them. copy_contents [--keep-dirlinks]
copy_contents() {
  while read -r path; do
    rm -rf /nixdf/item; mkdir /nixdf/item; cp -a "$path/." /nixdf/item/
    if [ "${1:-}" = --keep-dirlinks ]; then
      # A directory where an earlier item left a symlink would be copied through the link,
      # into the store it points at: stop instead.
      (cd /nixdf/item && find . -mindepth 1 -type d) | while read -r dir; do
        if [ -L "/out/root/$dir" ]; then echo "nixdf: ${dir#./} is a directory in $path but a symlink in an earlier item of contents; with keepContentsDirlinks = true it cannot be merged" >&2; exit 1; fi
      done
    else
      rounds=0
      while find /nixdf/item -type l > /nixdf/links && grep -q . /nixdf/links; do
        found=
        while read -r link; do
          if [ -d "$link" ]; then target=$(readlink -f "$link"); rm "$link"; mkdir "$link"; cp -a "$target/." "$link/"; found=1; fi
        done < /nixdf/links
        [ -n "$found" ] || break
        rounds=$((rounds + 1))
        if [ "$rounds" -gt 32 ]; then echo "nixdf: symlinks to directories in $path form a cycle" >&2; exit 1; fi
      done
    fi
    cp -a /nixdf/item/. /out/root/
  done < /nixdf/contents
}

# The root owned by root, /nix and /nix/store read-only, as buildImage makes them.
own_root() {
  chown -hR 0:0 /out/root
  if [ -d /out/root/nix/store ]; then chmod 0555 /out/root/nix /out/root/nix/store; fi
}

# Where the base has them, /nix and /nix/store keep its owner and mode, as buildImage adds no
# entry for them then.
keep_base_nix() {
  for dir in nix nix/store; do
    if [ -d "/out/root/$dir" ] && [ -d "/nixdf/base/$dir" ]; then
      chown "$(stat -c %u:%g "/nixdf/base/$dir")" "/out/root/$dir"; chmod "$(stat -c %a "/nixdf/base/$dir")" "/out/root/$dir"
    fi
  done
}

# Each item of contents as real directories and symlinks to its files, as the layered
# builders' symlinkJoin makes it.
link_contents() {
  mkdir -p /out/root
  while read -r path; do
    (cd "$path" && find . -mindepth 1) | while read -r rel; do
      if [ -d "$path/$rel" ] && [ ! -L "$path/$rel" ]; then mkdir -p "/out/root/$rel"
      elif [ ! -e "/out/root/$rel" ] && [ ! -L "/out/root/$rel" ]; then ln -s "$path/${rel#./}" "/out/root/$rel"; fi
    done
  done < /nixdf/contents
}

# Store paths moved from the root's store to a store layer's. store_layer DIR NAME...
store_layer() {
  dir=$1; shift
  mkdir -p "${dir}nix/store"
  (cd /out/root/nix/store && mv "$@" "$dir/nix/store/")
}

# A path no layer took (none, while the lock is current) joins the last layer DIR; the root
# keeps no empty /nix/store: the store layers hold it, as in dockerTools' images.
rest_to_layer() {
  for path in /out/root/nix/store/*; do if [ -e "$path" ]; then mv "$path" "${1}nix/store/"; fi; done
  rmdir /out/root/nix/store /out/root/nix
}

# The root owned by root, the store (root's and layers') by OWNER, /nix and /nix/store mode
# 0755, as the layered builders make them. own_store OWNER
own_store() {
  chown -hR 0:0 /out/root
  for nix in /out/root/nix /out/layers/*/nix; do
    if [ -d "$nix" ]; then chown -hR "$1" "$nix"; chmod 0755 "$nix"; fi
    if [ -d "$nix/store" ]; then chmod 0755 "$nix/store"; fi
  done
}

# What a runAsRoot script finds on PATH (dockerTools gives it coreutils): each taken from the
# builder image when it has one.
tools="sh basename cat chgrp chmod chown cp cut date dirname echo env false find grep head id
install ln ls mkdir mktemp mv printf readlink rm rmdir sed sleep sort stat tail tee test touch tr
true uniq wc xargs"

# For the image's scripts, in /out/run (mounted over /nix while they run): the image's store and
# the builder's shell and core tools with their closures. The store comes from the closure
# (scripts_shell closure), from the root and store layers (layers), or the root alone.
scripts_shell() {
  mkdir -p /out/run/store /out/run/.nixdf/bin
  case "$1" in
    closure) while read -r path; do cp -a "$path" /out/run/store/; done < /nixdf/closure ;;
    layers) for store in /out/root/nix/store /out/layers/*/nix/store; do if [ -d "$store" ]; then cp -al "$store/." /out/run/store/; fi; done ;;
    *) if [ -d /out/root/nix/store ]; then cp -al /out/root/nix/store/. /out/run/store/; fi ;;
  esac
  : > /nixdf/tools
  for tool in $tools; do
    found=
    for dir in $(echo "$PATH" | tr : " "); do if [ -x "$dir/$tool" ]; then found=$dir/$tool; break; fi; done
    [ -n "$found" ] || continue
    real=$(readlink -f "$found")
    case "$real" in
      /nix/store/*) echo "$real" | cut -d/ -f1-4 >> /nixdf/tools; ln -s "$real" "/out/run/.nixdf/bin/$tool" ;;
      *) base=${real##*/}; [ -e "/out/run/.nixdf/bin/$base" ] || cp "$real" "/out/run/.nixdf/bin/$base"; [ "$base" = "$tool" ] || ln -s "$base" "/out/run/.nixdf/bin/$tool" ;;
    esac
  done
  if [ -s /nixdf/tools ]; then
    nix-store --query --requisites $(sort -u /nixdf/tools) | while read -r path; do [ -e "/out/run/store/${path##*/}" ] || cp -a "$path" /out/run/store/; done
  fi
  [ -e /out/run/.nixdf/bin/sh ] || { echo "nixdf: the builder image has no sh for runAsRoot" >&2; exit 1; }
}

# The config's WorkingDir, a NAME a level, made in the root like the rest, not by WORKDIR at
# the build's time; a name on the way that is a link or a file is left to WORKDIR.
# make_workdir NAME...
make_workdir() {
  dir=/out/root
  for name in "$@"; do
    dir="$dir/$name"
    if [ -L "$dir" ] || { [ -e "$dir" ] && [ ! -d "$dir" ]; }; then break; fi
    [ -d "$dir" ] || mkdir -m 0755 "$dir"
  done
}

# Every timestamp under /out set to EPOCH, so unchanged inputs give unchanged layers.
stamp() {
  find /out -exec touch -h -d "@$1" {} +
}

# nix2container's filesystem, as nix2container writes its layers (nlewo/nix2container
# nix/tar.go, nix/layers.go): every layer holds the closure of its deps and copyToRoot in
# nix/store, less the paths a layer below holds; each copyToRoot item's own files go to the
# layer's root as they are, symlinks kept, and not to nix/store. Layer N of `layers` is staged
# in /out/n2c/N, the image's own (the customisation layer, 0) in /out/root, and the store
# layers maxLayers splits off it in /out/layers/N. /nixdf/where-N says where each path of
# layer N went (SOURCE TARGET store|root), for perms. The lines of $extras say what each
# layer has. n2c_start LAYERS (the count of explicit layers)
n2c_start() {
  n=0
  while [ "$n" -le "$1" ]; do
    for kind in dep root ignore; do grep "^layer $n $kind " "$extras" | cut -d' ' -f4 > "/nixdf/$kind-$n"; done
    : > "/nixdf/where-$n"
    n=$((n + 1))
  done
  n2c_layers=$1
  : > /nixdf/held
}

# PATH into DIR's store or root (store|root), as part of layer N. n2c_place PATH KIND DIR N
n2c_place() {
  mkdir -p "$3"
  if [ "$2" = store ]; then
    mkdir -p "$3/nix/store"; cp -a "$1" "$3/nix/store/"; echo "$1" >> /nixdf/held
    echo "$1 $3/nix/store/${1##*/} store" >> "/nixdf/where-$4"
  else
    if [ -d "$1" ]; then
      (cd "$1" && find . -mindepth 1 -type d) | while read -r dir; do
        if [ -L "$3/$dir" ]; then echo "nixdf: ${dir#./} is a directory in $1 and a symlink in another copyToRoot item" >&2; exit 1; fi
      done
      cp -a "$1/." "$3/"
    fi
    echo "$1 $3 root" >> "/nixdf/where-$4"
  fi
}

# The closure of layer N's copyToRoot and deps, sorted, into /nixdf/closure-N.
n2c_closure() {
  : > "/nixdf/closure-$1"
  if [ -s "/nixdf/root-$1" ] || [ -s "/nixdf/dep-$1" ]; then
    nix-store --query --requisites $(cat "/nixdf/root-$1" "/nixdf/dep-$1") > /nixdf/requisites
    sort /nixdf/requisites > "/nixdf/closure-$1"
  fi
}

# Layer N into DIR: its closure's store paths that no layer below holds, then its copyToRoot
# items' files. n2c_layer N DIR
n2c_layer() {
  mkdir -p "$2"
  while read -r path; do
    if ! grep -qxF "$path" "/nixdf/root-$1" "/nixdf/ignore-$1" /nixdf/held; then n2c_place "$path" store "$2" "$1"; fi
  done < "/nixdf/closure-$1"
  while read -r path; do
    if ! cut -d' ' -f1 "/nixdf/where-$1" | grep -qxF "$path"; then n2c_place "$path" root "$2" "$1"; fi
  done < "/nixdf/root-$1"
}

# maxLayers: the store paths NAME... of the image's own layer in a layer DIR of their own (a
# copyToRoot item's files at its root). n2c_store_layer DIR NAME...
n2c_store_layer() {
  dir=$1; shift
  for name in "$@"; do
    path=/nix/store/$name
    grep -qxF "$path" /nixdf/closure-0 || { echo "nixdf: the lock file names $path, which this build does not have: run nixdf lock" >&2; exit 1; }
    if grep -qxF "$path" /nixdf/root-0; then n2c_place "$path" root "$dir" 0; else n2c_place "$path" store "$dir" 0; fi
  done
}

# Every entry root:root, /nix and /nix/store mode 0755, as nix2container writes them; then
# perms: under each `path`, the files whose store path matches `regex` (grep -E) get uid:gid
# (root's by default), `mode` and the bits of `orMode`; a later entry wins, as in nix2container.
n2c_finish() {
  for dir in /out/root /out/n2c/* /out/layers/*; do
    if [ -d "$dir" ]; then chown -hR 0:0 "$dir"; fi
    for nix in "$dir/nix" "$dir/nix/store"; do if [ -d "$nix" ] && [ ! -L "$nix" ]; then chmod 0755 "$nix"; fi; done
  done
  n=0
  while [ "$n" -le "$n2c_layers" ]; do n2c_perms "$n"; n=$((n + 1)); done
}

n2c_perms() {
  grep "^perm $1 " "$extras" | while read -r _ _ path mode ormode uid gid regex; do
    regex=${regex#|}; regex=${regex%|}
    while read -r src target kind; do
      [ "$src" = "$path" ] || continue
      find "$path" | grep -E -e "$regex" | while read -r file; do
        rel=${file#"$path"}
        if [ "$kind" = root ] && [ -z "$rel" ]; then continue; fi
        chown -h "$uid:$gid" "$target$rel"
        if [ ! -L "$target$rel" ]; then
          if [ "$mode" != - ]; then chmod "$mode" "$target$rel"; fi
          if [ "$ormode" != - ]; then chmod "$(printf %o $(( 0$(stat -c %a "$target$rel") | 0$ormode )))" "$target$rel"; fi
        fi
      done
    done < "/nixdf/where-$1"
  done
}

# A Nix database in the image under DEST: the registrations of the closure of the paths in
# ROOTS (nix-store --dump-db) loaded into a store of its own (nix-store --load-db), their
# registration time 0 with the package set's sqlite3 when it has one (dump and reload, so the
# file is the same for the same paths), and a GC root per path in GCROOTS (a file).
# dockerTools' includeNixDB registers the closure of contents with a root per contents item
# (mkDbExtraCommand); nix2container's initializeNixDatabase, the paths the image holds with a
# root each. nix_db DEST ROOTS GCROOTS
nix_db() {
  sort -u "$2" > /nixdf/db-roots
  : > /nixdf/db-paths; : > /nixdf/db-dump
  if [ -s /nixdf/db-roots ]; then nix-store --query --requisites $(cat /nixdf/db-roots) > /nixdf/requisites; sort -u /nixdf/requisites > /nixdf/db-paths; fi
  if [ -s /nixdf/db-paths ]; then nix-store --dump-db $(cat /nixdf/db-paths) > /nixdf/db-dump; fi
  mkdir -p /nixdf/db "$1/nix/var/nix/db" "$1/nix/var/nix/gcroots/docker"
  USER=nobody NIX_REMOTE='local?root=/nixdf/db' nix-store --load-db < /nixdf/db-dump
  sqlite=$(sed -n 's/^sqlite //p' "$extras")
  if [ -n "$sqlite" ]; then
    "$sqlite/bin/sqlite3" /nixdf/db/nix/var/nix/db/db.sqlite 'UPDATE ValidPaths SET registrationTime = 0;'
    "$sqlite/bin/sqlite3" /nixdf/db/nix/var/nix/db/db.sqlite .dump > /nixdf/db.sql
    "$sqlite/bin/sqlite3" "$1/nix/var/nix/db/db.sqlite" < /nixdf/db.sql
  else
    echo "nixdf: the package set has no sqlite, so the Nix database keeps this build's time as each path's registration time" >&2
    cp /nixdf/db/nix/var/nix/db/db.sqlite "$1/nix/var/nix/db/"
  fi
  cp /nixdf/db/nix/var/nix/db/schema "$1/nix/var/nix/db/"
  rm -rf /nixdf/db
  while read -r path; do ln -s "$path" "$1/nix/var/nix/gcroots/docker/${path##*/}"; done < "$3"
}

# A scratch image's root after its scripts (mounted at /nixdf/scripted; the root before them at
# /nixdf/root) into /out, without the empty mount points a RUN leaves behind. Podman's buildah
# drops a directory a step mounted over, and leaves empty name files.
tidy_scripted() {
  mkdir /out
  cp -a /nixdf/scripted/. /out/
  if [ -d /nixdf/root/nix ] && [ ! -e /out/nix ]; then cp -a /nixdf/root/nix /out/nix; fi
  for file in etc/hostname etc/hosts etc/resolv.conf; do
    if [ ! -e "/nixdf/root/$file" ] && [ -f "/out/$file" ] && [ ! -s "/out/$file" ]; then rm "/out/$file"; fi
  done
  for dir in dev etc nix proc run sys; do
    if [ ! -e "/nixdf/root/$dir" ] && [ -d "/out/$dir" ] && [ -z "$(ls -A "/out/$dir")" ]; then rmdir "/out/$dir"; fi
  done
}

# What the root and the scripts added to a fromImage base (mounted at /nixdf/base; after the
# scripts at /nixdf/scripted) or changed in it, into /out, as one layer. A layer adds and never
# deletes: what the scripts removed from the base stops the build, WHAT (the scripts and the
# image, for the message) says whose. tidy_on_base WHAT
tidy_on_base() {
  list() { (cd "$1" && find . -exec stat -c '%F|%f|%u|%g|%s|%y|%z|%n' {} +); }
  list /nixdf/base > /nixdf/base.list
  list /nixdf/scripted > /nixdf/scripted.list
  # Set differences with sort and uniq, which every builder has: a line twice in one list
  # and once in the other is in both.
  cut -d'|' -f1,8- /nixdf/base.list > /nixdf/base.names
  cut -d'|' -f1,8- /nixdf/scripted.list > /nixdf/scripted.names
  sort /nixdf/scripted.names /nixdf/scripted.names /nixdf/base.names | uniq -u | cut -d'|' -f2- > /nixdf/gone
  if [ -s /nixdf/gone ]; then
    echo "nixdf: $1 removed from its fromImage (or made into another kind of file) what a layer on it cannot remove, as a Dockerfile COPY only adds:" >&2
    sed 's|^\.|  |' /nixdf/gone | head -n 20 >&2
    echo "hint: remove them in the base image instead, or leave them in place" >&2
    exit 1
  fi
  # A change gives an entry a new ctime, but so may the engine's snapshots: an entry whose
  # kind, mode, owner, size and mtime are the base's is new only if its target or bytes are.
  sort /nixdf/base.list /nixdf/base.list /nixdf/scripted.list | uniq -u | cut -d'|' -f1-6,8- > /nixdf/new
  cut -d'|' -f1-6,8- /nixdf/base.list > /nixdf/base.same
  sort /nixdf/base.same /nixdf/base.same /nixdf/new | uniq -u > /nixdf/differ
  sort /nixdf/differ /nixdf/differ /nixdf/new | uniq -u > /nixdf/alike
  cut -d'|' -f7- /nixdf/differ > /nixdf/changed
  while IFS='|' read -r kind mode uid gid size mtime name; do
    case "$kind" in
      "regular file"|"regular empty file") [ "$(sha256sum < "/nixdf/base/$name")" = "$(sha256sum < "/nixdf/scripted/$name")" ] || echo "$name" ;;
      "symbolic link") [ "$(readlink "/nixdf/base/$name")" = "$(readlink "/nixdf/scripted/$name")" ] || echo "$name" ;;
    esac
  done < /nixdf/alike >> /nixdf/changed
  sort -o /nixdf/changed /nixdf/changed
  # A directory of the base with something new in it: the directory alone, its owner and mode
  # as the scripts left them; anything new: copied whole.
  like() { chown "$(stat -c %u:%g "/nixdf/scripted/$1")" "/out/$1"; chmod "$(stat -c %a "/nixdf/scripted/$1")" "/out/$1"; }
  dir() { [ -d "/out/$1" ] || { dir "${1%/*}"; mkdir "/out/$1"; like "$1"; }; }
  mkdir /out; like .
  while IFS= read -r name; do
    if [ -e "/out/$name" ] || [ -L "/out/$name" ]; then continue; fi
    dir "${name%/*}"
    if [ -d "/nixdf/scripted/$name" ] && [ ! -L "/nixdf/scripted/$name" ] && [ -d "/nixdf/base/$name" ] && [ ! -L "/nixdf/base/$name" ]; then dir "$name"
    else cp -a "/nixdf/scripted/$name" "/out/$name"; fi
  done < /nixdf/changed
  for file in etc/hostname etc/hosts etc/resolv.conf; do
    if [ ! -e "/nixdf/root/$file" ] && [ ! -e "/nixdf/base/$file" ] && [ ! -L "/nixdf/base/$file" ] && [ -f "/out/$file" ] && [ ! -s "/out/$file" ]; then rm "/out/$file"; fi
  done
  # An empty mount point the base lacks goes; one the base has goes if only its times changed.
  for dir in dev etc nix proc run sys; do
    if [ -d "/out/$dir" ] && [ ! -L "/out/$dir" ] && [ -z "$(ls -A "/out/$dir")" ] && [ ! -e "/nixdf/root/$dir" ]; then
      if [ ! -e "/nixdf/base/$dir" ] && [ ! -L "/nixdf/base/$dir" ]; then rmdir "/out/$dir"
      elif [ "$(stat -c %F%a%u%g "/nixdf/base/$dir")" = "$(stat -c %F%a%u%g "/out/$dir")" ]; then rmdir "/out/$dir"; fi
    fi
  done
}

# Per path: a store layer's paths NAME... copied out of the /nix cache into /out, owned by
# OWNER, /nix and /nix/store mode 0755. BUILD is the stage that built them, for the message.
# copy_layer BUILD OWNER NAME...
copy_layer() {
  build=$1; owner=$2; shift 2
  mkdir -p /out/nix/store
  for name in "$@"; do
    if [ ! -e "/nix/store/$name" ]; then echo "nixdf: /nix/store/$name left the /nix cache after $build built it (was the build cache pruned?): build again with --no-cache" >&2; exit 1; fi
    cp -a "/nix/store/$name" /out/nix/store/
  done
  chown -hR "$owner" /out/nix
  chmod 0755 /out/nix /out/nix/store
}

# The lock: the closure of the paths in /nixdf/contents and /nixdf/ref-outputs, as Nix's
# database holds it (nix-store --dump-db: each path, its NAR hash, size, deriver and
# references), into OUT; nixdf.locking reads the layers' sizes and references and
# --nix-cache-from's records from it. One query for all: a query per path took 35 ms a path.
# lock_closure OUT
lock_closure() {
  : > "$1"
  if [ -s /nixdf/contents ] || [ -s /nixdf/ref-outputs ]; then
    nix-store --query --requisites $(cat /nixdf/contents /nixdf/ref-outputs) > /nixdf/closure
    xargs nix-store --dump-db < /nixdf/closure > "$1"
  fi
}

# nix2container's Nix database under DEST owned by nixUid:nixGid (OWNER) and mode 0755, with
# /nix and /nix/store, as nix2container's perms make them. n2c_db_owner DEST OWNER
n2c_db_owner() {
  mkdir -p "$1/nix/store/.links"
  chown -hR "$2" "$1/nix/var" "$1/nix/store/.links"
  chown -h "$2" "$1/nix" "$1/nix/store"
  find "$1/nix/var" "$1/nix/store/.links" ! -type l -exec chmod 0755 {} +
  chmod 0755 "$1/nix" "$1/nix/store"
}

# nixdf build --nix-cache-from: each store path Nix wants for these images (an output of a
# derivation in the closure of the roots in /nixdf/roots) that the /nix cache lacks, that the
# lock file records (/nixdf/recorded: PATH NARHASH NARSIZE DERIVER|- REFERENCE..., a line
# each) and that a source image (mounted at /nixdf/from/N) holds, is copied in, hashed where
# Nix will read it, and registered only when its NAR hash is the recorded one and its
# references are valid or taken too. What happened, a line a path, goes to /out/report.
seed_cache() {
  mkdir -p /out; : > /out/report; touch /nixdf/recorded
  # Every output of every derivation they need: the only names a source may supply.
  sed 's/!.*//' /nixdf/roots | grep . | sort -u > /nixdf/roots.sorted || true
  : > /nixdf/wanted
  if [ -s /nixdf/roots.sorted ]; then
    xargs nix-store --query --requisites < /nixdf/roots.sorted | grep '\.drv$' | sort -u > /nixdf/drvs || true
    if [ -s /nixdf/drvs ]; then xargs nix-store --query --outputs < /nixdf/drvs | sort -u > /nixdf/wanted; fi
  fi
  # Those the cache lacks: recorded ones are candidates, the others are counted.
  : > /nixdf/invalid
  if [ -s /nixdf/wanted ]; then xargs nix-store --check-validity --print-invalid < /nixdf/wanted > /nixdf/invalid; fi
  cut -d ' ' -f 1 /nixdf/recorded | sort -u > /nixdf/recorded-paths
  : > /nixdf/taken
  while read -r path; do
    name=${path##*/}
    if ! grep -qxF "$path" /nixdf/recorded-paths; then
      for from in /nixdf/from/*; do
        if [ -e "$from/nix/store/$name" ] || [ -L "$from/nix/store/$name" ]; then echo "unrecorded $path" >> /out/report; break; fi
      done
      continue
    fi
    want=$(grep -m 1 "^$path " /nixdf/recorded | cut -d ' ' -f 2)
    want=${want#sha256:}
    found=
    for from in /nixdf/from/*; do
      [ -e "$from/nix/store/$name" ] || [ -L "$from/nix/store/$name" ] || continue
      found=1
      # Copied, then hashed where Nix will read it: the bytes registered are the bytes checked.
      rm -rf "/nix/store/$name"; cp -a "$from/nix/store/$name" /nix/store/
      got=$(nix-hash --type sha256 "/nix/store/$name")
      if [ "$got" = "$want" ]; then echo "$path" >> /nixdf/taken; found=taken; break; fi
      rm -rf "/nix/store/$name"
      echo "nixdf: --nix-cache-from: $path in a source image is not what Nix built (NAR hash sha256:$got, the lock records sha256:$want): not taken, Nix builds it" >&2
      echo "mismatch $path ${from##*/} $got $want" >> /out/report
    done
    [ -n "$found" ] || echo "absent $path" >> /out/report
  done < /nixdf/invalid
  # A path is registered only with its references: each valid already, or taken too.
  : > /nixdf/present; : > /nixdf/recorded-invalid
  if [ -s /nixdf/recorded-paths ]; then xargs nix-store --check-validity --print-invalid < /nixdf/recorded-paths > /nixdf/recorded-invalid; fi
  # (busybox grep -v with no patterns prints nothing, GNU grep everything.)
  if [ -s /nixdf/recorded-invalid ]; then grep -vxF -f /nixdf/recorded-invalid /nixdf/recorded-paths > /nixdf/present || true; else cp /nixdf/recorded-paths /nixdf/present; fi
  changed=1
  while [ -n "$changed" ]; do
    changed=
    cat /nixdf/present /nixdf/taken > /nixdf/usable
    : > /nixdf/kept
    while read -r path; do
      set -- $(grep -m 1 "^$path " /nixdf/recorded); shift 4
      # One grep a path: is any of its references outside the usable ones?
      if [ "$#" -eq 0 ] || ! printf '%s\n' "$@" | grep -qvxF -f /nixdf/usable; then echo "$path" >> /nixdf/kept
      else rm -rf "/nix/store/${path##*/}"; echo "unreferenced $path" >> /out/report; changed=1; fi
    done < /nixdf/taken
    mv /nixdf/kept /nixdf/taken
  done
  # Registered as nix-store --dump-db writes them, in one transaction.
  : > /nixdf/load
  while read -r path; do
    set -- $(grep -m 1 "^$path " /nixdf/recorded)
    deriver=$4; [ "$deriver" != - ] || deriver=
    printf '%s\n%s\n%s\n%s\n' "$1" "${2#sha256:}" "$3" "$deriver" >> /nixdf/load
    shift 4; echo "$#" >> /nixdf/load
    for ref in "$@"; do echo "$ref" >> /nixdf/load; done
    echo "taken $path" >> /out/report
  done < /nixdf/taken
  if [ -s /nixdf/load ]; then nix-store --load-db < /nixdf/load; fi
  echo "wanted $(wc -l < /nixdf/wanted) $(wc -l < /nixdf/invalid)" >> /out/report
}

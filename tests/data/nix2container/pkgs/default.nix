# The packages and helpers nix2container's examples use, offline: everything is built by the
# static busybox of the offline builder image (scripts/offline-nix-image.sh), so nothing is
# downloaded. Stand-ins keep what the examples and their checks rely on (program names,
# files, links, references between paths) and nothing more; buildEnv, runCommand and the
# write* helpers behave as nixpkgs' do where an example can see the difference. Two packages
# take the builder image's own programs (a build here has no sandbox), so as to give a Nix
# database something real to do: `nix` is the builder's Nix, and `sqlite` the host's
# sqlite3, which the test copies in beside this file (without it the set has no sqlite).
{ }:
let
  system = builtins.currentSystem;

  # The builder image's /bin/busybox and its `sh` link, copied into the store.
  bootstrap = builtins.path {
    path = /bin;
    name = "busybox-bootstrap";
    filter = path: type: builtins.elem (baseNameOf path) [ "busybox" "sh" ];
  };

  busybox = derivation {
    name = "busybox-static-1.35";
    inherit system;
    builder = "${bootstrap}/sh";
    args = [ "-c" ''
      set -e
      ${bootstrap}/busybox mkdir -p $out/bin
      ${bootstrap}/busybox cp ${bootstrap}/busybox $out/bin/busybox
      for applet in $(${bootstrap}/busybox --list); do
        if [ "$applet" != busybox ]; then ${bootstrap}/busybox ln -s busybox $out/bin/$applet; fi
      done
    '' ];
  };

  sh = "${busybox}/bin/sh";

  # runCommand: `env` becomes the derivation's environment, `script` runs in busybox's sh.
  runCommand = name: env: script: derivation (env // {
    inherit name system;
    builder = sh;
    args = [ "-c" "set -e\n${script}" ];
    PATH = "${busybox}/bin";
  });

  writeTextFile = { name, text, executable ? false, destination ? "" }:
    runCommand name { inherit text; passAsFile = [ "text" ]; } ''
      target=$out${destination}
      mkdir -p "$(dirname "$target")"
      cp "$textPath" "$target"
      ${if executable then ''chmod 0555 "$target"'' else ""}
    '';
  writeText = name: text: writeTextFile { inherit name text; };
  writeTextDir = path: text: writeTextFile {
    inherit text;
    name = baseNameOf path;
    destination = "/${path}";
  };
  writeScript = name: text: writeTextFile { inherit name text; executable = true; };
  writeScriptBin = name: text: writeTextFile {
    inherit name text;
    executable = true;
    destination = "/bin/${name}";
  };
  # nixpkgs' writeShellApplication, without the shellcheck: a bin/NAME running `text` in a
  # shell with `runtimeInputs` on PATH.
  writeShellApplication = { name, text, runtimeInputs ? [ ] }: writeScriptBin name ''
    #!${sh}
    set -eu
    PATH=${builtins.concatStringsSep ":" (map (p: "${p}/bin") runtimeInputs)}:$PATH
    ${text}
  '';

  # nixpkgs' buildEnv: the union of `paths` under each of `pathsToLink`. A directory only
  # one package provides stays a symlink to that package's directory; where a second
  # package adds to it, it becomes a real directory of links (builder.pl does the same).
  buildEnv = { name, paths, pathsToLink ? [ "/" ] }:
    runCommand name { inherit paths pathsToLink; } ''
      link() {
        local src="$1" dst="$2" old child
        if [ ! -e "$dst" ] && [ ! -L "$dst" ]; then ln -s "$src" "$dst"; return; fi
        if [ -d "$src" ] && [ -L "$dst" ] && [ -d "$dst" ]; then
          old=$(readlink "$dst"); rm "$dst"; mkdir "$dst"
          for child in "$old"/* "$old"/.[!.]*; do
            if [ -e "$child" ] || [ -L "$child" ]; then ln -s "$child" "$dst/''${child##*/}"; fi
          done
        fi
        if [ -d "$src" ] && [ -d "$dst" ] && [ ! -L "$dst" ]; then
          for child in "$src"/* "$src"/.[!.]*; do
            if [ -e "$child" ] || [ -L "$child" ]; then link "$child" "$dst/''${child##*/}"; fi
          done
          return
        fi
        echo "buildEnv: $dst is provided twice, keeping the first" >&2
      }
      mkdir -p $out
      for path in $paths; do
        for sub in $pathsToLink; do
          if [ "$sub" = / ]; then link "$path" "$out"; continue; fi
          if [ -e "$path$sub" ]; then
            mkdir -p "$(dirname "$out$sub")"
            link "$path$sub" "$out$sub"
          fi
        done
      done
    '';

  # A library for bash to depend on: its closure is what nix2container's `nested` and
  # `duplicated` examples put in a layer of its own.
  readline = runCommand "readline-8.2" { } ''
    mkdir -p $out/lib
    echo "readline stand-in" > $out/lib/libreadline.so.8
  '';

  # GNU bash stands in as busybox's ash (with readline in its closure, as bash has it);
  # `bash --version` answers as bash would.
  mkBash = name: runCommand name { } ''
    mkdir -p $out/bin
    cat > $out/bin/bash <<'EOF'
    #!${sh}
    # links ${readline}/lib/libreadline.so.8
    if [ "$1" = --version ]; then echo "GNU bash, version 5.2.26 (stand-in: busybox ash)"; exit 0; fi
    exec ${sh} "$@"
    EOF
    chmod 0555 $out/bin/bash
    ln -s bash $out/bin/sh
  '';
  bash = mkBash "bash-5.2p26";

  # The coreutils programs the examples run, as busybox applets.
  coreutils = runCommand "coreutils-9.5" { } ''
    mkdir -p $out/bin
    for tool in basename cat chmod chown cp date dirname echo env false head id ln ls mkdir \
        mv printf pwd readlink rm sleep sort stat tail test touch true uname wc whoami; do
      ln -s ${busybox}/bin/busybox "$out/bin/$tool"
    done
  '';

  hello = writeScriptBin "hello" ''
    #!${sh}
    echo "Hello, world!"
  '';

  # nginx: fails as nginx does where it cannot make the directories it writes to (it makes
  # the last component only), else says which port it would serve.
  nginx = writeScriptBin "nginx" ''
    #!${sh}
    PATH=${busybox}/bin
    conf=/etc/nginx/nginx.conf
    while [ $# -gt 0 ]; do case "$1" in -c) conf=$2; shift 2 ;; *) shift ;; esac; done
    for dir in /tmp/nginx_client_body /var/log/nginx; do
      [ -d "$dir" ] || mkdir "$dir" 2>/dev/null || { echo "nginx: [emerg] mkdir() \"$dir\" failed" >&2; exit 1; }
    done
    echo "nginx stand-in: $(sed -n 's/^ *listen \([0-9]*\);.*/\1/p' "$conf")"
  '';

  # The builder image's Nix (Debian's, with every library in the image), run through its own
  # loader so that it needs nothing outside the store. Impure on purpose: it copies files of
  # the builder image, which a build here may read.
  nix = runCommand "nix-2.8-offline" { } ''
    mkdir -p $out/bin $out/lib $out/libexec
    cp /usr/bin/nix $out/libexec/nix
    cp -L /usr/lib/nix/*.so* /lib/x86_64-linux-gnu/*.so* /lib64/ld-linux-x86-64.so.2 $out/lib/
    for tool in nix nix-store nix-build nix-env nix-instantiate nix-collect-garbage; do
      printf '#!%s\nexec %s/lib/ld-linux-x86-64.so.2 --library-path %s/lib --argv0 %s %s/libexec/nix "$@"\n' \
        ${sh} $out $out $tool $out > $out/bin/$tool
      chmod 0555 $out/bin/$tool
    done
  '';

  sqlite = if builtins.pathExists ./sqlite3 then runCommand "sqlite-3-host" { } ''
    mkdir -p $out/bin
    cp ${./sqlite3} $out/bin/sqlite3
    chmod 0555 $out/bin/sqlite3
  '' else null;
in
{
  inherit busybox bash coreutils hello nginx readline nix sqlite runCommand writeText
    writeTextDir writeScript writeScriptBin writeShellApplication buildEnv;
  bashInteractive = mkBash "bash-interactive-5.2p26";
  lib = {
    version = "offline";
    toInt = text: builtins.fromJSON text;
  };
  dockerTools = {
    # /etc/passwd and /etc/group with root and nobody, as dockerTools.fakeNss.
    fakeNss = runCommand "fake-nss" { } ''
      mkdir -p $out/etc $out/var/empty
      printf 'root:x:0:0:root user:/var/empty:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\n' > $out/etc/passwd
      printf 'root:x:0:\nnobody:x:65534:\n' > $out/etc/group
    '';
  };
}

# The packages and helpers nixpkgs' dockerTools examples use, offline: everything is
# built by the static busybox of the offline builder image (scripts/offline-nix-image.sh),
# so nothing is downloaded. Stand-ins keep what the examples and nixpkgs' docker-tools
# test rely on (program names, `--version`, files, links, directory symlinks) and
# nothing more; helpers (buildEnv, writeTextDir, runCommand, overrideAttrs) behave as
# nixpkgs' do where an example can see the difference.
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

  # The shape of stdenv.mkDerivation the examples rely on: attributes (or a function of
  # the final ones) with a `buildCommand`, `meta`, and overrideAttrs taking
  # `prevAttrs: …` or `finalAttrs: prevAttrs: …`, as nixpkgs' does.
  mkDerivation = attrsOrFunction:
    let
      toFunction = f: if builtins.isFunction f then f else (_: f);
      make = fn:
        let
          finalAttrs = fn finalAttrs;
          drv = runCommand finalAttrs.name
            (removeAttrs finalAttrs [ "name" "meta" "buildCommand" ])
            finalAttrs.buildCommand;
        in
        drv // {
          meta = finalAttrs.meta or { };
          overrideAttrs = g: make (final:
            let
              prev = fn final;
              applied = g prev;
            in
            prev // (if builtins.isFunction applied then g final prev else applied));
        };
    in
    make (toFunction attrsOrFunction);

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
  symlinkJoin = { name, paths }: buildEnv { inherit name paths; };

  # A program that runs `text` in busybox's sh, its applets first on PATH.
  program = name: text: writeScriptBin name "#!${sh}\nPATH=${busybox}/bin:$PATH\n${text}";

  # GNU bash stands in as busybox's ash; `bash --version` answers as bash would.
  mkBash = name: runCommand name { } ''
    mkdir -p $out/bin
    cat > $out/bin/bash <<'EOF'
    #!${sh}
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
    for tool in '[' basename cat chmod chown cp cut date dirname echo env false head id ln ls \
        mkdir mktemp mv printf pwd readlink rm rmdir sleep sort stat tail tee test touch tr \
        true uname wc whoami; do
      ln -s ${busybox}/bin/busybox "$out/bin/$tool"
    done
  '';

  hello = mkDerivation (finalAttrs: {
    name = "hello-2.12.1";
    configureFlags = [ ];
    meta.mainProgram = "hello";
    # autoconf's --program-prefix renames the program, as the real hello's configure does.
    buildCommand = ''
      prefix=
      for flag in $configureFlags; do
        case "$flag" in --program-prefix=*) prefix=''${flag#--program-prefix=} ;; esac
      done
      mkdir -p $out/bin
      printf '#!%s\necho "Hello, world!"\n' ${sh} > "$out/bin/''${prefix}hello"
      chmod 0555 "$out/bin/''${prefix}hello"
    '';
  });

  # redis: where it runs and whether it may write there; redis-cli knows its version.
  redis = buildEnv {
    name = "redis-7.2.4";
    paths = [
      (program "redis-server" ''
        echo "redis stand-in: cwd=$(pwd) uid=$(id -u)"
        if echo probe > ./.probe 2>/dev/null; then echo "data dir writable"; rm ./.probe; fi
      '')
      (program "redis-cli" ''echo "redis-cli 7.2.4 (stand-in)"'')
    ];
  };

  # nginx: serves the `root` of its -c configuration on its `listen` port (busybox httpd),
  # and fails as nginx does without the user it names or the directories it writes to.
  nginx = program "nginx" ''
    conf=/etc/nginx/nginx.conf
    while [ $# -gt 0 ]; do case "$1" in -c) conf=$2; shift 2 ;; *) shift ;; esac; done
    user=$(sed -n 's/^ *user \([^ ;]*\).*/\1/p' "$conf")
    port=$(sed -n 's/^ *listen \([0-9]*\);.*/\1/p' "$conf")
    root=$(sed -n 's/^ *root \([^;]*\);.*/\1/p' "$conf")
    if ! grep -q "^$user:" /etc/passwd 2>/dev/null; then
      echo "nginx: [emerg] getpwnam(\"$user\") failed" >&2; exit 1
    fi
    for dir in /tmp/nginx_client_body /var/log/nginx; do
      if [ ! -d "$dir" ]; then echo "nginx: [emerg] mkdir() \"$dir\" failed" >&2; exit 1; fi
    done
    echo "nginx stand-in: serving $root on port $port"
    exec httpd -f -v -p "$port" -h "$root"
  '';

  editor = name: program name ''echo "${name} (stand-in)"'';

  cacert = writeTextDir "etc/ssl/certs/ca-bundle.crt" ''
    -----BEGIN CERTIFICATE-----
    (stand-in bundle)
    -----END CERTIFICATE-----
  '';

  dockerTools = {
    # /etc/passwd and /etc/group with root and nobody, as dockerTools.fakeNss.
    fakeNss = runCommand "fake-nss" { } ''
      mkdir -p $out/etc $out/var/empty
      printf 'root:x:0:0:root user:/var/empty:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\n' > $out/etc/passwd
      printf 'root:x:0:\nnobody:x:65534:\n' > $out/etc/group
      printf 'hosts: files dns\n' > $out/etc/nsswitch.conf
    '';
    # The CA bundle at the three places programs look for it, as dockerTools.caCertificates.
    caCertificates = runCommand "ca-certificates" { } ''
      mkdir -p $out/etc/ssl/certs $out/etc/pki/tls/certs
      ln -s ${cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/ssl/certs/ca-bundle.crt
      ln -s ${cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/ssl/certs/ca-certificates.crt
      ln -s ${cacert}/etc/ssl/certs/ca-bundle.crt $out/etc/pki/tls/certs/ca-bundle.crt
    '';
  };

  # NixOS's module evaluation, cut down to what the `etc` example asks of it: the
  # activation script that links each environment.etc file as /etc/NAME -> /etc/static/NAME
  # -> the store, as NixOS's setup-etc does.
  nixosLib.evalModules = { modules }:
    let
      files = builtins.foldl' (acc: module: acc // ((module { config = { }; }).environment.etc or { }))
        { } modules;
      names = builtins.attrNames files;
      etc = runCommand "etc" { } (builtins.concatStringsSep "\n" ([ "mkdir -p $out" ]
        ++ map (name: "cp ${writeText "etc-${name}" files.${name}.text} $out/${name}") names));
    in
    {
      config.system.build.etcActivationCommands = ''
        ln -sfn ${etc} /etc/static
        ${builtins.concatStringsSep "\n" (map (name: "ln -sfn /etc/static/${name} /etc/${name}") names)}
      '';
    };
in
{
  inherit busybox bash coreutils hello redis nginx runCommand writeText writeTextDir
    writeScript writeScriptBin buildEnv symlinkJoin dockerTools nixosLib;
  lib = { version = "offline"; };
  bashInteractive = mkBash "bash-interactive-5.2p26";
  runtimeShell = "${bash}/bin/bash";
  pkgsStatic = { inherit busybox; };
  emacs = editor "emacs";
  vim = editor "vim";
  nano = editor "nano";
  # The nixpkgs module that sets `pkgs` in a NixOS evaluation: nothing to set here.
  pkgsModule = { };
}

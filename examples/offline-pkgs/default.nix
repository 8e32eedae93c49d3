# An offline package set for nixdf's tests and quick start: every package is
# built by the static busybox of the offline builder image (scripts/
# offline-nix-image.sh), so nothing is downloaded. Use it with
# `nixdf build --nixpkgs examples/offline-pkgs …`; real Nixfiles use nixpkgs.
# It takes nixpkgs' `system` and `overlays` (each `final: prev: { … }`), so that a flake
# (flake.nix beside it) can `import nixpkgs { inherit system; overlays = [ … ]; }`.
{ greeting ? "Hello from nixdf", system ? builtins.currentSystem, overlays ? [ ], ... }:
let

  # The builder image's /bin/busybox and its `sh` link, copied into the store.
  bootstrap = builtins.path {
    path = /bin;
    name = "busybox-bootstrap";
    filter = path: type: builtins.elem (baseNameOf path) [ "busybox" "sh" ];
  };

  busybox = derivation {
    name = "busybox-static";
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

  mkPackage = name: script: derivation {
    inherit name system;
    builder = "${busybox}/bin/sh";
    args = [ "-c" "set -e\n${script}" ];
    PATH = "${busybox}/bin";
  };

  # `text` becomes an executable script run by the set's busybox shell.
  writeScriptBin = name: text: mkPackage name ''
    mkdir -p $out/bin
    cat > $out/bin/${name} <<'NIXDF_EOF'
    #!${busybox}/bin/sh
    ${text}
    NIXDF_EOF
    chmod 0555 $out/bin/${name}
  '';
  base = rec {
  inherit busybox writeScriptBin;
  # As nixpkgs' callPackage: a function's (or file's) arguments from the final set.
  callPackage = fn: args:
    let f = if builtins.isFunction fn then fn else import fn;
    in f (builtins.intersectAttrs (builtins.functionArgs f) final // args);
  # The part of nixpkgs' lib that flakes use to list systems and name programs.
  lib = rec {
    version = "offline";
    genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
    mapAttrs = builtins.mapAttrs;
    attrNames = builtins.attrNames;
    attrValues = builtins.attrValues;
    nameValuePair = name: value: { inherit name value; };
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalAttrs = cond: set: if cond then set else { };
    optionalString = cond: s: if cond then s else "";
    concatStringsSep = builtins.concatStringsSep;
    concatMapStringsSep = sep: f: list: builtins.concatStringsSep sep (map f list);
    makeBinPath = paths: concatMapStringsSep ":" (p: "${p}/bin") paths;
    getExe = p: "${p}/bin/${p.meta.mainProgram or (builtins.parseDrvName p.name).name}";
    systems.flakeExposed = [ "x86_64-linux" "aarch64-linux" ];
  };

  # Shell scripts and trees of links, as nixpkgs' trivial builders make them.
  writeShellScriptBin = writeScriptBin;
  runCommand = name: env: script: mkPackage name script;
  symlinkJoin = { name, paths, ... }: mkPackage name ''
    mkdir -p $out
    for p in ${builtins.concatStringsSep " " (map toString paths)}; do
      (cd $p && find . -type d) | while read -r d; do mkdir -p "$out/$d"; done
      (cd $p && find . ! -type d) | while read -r f; do
        [ -e "$out/$f" ] || [ -L "$out/$f" ] || ln -s "$p/''${f#./}" "$out/$f"
      done
    done
  '';
  buildEnv = args: symlinkJoin args;

  # dockerTools' helpers that go in an image's contents (nixdf's builders do not replace
  # them): a passwd/group with root and nobody, /bin/sh, /usr/bin/env, a certificate bundle.
  dockerTools = {
    fakeNss = mkPackage "fake-nss" ''
      mkdir -p $out/etc
      printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\n' > $out/etc/passwd
      printf 'root:x:0:\nnobody:x:65534:\n' > $out/etc/group
    '';
    binSh = mkPackage "bin-sh" "mkdir -p $out/bin; ln -s ${busybox}/bin/sh $out/bin/sh";
    usrBinEnv = mkPackage "usr-bin-env" "mkdir -p $out/usr/bin; ln -s ${busybox}/bin/env $out/usr/bin/env";
    caCertificates = mkPackage "ca-certificates" ''
      mkdir -p $out/etc/ssl/certs
      echo "# offline: no certificates" > $out/etc/ssl/certs/ca-bundle.crt
    '';
  };

  greetings = mkPackage "greetings-1.0" ''
    mkdir -p $out/share/greetings
    echo '${greeting}' > $out/share/greetings/default.txt
  '';

  hello = writeScriptBin "hello" ''
    exec ${busybox}/bin/cat ${greetings}/share/greetings/default.txt
  '';

  # Stands in for redis: a server that says where it runs and whether it may write there.
  redis = writeScriptBin "redis-server" ''
    echo "redis stand-in: cwd=$(${busybox}/bin/pwd) uid=$(${busybox}/bin/id -u)"
    if echo probe > ./.probe 2>/dev/null; then echo "data dir writable"; ${busybox}/bin/rm ./.probe; fi
  '';

  # A buildEnv-like tree: top-level `bin` is a symlink to a directory, as dockerTools
  # buildImage's copyToRoot follows (rsync -k) unless keepContentsDirlinks is set.
  helloEnv = mkPackage "hello-env" ''
    mkdir -p $out
    ln -s ${hello}/bin $out/bin
  '';
};
  # The overlays in order, each seeing the final set and the one before it.
  final = builtins.foldl' (prev: overlay: prev // overlay final prev) base overlays;
in
final

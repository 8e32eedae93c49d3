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
  lib = { version = "offline"; };

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

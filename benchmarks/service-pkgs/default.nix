# An offline package set shaped like a real service, for benchmarks/service.py: 29 store paths,
# about 150 MB, built by the offline builder image's static busybox (as
# examples/offline-pkgs does), so nothing is downloaded.
#
#   busybox                     the shell every package is built with
#   runtime, data-a, data-b     large leaves: 35 MB of deterministic pseudo-random bytes each;
#                               only the app refers to data-b  (dataVersion changes it)
#   libcore                     small; every library refers to it  (libVersion changes it)
#   lib01 .. lib22              2 MB each; refer to libcore, some to the previous library or runtime
#   app-config                  small top-level path only the app refers to  (leafVersion)
#   app                         refers to all of the above; bin/app prints a summary
#
# A package refers to another by writing its store path into a file, so Nix records the
# reference. The bytes come from busybox awk's srand(seed), so rebuilds are reproducible.
{ leafVersion ? "1", dataVersion ? "1", libVersion ? "1" }:
let
  system = builtins.currentSystem;

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

  # FILE gets COUNT copies of a BLOCK-KiB pseudo-random block made from SEED, each copy
  # preceded by its number (so the copies are not aligned repeats).
  random = file: seed: blockKiB: count: ''
    awk -v s=${toString seed} -v n=${toString (blockKiB * 256)} 'BEGIN { srand(s);
      for (i = 0; i < n; i++) printf "%c%c%c%c", 1 + int(rand() * 255), 1 + int(rand() * 255),
        1 + int(rand() * 255), 1 + int(rand() * 255) }' > block
    for i in $(seq 1 ${toString count}); do echo "chunk $i"; cat block; done > ${file}
    rm block
  '';

  refs = deps: builtins.concatStringsSep "\n" (map toString deps);

  bigLeaf = name: seed: mkPackage name ''
    mkdir -p $out/share/${name}
    cd $out/share/${name}
    ${random "blob.bin" seed 1024 35}
  '';

  libcore = mkPackage "libcore-${libVersion}" ''
    mkdir -p $out/lib $out/nix-support
    echo 'libcore version ${libVersion}' > $out/lib/VERSION
    cd $out/lib
    ${random "libcore.so" 1000 64 8}
    echo ${busybox} > $out/nix-support/references
  '';

  mkLib = i: prev:
    let
      name = "lib${if i < 10 then "0" else ""}${toString i}";
      deps = [ libcore ] ++ (if prev == null then [ ] else [ prev ])
        ++ (if i - (i / 4) * 4 == 0 then [ runtime ] else [ ]);
    in mkPackage "${name}-2.${toString i}" ''
      mkdir -p $out/lib $out/nix-support
      cd $out/lib
      ${random "${name}.so" (100 + i) 64 32}
      cat > $out/nix-support/references <<'NIXDF_EOF'
      ${refs deps}
      NIXDF_EOF
    '';

  # lib01 .. lib22; every third starts a new chain, so the DAG is several chains deep.
  libs = builtins.foldl' (acc: i:
    acc ++ [ (mkLib i (if i - (i / 3) * 3 == 1 then null else builtins.elemAt acc (i - 2))) ])
    [ ] (builtins.genList (i: i + 1) 22);

  runtime = bigLeaf "runtime-3.1" 1;
  data-a = bigLeaf "data-a-2024" 2;
  data-b = bigLeaf "data-b-${dataVersion}" "3${dataVersion}";

  config = mkPackage "app-config-${leafVersion}" ''
    mkdir -p $out/etc
    echo 'config version ${leafVersion}' > $out/etc/app.conf
  '';

  app = mkPackage "app-1.0" ''
    mkdir -p $out/bin $out/nix-support
    cat > $out/nix-support/references <<'NIXDF_EOF'
    ${refs ([ runtime data-a data-b config ] ++ libs)}
    NIXDF_EOF
    cat > $out/bin/app <<'NIXDF_EOF'
    #!${busybox}/bin/sh
    echo "app 1.0: $(${busybox}/bin/cat ${config}/etc/app.conf), $(${busybox}/bin/cat ${libcore}/lib/VERSION), ${toString (builtins.length libs)} libraries"
    NIXDF_EOF
    chmod 0555 $out/bin/app
  '';
in
{
  inherit busybox libcore runtime data-a data-b config app;
  lib = { version = "offline"; };
  # What the Nixfile puts at the image root: bin/app, as symlinkJoin would make it.
  appEnv = mkPackage "app-env" ''
    mkdir -p $out/bin
    ln -s ${app}/bin/app $out/bin/app
  '';
}

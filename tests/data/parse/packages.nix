# syntax=nixdf/v1
# A package-set shaped file: the kind of Nix nixdf has to read.
{ pkgs ? import <nixpkgs> { }
, lib ? pkgs.lib
, version ? "1.2.3"
, ...
}@args:

let
  inherit (lib) optional optionals concatStringsSep;
  inherit (builtins) map filter;
  src = ./src;
  name = "demo-${version}";
  flags = [ "-O2" "-Wall" ] ++ optional (args ? debug) "-g";
  /* a block comment
     over two lines */
  meta = {
    description = "A demo";
    homepage = https://example.org/demo?x=1;
    license.spdx = "MIT";
    license.free = true;
    maintainers = with lib.maintainers; [ alice bob ];
  };
in
rec {
  inherit name src meta;
  drv = pkgs.stdenv.mkDerivation {
    pname = "demo";
    inherit version src;
    buildInputs = with pkgs; [ zlib openssl ] ++ lib.optionals pkgs.stdenv.isLinux [ pkgs.systemd ];
    buildPhase = ''
      cc ${concatStringsSep " " flags} -o demo main.c
      echo "built ''${name}"
    '';
    installPhase = ''
      mkdir -p $out/bin
      cp demo $out/bin/
    '';
    doCheck = !(args.skipChecks or false) && version != "0";
    passthru.tests = { simple = drv; };
  };
  shell = pkgs.mkShell { inputsFrom = [ drv ]; packages = [ pkgs.gdb ]; };
  sum = a: b: a + b * 2 - 1 / 4;
  cmp = x: y: x < y || x >= y && !(x == y) -> x != y;
  nested = { a.b.c = 1; a.b.d = "x${toString 2}y"; "quoted key" = null; ${name} = 1; };
  paths = [ ./a/b ../c /abs/path ~/home/file <nixpkgs/lib> ./dir/${name}/x ];
  numbers = [ 1 2.5 .5 0.25 123456789 ];
  selected = pkgs.lib.attrByPath [ "a" "b" ] null nested;
  hasIt = nested ? a.b.c;
  legacy = let { x = 1; body = x; };
  assertion = assert version != ""; version;
  ifs = if meta ? license then meta.license.spdx else "unknown";
  update = meta // { description = "changed"; } // { extra = 1; };
}

# The offline package set as a flake, shaped as nixpkgs' is: legacyPackages per system, lib,
# and (default.nix) `import nixpkgs { inherit system; overlays; }`. Tests pass it as
# `--nixpkgs examples/offline-pkgs`, which replaces a flake's input named nixpkgs.
{
  description = "nixdf's offline package set";
  outputs = { self }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
    in
    {
      legacyPackages = forAll (system: import ./. { inherit system; });
      lib = (import ./. { }).lib;
    };
}

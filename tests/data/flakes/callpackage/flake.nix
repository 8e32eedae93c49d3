{
  description = "pkgs.callPackage ./image.nix { } under flake-utils eachDefaultSystem";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
  inputs.flake-utils.url = "github:numtide/flake-utils";
  outputs = { self, nixpkgs, flake-utils }:
    flake-utils.lib.eachDefaultSystem (system:
      let pkgs = nixpkgs.legacyPackages.${system}; in
      {
        packages.docker = pkgs.callPackage ./image.nix { };
        packages.viaPkgs = pkgs.callPackage ./image-pkgs.nix { };
      });
}

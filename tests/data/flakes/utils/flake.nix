{
  description = "flake-utils eachDefaultSystem, fakeNss from the real dockerTools";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
  inputs.flake-utils.url = "github:numtide/flake-utils";
  outputs = { self, nixpkgs, flake-utils }:
    flake-utils.lib.eachDefaultSystem (system:
      let pkgs = nixpkgs.legacyPackages.${system}; in
      {
        packages.docker = pkgs.dockerTools.buildImage {
          name = "h-flakes-utils";
          copyToRoot = [ pkgs.busybox pkgs.hello ];
          config = { Cmd = [ "/bin/hello" ]; WorkingDir = "/srv"; };
        };
      });
}

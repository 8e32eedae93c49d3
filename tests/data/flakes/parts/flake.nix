{
  description = "flake-parts perSystem, an image of config.packages.app";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
  inputs.flake-parts.url = "github:hercules-ci/flake-parts";
  outputs = inputs@{ flake-parts, ... }:
    flake-parts.lib.mkFlake { inherit inputs; } {
      systems = [ "x86_64-linux" "aarch64-linux" ];
      perSystem = { pkgs, config, ... }: {
        packages.app = pkgs.hello;
        packages.docker = pkgs.dockerTools.streamLayeredImage {
          name = "h-flakes-parts";
          contents = [ config.packages.app ];
          config.Cmd = [ "${config.packages.app}/bin/hello" ];
        };
      };
    };
}

{
  description = "nix2container as an input: nixdf's own, never fetched";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
  inputs.nix2container.url = "github:nlewo/nix2container";
  outputs = { self, nixpkgs, nix2container }:
    let
      pkgs = nixpkgs.legacyPackages.x86_64-linux;
      n2c = nix2container.packages.x86_64-linux.nix2container;
    in
    {
      packages.x86_64-linux.hello = n2c.buildImage {
        name = "h-flakes-n2c";
        copyToRoot = [ pkgs.hello ];
        config.Entrypoint = [ "/bin/hello" ];
      };
    };
}

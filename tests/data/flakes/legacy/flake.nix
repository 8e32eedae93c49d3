{
  description = "One system, nixpkgs.legacyPackages, buildImage with a store path in its config";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
  outputs = { self, nixpkgs }:
    let
      pkgs = nixpkgs.legacyPackages.x86_64-linux;
    in
    {
      packages.x86_64-linux.hello = pkgs.dockerTools.buildImage {
        name = "h-flakes-legacy";
        tag = "v1";
        copyToRoot = [ pkgs.busybox ];
        config = {
          Cmd = [ "${pkgs.hello}/bin/hello" ];
          Env = [ "GREETER=${pkgs.hello.name}" ];
        };
      };
      packages.x86_64-linux.images.api = pkgs.dockerTools.buildLayeredImage {
        name = "h-flakes-api";
        contents = [ pkgs.hello ];
        config.Entrypoint = [ "/bin/hello" ];
      };
    };
}

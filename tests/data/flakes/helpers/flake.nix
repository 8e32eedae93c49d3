{
  description = "lib.genAttrs over systems, dockerTools helpers in contents, buildEnv, created";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
  outputs = { self, nixpkgs }:
    let
      forAllSystems = nixpkgs.lib.genAttrs [ "x86_64-linux" "aarch64-linux" ];
    in
    {
      packages = forAllSystems (system:
        let pkgs = nixpkgs.legacyPackages.${system}; in
        {
          default = pkgs.dockerTools.buildLayeredImage {
            name = "h-flakes-helpers";
            created = "now";
            contents = [
              (pkgs.buildEnv { name = "root"; paths = [ pkgs.hello ]; })
              pkgs.dockerTools.fakeNss
              pkgs.dockerTools.binSh
              pkgs.dockerTools.usrBinEnv
            ];
            config = {
              Entrypoint = [ "/bin/sh" "-c" ];
              Cmd = [ "hello; /usr/bin/env true && grep nobody /etc/passwd" ];
              Env = [ "PATH=/bin:${pkgs.lib.makeBinPath [ pkgs.busybox ]}" ];
              User = "nobody";
            };
          };
        });
    };
}

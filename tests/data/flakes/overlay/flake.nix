{
  description = "import nixpkgs { inherit system; overlays; }, and a self.packages reference";
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs {
        inherit system;
        overlays = [ (final: prev: { greeter = prev.writeScriptBin "greeter" "echo overlaid"; }) ];
      };
    in
    {
      packages.${system} = {
        app = pkgs.greeter;
        default = pkgs.dockerTools.streamLayeredImage {
          name = "h-flakes-overlay";
          tag = "latest";
          contents = [ self.packages.${system}.app ];
          config.Cmd = [ "/bin/greeter" ];
        };
      };
    };
}

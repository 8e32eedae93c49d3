{ pkgs }:
pkgs.dockerTools.buildImage {
  name = "h-flakes-callpackage-pkgs";
  copyToRoot = [ pkgs.hello ];
  config.Cmd = [ "/bin/hello" ];
}

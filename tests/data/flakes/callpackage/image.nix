{ dockerTools, hello, busybox }:
dockerTools.buildLayeredImage {
  name = "h-flakes-callpackage";
  contents = [ hello busybox ];
  config.Cmd = [ "/bin/hello" ];
}

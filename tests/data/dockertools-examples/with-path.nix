# examples.build-image-with-path and examples.layered-image-with-path (nixpkgs'
# pkgs/build-support/docker/examples.nix): a local path among the contents. nixdf refuses
# it, with its place, for now: see tests/test_dockertools_examples.py.
{ pkgs, buildImage }:

{
  # examples.build-image-with-path
  build-image-with-path = buildImage {
    name = "build-image-with-path";
    tag = "latest";
    # Not recommended. Use `buildEnv` between copy and packages to avoid file duplication.
    copyToRoot = [
      pkgs.bashInteractive
      ./test-dummy
    ];
  };

  # examples.layered-image-with-path
  layered-image-with-path = pkgs.dockerTools.streamLayeredImage {
    name = "layered-image-with-path";
    tag = "latest";
    contents = [
      pkgs.bashInteractive
      ./test-dummy
    ];
  };
}

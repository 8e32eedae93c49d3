# examples.nixFromDockerHub and examples.onTopOfPulledImage (nixpkgs'
# pkgs/build-support/docker/examples.nix): a base pulled from Docker Hub by digest. nixdf
# renders it as `FROM nixos/nix@sha256:…`; building it needs the registry, which the tests
# cannot reach (see tests/test_dockertools_examples.py).
{ pkgs, buildImage, pullImage }:

rec {
  # examples.nixFromDockerHub: 4. example of pulling an image. could be used as a base for
  # other images
  nixFromDockerHub = pullImage {
    imageName = "nixos/nix";
    imageDigest = "sha256:85299d86263a3059cf19f419f9d286cc9f06d3c13146a8ebbb21b3437f598357";
    sha256 = "19fw0n3wmddahzr20mhdqv6jkjn1kanh6n2mrr08ai53dr8ph5n7";
    finalImageTag = "2.2.1";
    finalImageName = "nix";
  };

  # examples.onTopOfPulledImage: 7. example of adding something on top of an image pull by
  # our dockerTools chain.
  onTopOfPulledImage = buildImage {
    name = "onTopOfPulledImage";
    tag = "latest";
    fromImage = nixFromDockerHub;
    copyToRoot = pkgs.buildEnv {
      name = "image-root";
      pathsToLink = [ "/bin" ];
      paths = [ pkgs.hello ];
    };
  };
}

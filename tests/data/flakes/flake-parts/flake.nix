# A stand-in for hercules-ci/flake-parts (tests pass it with --override-input flake-parts):
# mkFlake { inherit inputs; } { systems; perSystem; flake; }, perSystem getting pkgs (the
# nixpkgs input imported for the system), system, self', inputs' and config (its own result).
{
  outputs = { self }: {
    lib.mkFlake = { inputs, ... }: module:
      let
        m = if builtins.isFunction module then module { inherit inputs; } else module;
        perSystemOf = system:
          let
            config = m.perSystem {
              inherit system config;
              pkgs = import inputs.nixpkgs { inherit system; };
              self' = builtins.mapAttrs (name: value: value.${system} or { }) inputs.self;
              inputs' = builtins.mapAttrs (name: input: builtins.mapAttrs (n: v: v.${system} or v) input) inputs;
            };
          in config;
        forSystems = attr: builtins.listToAttrs (map (system: { name = system; value = (perSystemOf system).${attr} or { }; }) m.systems);
      in
      (m.flake or { }) // { packages = forSystems "packages"; };
  };
}

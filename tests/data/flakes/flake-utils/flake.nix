# A stand-in for numtide/flake-utils (tests pass it with --override-input flake-utils):
# eachSystem and eachDefaultSystem, as flake-utils defines them.
{
  outputs = { self }:
    let
      defaultSystems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      eachSystem = systems: f: builtins.foldl'
        (merged: system:
          let out = f system; in
          merged // builtins.mapAttrs (name: value: (merged.${name} or { }) // { ${system} = value; }) out)
        { }
        systems;
    in
    { lib = { inherit eachSystem defaultSystems; eachDefaultSystem = eachSystem defaultSystems; }; };
}

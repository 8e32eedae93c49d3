# nixdf's Nix side for a flake in place of a Nixfile (nixdf.flake); lib.nix imports it. nixdf
# writes it, unchanged, beside each Dockerfile (as .nixdf/flake-outputs.nix).
#
# The flake is evaluated as flake-compat does: its flake.nix, and each input's, imported with
# nixdf's `import` (so `import nixpkgs { … }`, there or in flake-parts, gets nixdf's builders),
# `outputs` called with the inputs that flake.lock locks (fetched with fetchTree), except those
# replaced (--nixpkgs, --override-input), and any input's legacyPackages given nixdf's
# builders. An input named nix2container (or locking nlewo/nix2container) is nixdf's own and is
# never fetched.
{
  own,
  withBuilders,
  nix2container,
  nixpkgsSource,
  # The settings, as JSON: { system; file (the flake.nix); overrides = { NAME = "nixpkgs" (the
  # package set), "/a/path" or "URL#sha256=HASH"; }; attr (the attribute wanted, or null);
  # images = { KEY = [ attribute path ]; } (the images found) }.
  flake,
}:
let
  settings = builtins.fromJSON flake;
  flakeSystem = settings.system;
  flakeFile = /. + settings.file;
  flakeDir = dirOf flakeFile;
  source = spec:
    if spec == "nixpkgs" then nixpkgsSource
    else if builtins.substring 0 1 spec == "/" then /. + spec
    else
      let parts = builtins.split "#sha256=" spec;
      in builtins.fetchTarball { url = builtins.head parts; sha256 = builtins.elemAt parts 2; };
  flakeOverrides = builtins.mapAttrs (name: source) settings.overrides;
  flakeLock =
    if builtins.pathExists (flakeDir + "/flake.lock") then builtins.fromJSON (builtins.readFile (flakeDir + "/flake.lock"))
    else { root = "root"; nodes = { root = { }; }; };
  rootNode = flakeLock.nodes.${flakeLock.root};
  n2cStandIn = {
    outPath = "/nixdf/nix2container";
    packages = builtins.listToAttrs (map (system: { name = system; value = { inherit nix2container; }; }) [
      "x86_64-linux" "aarch64-linux" "i686-linux" "armv7l-linux" "riscv64-linux" "powerpc64le-linux"
      "s390x-linux" "x86_64-darwin" "aarch64-darwin"
    ]);
  };
  withFlakeBuilders = result: result
    // (if result ? legacyPackages then { legacyPackages = builtins.mapAttrs (system: withBuilders) result.legacyPackages; } else { });
  callFlake = src: flake: inputs:
    let
      outputs = flake.outputs (inputs // { self = result; });
      result = { lastModified = 0; lastModifiedDate = "19700101000000"; } // outputs
        // { outPath = src; inherit inputs outputs; sourceInfo = { outPath = src; }; _type = "flake"; };
    in withFlakeBuilders result;
  inputsOf = flake: resolve: builtins.listToAttrs (map (name: { inherit name; value = resolve name; })
    (builtins.attrNames ((flake.inputs or { }) // builtins.removeAttrs (builtins.functionArgs flake.outputs) [ "self" ])));
  fetchLocked = node: if node.locked.type == "path" then node.locked.path else (builtins.fetchTree node.locked).outPath;
  nodeInput = key:
    let node = flakeLock.nodes.${key}; src = fetchLocked node;
    in if (node.original.repo or "") == "nix2container" then n2cStandIn
      else if node.flake or true then
        callFlake src (builtins.scopedImport own (src + "/flake.nix")) (builtins.mapAttrs (name: ref: resolveRef ref) (node.inputs or { }))
      else { outPath = src; };
  follow = input: names: if names == [ ] then input else follow input.inputs.${builtins.head names} (builtins.tail names);
  resolveRef = ref: if builtins.isList ref then follow (rootInput (builtins.head ref)) (builtins.tail ref) else nodeInput ref;
  declared = rootFlake.inputs or { };
  overrideInput = name: src:
    let file = toString src + "/flake.nix";
    in if (declared.${name}.flake or true) && builtins.pathExists file then
        (let flake = builtins.scopedImport own file; in callFlake src flake (inputsOf flake rootInput))
      else { outPath = src; };
  rootInput = name:
    if flakeOverrides ? ${name} then overrideInput name flakeOverrides.${name}
    else if name == "nix2container" then n2cStandIn
    else if rootNode.inputs or { } ? ${name} then resolveRef rootNode.inputs.${name}
    else throw "nixdf: the flake input ${name} is not in flake.lock: pass --override-input ${name} DIR (--nixpkgs DIR for nixpkgs)";
  rootFlake = builtins.scopedImport own flakeFile;
  flakeOutputs = (callFlake flakeDir rootFlake (inputsOf rootFlake rootInput)).outputs;

  maybeAt = set: path:
    if path == [ ] then set
    else if builtins.isAttrs set && set ? ${builtins.head path} then maybeAt set.${builtins.head path} (builtins.tail path)
    else null;
  getPath = maybeAt flakeOutputs;
  isImage = value: builtins.isAttrs value && value ? __nixdfBuilder;
  isPackage = value: builtins.isAttrs value && (value.type or "" == "derivation" || value ? outPath);
  collect = prefix: value:
    let tried = builtins.tryEval value;
    in if !tried.success then [ ]
      else if isImage tried.value then [ prefix ]
      else if builtins.isAttrs tried.value && !isPackage tried.value then
        builtins.concatLists (map (name: collect (prefix ++ [ name ]) tried.value.${name}) (builtins.attrNames tried.value))
      else [ ];
  dotted = builtins.concatStringsSep ".";
  packagesPath = [ "packages" flakeSystem ];
  everyImage = let set = getPath packagesPath; in if set == null then [ ] else collect packagesPath set;
  imageList = if everyImage == [ ] then "none" else builtins.concatStringsSep ", " (map dotted everyImage);
  wanted = settings.attr or null;
  parts = if wanted == null then [ ] else builtins.filter builtins.isString (builtins.split "[.]" wanted);
  hits = builtins.filter (path: getPath path != null) [ (packagesPath ++ parts) ([ "legacyPackages" flakeSystem ] ++ parts) parts ];
  discovered =
    if wanted == null then
      (if everyImage == [ ] then throw "nixdf: this flake has no image among packages.${flakeSystem} (an image is what dockerTools or nix2container builds)" else everyImage)
    else if hits == [ ] then
      throw "nixdf: the flake has no attribute ${wanted} (nor packages.${flakeSystem}.${wanted}, legacyPackages.${flakeSystem}.${wanted}); its images: ${imageList}"
    else if isImage (getPath (builtins.head hits)) then [ (builtins.head hits) ]
    else throw "nixdf: ${dotted (builtins.head hits)} is not an image built with dockerTools or nix2container; the images of packages.${flakeSystem}: ${imageList}";
  opaque = { __nixdf = "opaque"; };
  plain = value:
    if isImage value then { __nixdf = "call"; builder = value.__nixdfBuilder; args = builtins.mapAttrs (name: plain) (builtins.removeAttrs value [ "__nixdfBuilder" ]); }
    else if builtins.isAttrs value then (if isPackage value then opaque else builtins.mapAttrs (name: plain) value)
    else if builtins.isList value then map plain value
    else if builtins.isFunction value || builtins.isPath value then opaque
    else if builtins.isString value then builtins.unsafeDiscardStringContext value
    else value;
  attrAt = set: path: if path == [ ] then set else attrAt (builtins.getAttr (builtins.head path) set) (builtins.tail path);
in
{
  # The images found, at the keys nixdf gave them.
  top = builtins.mapAttrs (key: attrAt flakeOutputs) (settings.images or { });

  # The images of the flake: for the attribute wanted (packages.<system>.ATTR, then
  # legacyPackages.<system>.ATTR, then ATTR as a full path), or else every image among
  # packages.<system>, nested sets included; each with its attribute path, the builder and
  # arguments that made it (derivations and functions opaque: nixdf.flake writes a Nixfile of
  # them), and the values the Dockerfile needs, as the lock takes them (`values`, lib.nix's).
  discover = values: map (path: let found = getPath path; in { inherit path; image = plain found; values = values found; }) discovered;
}

# nixdf's Nix side. nixdf writes this file, unchanged, beside each Dockerfile it renders (as
# .nixdf/lib.nix); the Dockerfile's build steps mount it at /nixdf/lib and ask it for one
# attribute each:
#
#   nix-build /nixdf/lib/lib.nix -A contents --argstr image redis
#
# It evaluates the Nixfile (or flake) the build context holds at /nixdf/src with nixdf's `pkgs`
# and builders. nixdf's builders return their arguments: the Dockerfile, not Nix, makes the
# image, so only the packages are built here. What comes from the Dockerfile: the package set
# and the flake settings as environment variables of the builder stage, the rest as arguments.
{
  # The package set: a tarball URL (with its sha256) or a directory of the builder.
  nixpkgs ? builtins.getEnv "NIXDF_NIXPKGS",
  sha256 ? builtins.getEnv "NIXDF_NIXPKGS_SHA256",
  # The Nixfile, under /nixdf/src; or, for a flake, its settings as JSON (see `flakeTop`).
  nixfile ? builtins.getEnv "NIXDF_NIXFILE",
  flake ? builtins.getEnv "NIXDF_FLAKE",
  # The image, as an attribute path ("app", "app.fromImage"); "" is the Nixfile itself.
  image ? "",
  # For `extras`: whether the image is nix2container's (n2c) and its explicit layers, as
  # index paths through `layers` (JSON); whether it has a Nix database.
  n2c ? false,
  layers ? "[]",
  nixDb ? false,
  # For `lock`: the images whose values the lock file keeps (JSON list of attribute paths).
  attrs ? "[]",
}:
let
  srcDir = "/nixdf/src";
  isFlake = flake != "";
  nixpkgsSource =
    if builtins.substring 0 1 nixpkgs == "/" then /. + nixpkgs
    else builtins.fetchTarball { url = nixpkgs; inherit sha256; };
  nixpkgsSet = import nixpkgsSource { };

  # nixdf's builders return their arguments, for the Dockerfile to read. A flake's images are
  # found by Nix among its outputs, so there each says which builder made it.
  tagged = name: args: if isFlake then args // { __nixdfBuilder = name; } else args;
  builders = builtins.listToAttrs (map (name: { inherit name; value = tagged name; }) [
    "buildImage" "buildLayeredImage" "streamLayeredImage" "buildImageWithNixDb"
    "buildLayeredImageWithNixDb"
  ]);
  # nixdf's nix2container, the same way (`extras` reads its layers): the real one is never
  # fetched.
  nix2container = {
    buildImage = tagged "nix2container.buildImage";
    buildLayer = tagged "nix2container.buildLayer";
    pullImage = tagged "nix2container.pullImage";
    pullImageFromManifest = args:
      throw "nixdf: nix2container.pullImageFromManifest is not supported yet; use nix2container.pullImage";
  };
  # A package set with nixdf's builders. For a flake, its callPackage passes nixdf's dockerTools
  # (and pkgs) to a function or file that asks for them: nixpkgs' own would pass its own.
  withBuilders = set:
    let
      wrapped = set // { dockerTools = (set.dockerTools or { }) // builders; }
        // (if isFlake && set ? callPackage then { callPackage = callWith set wrapped; } else { });
    in wrapped;
  callWith = set: wrapped: fn: args:
    let
      f = if builtins.isPath fn || builtins.isString fn then builtins.import fn else fn;
      wanted = if builtins.isFunction f then builtins.functionArgs f else { };
    in set.callPackage f
      (builtins.intersectAttrs wanted { inherit (wrapped) dockerTools; pkgs = wrapped; } // args);
  pkgs = withBuilders nixpkgsSet;
  inherit (pkgs) dockerTools;

  # What `import` gives the Nixfile and the files of the context it imports, which get the same
  # `import` and `<nixpkgs>`: the package set nixdf was given (`<nixpkgs>` is it) and any other
  # package set (a set with a dockerTools: a pinned fetchTarball, niv's sources.nixpkgs) have
  # nixdf's builders, as nixdf.evaluate assumes. A function keeps its formal arguments (for
  # callPackage) in a functor.
  imported = path: value:
    let
      given = toString path == toString nixpkgsSource;
      wrap = v: if given || builtins.isAttrs v && v ? dockerTools then withBuilders v else v;
      formals = builtins.functionArgs value;
    in
      if !builtins.isFunction value then wrap value
      else if formals == { } then args: wrap (value args)
      else { __functor = self: args: wrap (value args); __functionArgs = formals; };
  inContext = path:
    let text = toString path;
    in text == srcDir || builtins.substring 0 (builtins.stringLength srcDir + 1) text == srcDir + "/";
  own = {
    import = path:
      imported path (if inContext path then builtins.scopedImport own path else builtins.import path);
    __nixPath = [ { prefix = "nixpkgs"; path = nixpkgsSource; } ] ++ builtins.nixPath;
  };
  scope = own // dockerTools // {
    inherit pkgs dockerTools nix2container;
    lib = pkgs.lib or (throw "nixdf: this package set has no lib");
  };

  # The Nixfile's images: its set, or what its function returns. An argument nixdf does not
  # offer comes from the package set, as callPackage passes it.
  nixfileTop =
    let
      file = builtins.scopedImport scope (/. + "${srcDir}/${nixfile}");
      wanted = builtins.functionArgs file;
      missing = name:
        throw "nixdf: the Nixfile asks for an argument ${name}, and the package set has no such package";
      fromPkgs = builtins.listToAttrs (map (name: { inherit name; value = nixpkgsSet.${name} or (missing name); })
        (builtins.filter (name: !wanted.${name} && !(scope ? ${name})) (builtins.attrNames wanted)));
    in
      if !builtins.isFunction file then file
      else file (if wanted == { } then scope else fromPkgs // builtins.intersectAttrs wanted scope);

  flakeLib = import ./flake-outputs.nix { inherit own withBuilders nix2container nixpkgsSource flake; };
  top = if isFlake then flakeLib.top else nixfileTop;

  # The image at an attribute path of `top`: "app" is top.app; a base that no attribute names
  # is reached through fromImage ("app.fromImage"), as nixdf's builders return their arguments.
  pathOf = attr: builtins.filter (part: builtins.isString part && part != "") (builtins.split "[.]" attr);
  imageAt = attr: builtins.foldl' (set: name: builtins.getAttr name set) top (pathOf attr);
  found = imageAt image;

  # The contents as nix-build takes them, each item a package (a derivation), as dockerTools
  # needs: nix-build would leave out any other set (pkgs.lib) without a word. An item that is
  # not one stops the build with a message nixdf.buildlog finds, to point at the item.
  kinds = {
    set = "a set"; string = "a string"; int = "an integer"; float = "a float";
    bool = "a Boolean"; path = "a path"; lambda = "a function"; list = "a list";
  };
  packages = key: value:
    let
      items = if value == null then [ ] else if builtins.isList value then value else [ value ];
      item = i:
        let x = builtins.elemAt items i; kind = builtins.typeOf x;
        in if builtins.isAttrs x && (x.type or null) == "derivation" then x
          else throw "nixdf: ${if builtins.isList value then "item ${toString (i + 1)} of " else ""}the ${key} of image \"${image}\" is not a package (a derivation) but ${kinds.${kind} or kind}";
    in builtins.genList item (builtins.length items);
  rootKey = set: if set ? copyToRoot then "copyToRoot" else "contents";

  # What becomes Dockerfile text, as JSON whose string context names the store paths in it.
  dockerfileText = found: builtins.toJSON {
    name = found.name or null; tag = found.tag or null; created = found.created or null;
    mtime = found.mtime or null; config = found.config or { }; runAsRoot = found.runAsRoot or null;
    extraCommands = found.extraCommands or null; fakeRootCommands = found.fakeRootCommands or null;
    architecture = found.architecture or null; variant = found.variant or null; arch = found.arch or null;
  };
  values = found: builtins.fromJSON (builtins.unsafeDiscardStringContext (dockerfileText found));

  # nixdf.buildlog reads these lines (`extras`).
  toList = x: if x == null then [ ] else if builtins.isList x then x else [ x ];
  octal = key: mode:
    if mode == null then "-"
    else if builtins.isString mode && builtins.match "[0-7]{1,4}" mode != null then mode
    else throw "nixdf: a perms ${key} must be an octal mode such as \"0755\"";
  number = key: value:
    if builtins.isInt value && value >= 0 then toString value
    else throw "nixdf: a perms ${key} must be a user or group number";
  perm = n: p:
    let regex = p.regex or "";
    in if builtins.length (builtins.split "\n" regex) > 1 then throw "nixdf: a perms regex must be one line"
      else "perm ${toString n} ${toString (p.path or "-")} ${octal "mode" (p.mode or null)} ${octal "orMode" (p.orMode or null)} ${number "uid" (p.uid or 0)} ${number "gid" (p.gid or 0)} |${regex}|";
  layerAt = path: builtins.foldl' (layer: index: builtins.elemAt layer.layers index) found path;
  layerLines = n: path:
    let
      layer = layerAt path;
      key = "layers." + builtins.concatStringsSep ".layers." (map toString path);
      lines = kind: map (p: "layer ${toString n} ${kind} ${p}");
    in
      lines "dep" (packages "${key}.deps" (layer.deps or null))
      ++ lines "root" (packages "${key}.${rootKey layer}" (layer.copyToRoot or layer.contents or null))
      ++ lines "ignore" (toList (layer.ignore or null))
      ++ map (perm n) (layer.perms or [ ]);
  explicitLayers = builtins.fromJSON layers;
  sqlite = nixpkgsSet.sqlite or null;
  extraLines =
    (if n2c then
      map (perm 0) (found.perms or [ ])
      ++ builtins.concatLists (builtins.genList (i: layerLines (i + 1) (builtins.elemAt explicitLayers i))
        (builtins.length explicitLayers))
    else [ ])
    ++ (if nixDb && sqlite != null then [ "sqlite ${sqlite.bin or sqlite}" ] else [ ]);
  extrasText = builtins.concatStringsSep "" (map (line: line + "\n") extraLines);
in
{
  # The image's contents (or copyToRoot), for nix-build to build.
  contents = packages (rootKey found) (found.copyToRoot or found.contents or null);

  # The store derivations and paths named in what becomes Dockerfile text (config, scripts),
  # for nix-store --realise: they join the image's closure.
  refs = builtins.attrNames (builtins.getContext (dockerfileText found));

  # What a build stage needs from Nix besides the contents, as lines of a file in the store:
  # nix2container's explicit layers (`layer N dep|root|ignore PATH`), its perms (`perm N PATH
  # MODE ORMODE UID GID |REGEX|`, N = 0 for the image's own; the regex last, between bars, so
  # that `read` keeps it whole) and the package set's sqlite for a Nix database (`sqlite
  # PATH`). The value is that file, then every derivation and path the lines name, for
  # nix-store --realise.
  extras = [ (builtins.toFile "nixdf-extras" (builtins.unsafeDiscardStringContext extrasText)) ]
    ++ builtins.attrNames (builtins.getContext extrasText);

  # What `nixdf lock` keeps: each image's values that become Dockerfile text, store paths
  # included.
  lock = builtins.listToAttrs (map (attr: { name = attr; value = values (imageAt attr); })
    (builtins.fromJSON attrs));

  # A flake's images, found by Nix (see flake-outputs.nix).
  discover = flakeLib.discover values;
}

let
  id = x: x;
  const = a: _b: a;
  compose = f: g: x: f (g x);
  withFormals = { a, b ? a + 1, c ? { d = 2; }, ... }: a + b + c.d;
  atFirst = args @ { a, ... }: args.a;
  trailing = { a, b, }: a;
  onlyDots = { ... }: 1;
  emptyFormals = { }: 0;
  fold = op: nul: list:
    if list == [ ] then nul
    else op (builtins.head list) (fold op nul (builtins.tail list));
  useOr = let or = 1; in id or;
  selOr = { a = 1; }.b or { a = 2; }.a or 3;
  neg = - 1 - -2;
  not = ! true || ! false;
  concat = [ 1 ] ++ [ 2 ] ++ [ 3 ];
  prec = 1 + 2 * 3 - 4 / 2 ++ [ ];
  hyphen-ated = 1;
  prime' = 2;
in
with builtins;
assert id 1 == 1;
{
  inherit id const compose withFormals atFirst trailing onlyDots emptyFormals fold;
  inherit useOr selOr neg not hyphen-ated prime';
  applied = compose id (const 1) 2;
  chain = a: a.b.c.d;
  dyn = a: a.${"b"}.${a.name or "c"};
}

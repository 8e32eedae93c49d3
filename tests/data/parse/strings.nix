{ x ? "y" }:
{
  plain = "hello world";
  escapes = "tab\there\nnewline \"quoted\" back\\slash \${not interp} dollar$";
  dollars = "$$ $${x} a$";
  interp = "a${x}b${"nested ${x} string"}c";
  braces = "${ { a = { b = x; }; }.a.b }";
  indented = ''
    first line
      indented more
    last line with ${x}
  '';
  ind_escapes = ''
    dollar ''${x}
    quotes '''
    newline ''\n tab ''\t
    lone $ and ' quote
  '';
  first_line_kept = ''  text on first line
    next'';
  tabs = ''
	tab-indented
  '';
  empty = '''';
  empty_lines = ''


    after blank lines

  '';
  interp_only = ''${x}'';
  nested_ind = ''
    outer ${ ''
      inner ${x}
    '' } end
  '';
}

"""The lark grammar of the Nix expression language (shipped as nixdf.grammar)."""

"""Jinja2 templates of the generated Dockerfile (shipped as nixdf.templates)."""

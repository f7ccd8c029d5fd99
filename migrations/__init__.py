"""Copier migrations the template runs in a service during `copier update` (see copier.yml)."""

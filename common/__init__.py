"""Definitions the golden model (``model/``) and the RTL (``hw/``) share: the spec's
numbers, written once. ``hw/`` never imports ``model/``; both import this."""

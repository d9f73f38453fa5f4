"""Reusable conformance test kits and fakes for plug points (shipped so plug-ins can use them)."""

"""Test helpers shared by unit and end-to-end tests (TLS material, client factories)."""

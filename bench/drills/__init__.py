"""Reliability drills: the whole product on this machine, a fixed load of leads, one fault each.

Run them with `.venv/bin/python bench/drills/run.py [drill ...]`; see bench/drills/README.md.
"""

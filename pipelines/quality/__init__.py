"""Data-quality checks declared with the contracts, run with Great Expectations.

``spec`` (the typed check declarations) is light and imported by the contracts; the validation
modules import Great Expectations and are imported only where checks run.
"""

"""Places: administrative divisions, and (built on them) dwellings, buildings and grids.

`divisions` loads the division reference (``schemas/divisions/<district code>.csv``: district →
street → community → grid, with names and codes) and `national` gives the national GB/T 2260 table
of provinces, cities and counties, so that an address anywhere in China can be coded.
"""

"""Identity resolution: which staged records are the same person, under stable resident ids."""

"""Modal screens: a run in full, a source chunk, the save-as-variant form."""

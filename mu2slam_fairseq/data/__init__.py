"""The data layer in two layers: ``io`` (what is stored) and ``pipeline`` (what training
makes of it). The model imports nothing from here."""

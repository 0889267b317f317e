"""The degradation estimator: which ops of a pool an image carries and how strong each is.

labels (truth from chain records) -> model (the CNN) -> training (shards -> run folder) ->
files (estimator weights) -> inference (any image size, natural units) -> scoring (AUROC) ->
evaluation (held-out shards, breakdowns, confusion chart).
"""

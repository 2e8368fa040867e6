"""Experiments: drivers that train, compress and export to answer one question (``edgezoo
bench-*``), apart from the stages they use. Each reuses the stages' option declarations
(:class:`training.options.TrainOptions` ...); an experiment that needs other defaults names them
in one place. Nothing in the stages imports them.
"""

"""Adaptation methods; each module registers its methods with trainer.adapters.registry."""

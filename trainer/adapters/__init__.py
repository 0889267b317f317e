"""Adapters: a registry of adaptation methods (full, decoder, lora, colora, dora, codora),
several named adapters on one model composed by weight (per batch or per image),
level-conditioned adapters (levels, levels-full: set_level gives c), adapter files, and merging.

Training one adapter: make_plan(model, method, config, scores) then apply_plan(model, plan,
config); save_adapter writes it. Using several: load_adapter(model, path, name),
set_adapters(model, names, weights), active_adapters, delete_adapter, merge_and_unload.
"""
from trainer.adapters.allocation import allocate_ranks, lora_candidates, rank_cap
from trainer.adapters.configs import (BudgetConfig, ComposedConfig, MethodConfig, RankConfig,
                                      method_config)
from trainer.adapters.files import (AdapterFile, adapter_tensors, load_adapter, read_adapter,
                                    save_adapter, task_description, write_adapter)
from trainer.adapters.layer import AdaptedLayer, LowRank, max_rank, weight_matrix_shape
from trainer.adapters.levels import LevelError, LevelScale, adapter_scale, set_level
from trainer.adapters.model import (DEFAULT_NAME, AdapterError, AdapterRecord, active_adapters,
                                    adapted_layers, adapter_records, adapter_weights,
                                    add_adapter, apply_plan, delete_adapter, merge_and_unload,
                                    model_fingerprint, set_adapters, trainable_parameters)
from trainer.adapters.plan import AdapterPlan, LayerPlan
from trainer.adapters.planning import make_plan, plan_counts
from trainer.adapters.registry import Method, all_methods, get_method, method_names

__all__ = [
    "AdaptedLayer", "AdapterError", "AdapterFile", "AdapterPlan", "AdapterRecord",
    "BudgetConfig", "ComposedConfig", "DEFAULT_NAME", "LayerPlan", "LevelError", "LevelScale",
    "LowRank", "Method",
    "MethodConfig", "RankConfig", "active_adapters", "adapted_layers", "adapter_records",
    "adapter_scale", "adapter_tensors", "adapter_weights", "add_adapter", "all_methods", "allocate_ranks",
    "apply_plan", "delete_adapter", "get_method", "load_adapter", "lora_candidates", "make_plan",
    "max_rank", "merge_and_unload", "method_config", "method_names", "model_fingerprint",
    "plan_counts", "rank_cap", "read_adapter", "save_adapter", "set_adapters", "set_level", "task_description",
    "trainable_parameters", "weight_matrix_shape", "write_adapter",
]

"""CoLoRA: LoRA layers, contribution-based rank allocation, adapter files.

Main entry points: AdapterConfig, make_plan (which parameters a method tunes), apply_plan (wrap a
model), save_adapter / load_adapter (files), merge_and_unload (back to a plain model).
"""
from trainer.colora.adapter_io import AdapterError, load_adapter, read_adapter, save_adapter
from trainer.colora.allocation import (AdapterPlan, LayerPlan, allocate_ranks, plan_colora,
                                       plan_decoder, plan_full, plan_lora)
from trainer.colora.config import METHODS, AdapterConfig
from trainer.colora.layers import LoRAConv2d, LoRALayer, LoRALinear, wrap_layer
from trainer.colora.model import (apply_plan, lora_layers, merge_and_unload, model_fingerprint,
                                  trainable_parameters)
from trainer.colora.planning import make_plan

__all__ = [
    "AdapterConfig", "AdapterError", "AdapterPlan", "LayerPlan", "LoRAConv2d", "LoRALayer",
    "LoRALinear", "METHODS", "allocate_ranks", "apply_plan", "load_adapter", "lora_layers",
    "make_plan", "merge_and_unload", "model_fingerprint", "plan_colora", "plan_decoder",
    "plan_full", "plan_lora", "read_adapter", "save_adapter", "trainable_parameters", "wrap_layer",
]

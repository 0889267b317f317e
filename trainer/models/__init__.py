"""Restoration models: presets by name, ordered blocks, parameter kinds, official weights.

A new architecture is a module here (config, network, its registration) plus its import line
below; trainer.models.contract says what the network must provide.

    model = create_model("nafnet-sidd-w32")
    model.blocks()[16]          # BlockInfo(index=16, name="middle_blks.0", part="middle", ...)
    rebuilt = model_from_config(model.config)
    load_official_weights(create_model("nafnet-sidd-w32"), "NAFNet-SIDD-width32.pth")
"""
from trainer.models import nafnet as _nafnet  # noqa: F401  (registers presets)
from trainer.models import restormer as _restormer  # noqa: F401  (registers presets)
from trainer.models.contract import ContractError, RestorationModel, check_model_contract
from trainer.models.identity import start_at_identity
from trainer.models.introspect import (BlockInfo, PARAM_KINDS, PARTS, count_parameters,
                                       named_param_kinds, param_kind)
from trainer.models.official import (OfficialWeightsError, load_official_state_dict,
                                     load_official_weights)
from trainer.models.registry import (OfficialLayout, create_model, get_preset, list_presets,
                                     model_from_config, register_architecture, register_preset)

__all__ = ["BlockInfo", "ContractError", "OfficialLayout", "OfficialWeightsError", "PARAM_KINDS",
           "PARTS", "RestorationModel", "check_model_contract", "count_parameters",
           "create_model", "get_preset", "list_presets", "load_official_state_dict",
           "load_official_weights", "model_from_config", "named_param_kinds", "param_kind",
           "register_architecture", "register_preset", "start_at_identity"]

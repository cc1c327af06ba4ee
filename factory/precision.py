"""Mixed precision of a training step (the `precision` field of train and adapt configs).

`auto` is bf16 on CUDA GPUs that have it (Ampere and later), fp16 on older ones and fp32 on CPU.
The forward pass and the loss run under `torch.autocast` in the compute dtype; the trained
parameters and the optimiser stay fp32 (master weights), as diffusers' training scripts keep
them, while frozen weights may be cast to the compute dtype on a GPU (`cast_frozen`). fp16 alone
needs a loss scaler (`torch.amp.GradScaler`): its range underflows small gradients. fp16 is
refused on CPU, where autocast's fp16 kernels are slow or missing; bf16 runs there (for tests
and memory benchmarks). fp32 takes the same path as a step without this module: autocast and
the scaler are off, the numbers are identical. The fp16 loss scale is not checkpointed: a
resumed run starts it over (the scaler finds its level again within a few steps).
"""

from contextlib import AbstractContextManager

import torch
from torch import nn

from schemas.config_base import ConfigError

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def precision_name(precision: str, *, gpu: bool) -> str:
    """The precision `precision` (a config value, `auto` too) means on a GPU or on CPU."""
    if precision == "auto":
        if not gpu:
            return "fp32"
        # A driver without CUDA (a cluster's head) assumes its workers' GPUs have bf16.
        older = torch.cuda.is_available() and not torch.cuda.is_bf16_supported()
        return "fp16" if older else "bf16"
    if precision == "fp16" and not gpu:
        raise ConfigError("field 'precision': fp16 needs a GPU (gpus_per_worker > 0); on CPU "
                          "use bf16 or fp32")
    return precision


class MixedPrecision:
    """The autocast context and loss scaler of one worker's training steps on `device`."""

    def __init__(self, precision: str, device: torch.device | str):
        self.device_type = torch.device(device).type
        self.name = precision_name(precision, gpu=self.device_type == "cuda")
        self.dtype = DTYPES[self.name]
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")

    def autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.name != "fp32")

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and one optimiser step (fp16: on the scaled loss, skipped on overflow)."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()

    def cast_frozen(self, module: nn.Module) -> nn.Module:
        """On a GPU, frozen parameters in the compute dtype, trainable ones in fp32 (their master
        copy). CPU keeps them fp32: its autocast leaves layer norms to run in the input's dtype,
        and they refuse an fp32 input with bf16 weights."""
        if self.name != "fp32" and self.device_type == "cuda":
            for parameter in module.parameters():
                parameter.data = parameter.data.to(
                    torch.float32 if parameter.requires_grad else self.dtype)
        return module

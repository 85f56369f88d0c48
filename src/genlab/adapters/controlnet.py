"""ControlNet (Zhang, Rao & Agrawala 2023, "Adding Conditional Control to Text-to-Image
Diffusion Models"): steer a trained, frozen U-Net with a control image.

A trainable copy of the base U-Net's encoder and middle block reads the noisy input, the
time and class embedding and, added after its input convolution, the control image
through a small convolutional hint encoder. Each of the copy's skip activations and its
middle output passes a zero-initialised 1x1 convolution and is added to the frozen base's
skip of the same size and to its middle output (Fig. 3 of the paper; diffusers'
``down_block_additional_residuals``, ``mid_block_additional_residual``). At
initialisation every zero convolution outputs 0, so the controlled network computes
exactly the base network's output (tested), and training starts from the base model.

:class:`ControlledUNet` is a :class:`~genlab.models.unet.UNet` (its own parameters are
the base's, under the base's names, so a base run's weights load by name) holding a
:class:`ControlNet` at ``controlnet``. The base's parameters are frozen
(``requires_grad=False``); only ``controlnet.*`` trains. After loading the base's weights
call :meth:`ControlledUNet.copy_base_` so the copy starts from the trained encoder.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from genlab.models.configs import ControlNetConfig
from genlab.models.unet import UNet
from genlab.nn.blocks import conv, zero_

HINT_WIDTH = 16  # channels of the hint encoder's hidden layers


class ControlNet(nn.Module):
    """The trainable side: ``forward(x, t, cond, control) -> (skip residuals, mid
    residual)``, shaped as ``base.encode``'s skips and middle output.

    Args:
        base: the U-Net to control; its encoder and middle block are copied (weights
            included), its decoder is not.
        control_channels: channels of the control image ``(B, C_ctrl, *S)``.
    """

    def __init__(self, base: UNet, control_channels: int):
        super().__init__()
        d, ch = base.cfg.dims, base.cfg.channels
        self.encoder = UNet(base.cfg)
        del self.encoder.up, self.encoder.out  # the copy is an encoder only
        copy_encoder_(self.encoder, base)
        self.hint = nn.Sequential(
            conv(d, control_channels, HINT_WIDTH), nn.SiLU(),
            conv(d, HINT_WIDTH, HINT_WIDTH), nn.SiLU(),
            zero_(conv(d, HINT_WIDTH, ch)),
        )  # fmt: skip
        self.zero_skips = nn.ModuleList(zero_(conv(d, c, c, k=1)) for c in base.skip_channels)
        self.zero_mid = zero_(conv(d, base.mid_channels, base.mid_channels, k=1))

    def forward(
        self, x: Tensor, t: Tensor, cond: dict, control: Tensor
    ) -> tuple[list[Tensor], Tensor]:
        hs, h, _ = self.encoder.encode(x, t, cond, hint=self.hint(control.to(x)))
        return [z(s) for z, s in zip(self.zero_skips, hs)], self.zero_mid(h)


@torch.no_grad()
def copy_encoder_(encoder: UNet, base: UNet) -> None:
    """Load ``base``'s weights (by name) into ``encoder``, a U-Net without a decoder."""
    state = base.state_dict()
    encoder.load_state_dict({k: state[k].clone() for k in encoder.state_dict()})


class ControlledUNet(UNet):
    """A frozen base U-Net steered by a :class:`ControlNet`:
    ``forward(x_t (B, C, *S), t (B,), cond) -> (B, C_out, *S)`` with ``cond["control"]``
    ``(B, C_ctrl, *S)`` (plus the base's keys). ``conditioning_scale`` multiplies the
    residuals (diffusers' ``controlnet_conditioning_scale``; 0 gives the base model)."""

    def __init__(self, cfg: ControlNetConfig):
        super().__init__(cfg)
        for p in self.parameters():  # the base: frozen
            p.requires_grad_(False)
        self.controlnet = ControlNet(self, cfg.control_channels or cfg.in_channels)
        self.conditioning_scale = 1.0

    def cond_keys(self) -> tuple[str, ...]:
        return (*super().cond_keys(), "control")

    def forward(self, x: Tensor, t: Tensor, cond: dict | None = None) -> Tensor:
        cond = dict(cond or {})
        if "control" not in cond:
            raise KeyError("a ControlNet needs cond['control'], the control image")
        control = cond.pop("control")
        hs, h, emb = self.encode(x, t, cond)
        skips, mid = self.controlnet(x, t, cond, control)
        s = self.conditioning_scale
        hs = [a + s * b for a, b in zip(hs, skips)]
        return self.decode(hs, h + s * mid, emb, cond)

    def copy_base_(self) -> None:
        """Copy the base's encoder, middle block and embeddings (as loaded now) into the
        ControlNet's trainable copy: call it after loading the base run's weights."""
        copy_encoder_(self.controlnet.encoder, self)

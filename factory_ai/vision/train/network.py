"""The defect-classifier network: a small residual CNN for industrial surface images.

Why this shape: surface defects (scratches, pits, scale, crazing) are local textures, so a
compact ResNet-style stack generalises well from a few hundred images per class and trains
from scratch (nothing is downloaded). Two choices are made for a plant's images rather than
neat square tiles:

- on canvases of 128 px and more a side, a two-step stem (two stride-2 convolutions) brings
  the resolution down by four before the first residual stage (``stem_stride=4``), so a
  256 x 256 canvas costs what 128 x 128 cost with one step, and small flaws can be kept at
  close to their native size; small canvases keep the one-step stem, which needs the pixels;
- the head can pool the last feature map by its mean *and* its maximum (``pool="avgmax"``).
  With the mean alone, a 10-px flaw on a large frame is a hundredth of the pooled signal; the
  maximum lets the worst region speak for the image, while the mean still carries textures
  that cover the whole surface.

One linear layer on the pooled features also gives class-activation maps (CAM) for free: the
heatmap is the classifier's weights applied to every position of the last feature map, so it
is computed inside the exported ONNX graph and the line side needs no torch to show where the
defect is.

Pre-processing lives in the graph too: the network takes uint8 NCHW pixels and casts and
normalises them itself, so the line side cannot get the normalisation wrong.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _conv_bn(c_in: int, c_out: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 conv+BN layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv_bn(c_in, c_out, stride)
        self.conv2 = _conv_bn(c_out, c_out)
        self.shortcut = (
            _conv_bn(c_in, c_out, stride, kernel=1) if stride != 1 or c_in != c_out else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv1(x))
        return F.relu(self.conv2(y) + self.shortcut(x))


class SurfaceNet(nn.Module):
    """Residual CNN with a CAM head.

    ``forward`` returns ``(probabilities [B, C], heatmap [B, H, W])``; the heatmap is the
    activation map of the predicted class, upsampled to the input size and scaled to 0..1.
    ``logits`` is what training uses (it skips the heatmap).
    """

    def __init__(
        self,
        num_classes: int,
        channels: int = 1,
        width: int = 32,
        mean: float | list[float] = 0.5,
        std: float | list[float] = 0.25,
        dropout: float = 0.2,
        stem_stride: int = 2,
        pool: str = "avg",
    ) -> None:
        super().__init__()
        if stem_stride not in (2, 4) or pool not in ("avg", "avgmax"):
            raise ValueError(f"SurfaceNet stem_stride {stem_stride} (2 or 4), pool {pool!r} (avg or avgmax)")
        self.stem_stride, self.pool_mode = stem_stride, pool
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1).expand(channels, 1, 1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1).expand(channels, 1, 1)
        # Pixels arrive as 0..255; fold the 1/255 scale into the normalisation constants.
        self.register_buffer("pixel_mean", (mean_t * 255.0).reshape(1, channels, 1, 1).clone())
        self.register_buffer("pixel_std", (std_t * 255.0).reshape(1, channels, 1, 1).clone())
        w = width
        if stem_stride == 2:
            self.stem = nn.Sequential(_conv_bn(channels, w, stride=2), nn.ReLU(inplace=True))
        else:
            # The first convolution sees every pixel; 16 filters at least, or a narrow network
            # has too few to pick a faint flaw out of the texture (they cost little at stride 2).
            first = max(w // 2, 16)
            self.stem = nn.Sequential(_conv_bn(channels, first, stride=2), nn.ReLU(inplace=True),
                                      _conv_bn(first, w, stride=2), nn.ReLU(inplace=True))
        self.stages = nn.Sequential(
            ResidualBlock(w, w),
            ResidualBlock(w, 2 * w, stride=2),
            ResidualBlock(2 * w, 4 * w, stride=2),
            ResidualBlock(4 * w, 8 * w, stride=2),
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(8 * w * (2 if pool == "avgmax" else 1), num_classes)

    def normalise(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels.float() - self.pixel_mean) / self.pixel_std

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(self.normalise(pixels)))

    def pool(self, feats: torch.Tensor) -> torch.Tensor:
        mean = feats.mean(dim=(2, 3))
        return mean if self.pool_mode == "avg" else torch.cat([mean, feats.amax(dim=(2, 3))], dim=1)

    def logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.pool(self.features(pixels))))

    def cam_weights(self) -> torch.Tensor:
        """Per-position class weights ``[classes, features]``: the head's weights for the mean
        and for the maximum both apply at every position (the maximum's where it wins)."""
        weight = self.classifier.weight
        if self.pool_mode == "avg":
            return weight
        half = weight.shape[1] // 2
        return weight[:, :half] + weight[:, half:]

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(pixels)
        probs = self.classifier(self.pool(feats)).softmax(dim=1)
        # CAM of every class as a 1x1 convolution with the classifier weights, then keep the
        # predicted class's map. Bias is dropped: it shifts the map, not its shape.
        cams = F.conv2d(feats, self.cam_weights()[:, :, None, None])
        top = probs.argmax(dim=1)
        index = top[:, None, None, None].expand(-1, 1, cams.shape[2], cams.shape[3])
        cam = torch.gather(cams, 1, index)
        cam = F.interpolate(cam, size=pixels.shape[2:], mode="bilinear", align_corners=False)[:, 0]
        low = cam.amin(dim=(1, 2), keepdim=True)
        high = cam.amax(dim=(1, 2), keepdim=True)
        return probs, (cam - low) / (high - low + 1e-6)


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold every conv+BN pair into one conv (in place, eval mode): fewer ops to run and a
    graph that int8 quantisation handles per channel."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model.eval()
    for module in model.modules():
        if (
            isinstance(module, nn.Sequential)
            and len(module) == 2
            and isinstance(module[0], nn.Conv2d)
            and isinstance(module[1], nn.BatchNorm2d)
        ):
            module[0] = fuse_conv_bn_eval(module[0], module[1])
            module[1] = nn.Identity()
    return model


CHECKPOINT = "network.pt"


def save_network(network: SurfaceNet, path: str, *, num_classes: int, channels: int, width: int,
                 mean: list[float], std: list[float]) -> None:
    """Keep the torch weights beside the ONNX file, for fine-tuning and torch-side benchmarks."""
    arch = {"num_classes": num_classes, "channels": channels, "width": width, "mean": mean, "std": std,
            "stem_stride": network.stem_stride, "pool": network.pool_mode}
    torch.save({"arch": arch, "state_dict": network.state_dict()}, path)


def load_network(path: str) -> SurfaceNet:
    """Rebuild a trained :class:`SurfaceNet` from :func:`save_network`'s file (eval mode, CPU)."""
    saved = torch.load(path, map_location="cpu", weights_only=True)
    network = SurfaceNet(**saved["arch"])
    network.load_state_dict(saved["state_dict"])
    return network.eval()

"""What a network learned. Filters, activations per emotion, Grad-CAM, embedding.

Works on any model with `forward_features` / `forward_head` whose stages are `model.blocks`
(every CNN that `model=cnn` builds: any depth, norm, pooling). Writes PNGs to RUN_DIR/viz/.
With `--no-faces` it draws only figures that show no dataset face (filters, activations
averaged over hundreds of faces per emotion, the embedding): FER2013's terms forbid
redistributing its images, so these are the figures a published report can carry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from fer.analysis.evaluate import split_data
from fer.analysis.model_ref import resolve_run
from fer.checkpoint import load_model
from fer.models.ensemble import Ensemble
from fer.preprocess import normalize


def stage_modules(model: nn.Module) -> list[nn.Module]:
    """The stages whose outputs are feature maps: `model.blocks` when it has them."""
    if hasattr(model, "blocks"):
        return list(model.blocks)
    raise ValueError(
        f"{type(model).__name__} has no `blocks`: fer-viz needs a staged CNN (model=cnn and its "
        f"variants)"
    )


@torch.no_grad()
def stage_outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Each stage's output (B, C, h, w) for normalised faces x."""
    outputs: list[torch.Tensor] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        for m in stage_modules(model)
    ]
    try:
        model.forward_features(x)
    finally:
        for hook in hooks:
            hook.remove()
    return outputs


@torch.no_grad()
def penultimate(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The input of the classifier's last linear layer (B, D)."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    captured: list[torch.Tensor] = []
    hook = last.register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0]))
    try:
        model(x)
    finally:
        hook.remove()
    return captured[0]


def grad_cam(
    model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM on the last stage: heatmaps (B, H, W) in [0, 1] and the probabilities (B, K)."""
    with torch.enable_grad():
        features = model.forward_features(x).detach().requires_grad_(True)  # (B, C, h, w)
        logits = model.forward_head(features)
        target = logits.argmax(1) if target is None else target
        logits.gather(1, target[:, None]).sum().backward()
    weights = features.grad.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
    cam = F.relu((weights * features).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    cam = cam / cam.flatten(1).max(1).values.clamp_min(1e-8)[:, None, None]
    return cam, logits.detach().softmax(1)


def emotion_activation_maps(
    stage_maps: list[torch.Tensor], labels: np.ndarray, num_classes: int
) -> list[torch.Tensor]:
    """Where each emotion excites each stage: from the stages' outputs (N, C, h, w) for faces
    with `labels`, per stage (K, h, w): the mean over a class's faces of the channel-averaged
    activation, minus the mean of the K class maps. Averaged over many faces, no face shows."""
    out = []
    for stage in (m.float().mean(1) for m in stage_maps):
        per_class = torch.stack(
            [
                stage[torch.from_numpy(labels == k)].mean(0)
                if (labels == k).any()
                else torch.zeros(stage.shape[1:])
                for k in range(num_classes)
            ]
        )
        out.append(per_class - per_class.mean(0, keepdim=True))
    return out


def pick_faces(labels: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    """The first `per_class` indices of each class, class by class."""
    return np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in range(num_classes)])


def kernel_mosaic(weight: torch.Tensor) -> np.ndarray:
    """A conv layer's kernels tiled into one 2-D array, each scaled to [-1, 1] by its own largest
    |weight|, NaN between kernels. A one-input-channel layer shows its kernels in rows of 8;
    deeper layers show (up to) 16 output channels as rows × 16 input channels as columns."""
    w = weight.detach().float().cpu().numpy()  # (out, in, k, k)
    if w.shape[1] == 1:
        rows = int(np.ceil(w.shape[0] / 8))
        grid = np.full((rows * 8, *w.shape[2:]), np.nan, np.float32)
        grid[: w.shape[0]] = w[:, 0]
        grid = grid.reshape(rows, 8, *w.shape[2:])
    else:
        grid = w[:16, :16]
    scale = np.abs(grid).max(axis=(2, 3), keepdims=True)
    grid = grid / np.where(scale > 0, scale, 1)
    grid = np.pad(grid, ((0, 0), (0, 0), (0, 1), (0, 1)), constant_values=np.nan)
    rows, cols, kh, kw = grid.shape
    return grid.transpose(0, 2, 1, 3).reshape(rows * kh, cols * kw)[:-1, :-1]


def filter_figures(model: nn.Module, out_dir: Path, limit: int | None = None) -> dict[str, Path]:
    """One PNG per conv layer (the first `limit` of them): the first layer as kernels, deeper
    layers output x input channels (one image per layer: fast even for 16 x 16 kernels)."""
    import matplotlib.pyplot as plt

    from fer.analysis.figures import save  # matplotlib: imported only when drawing

    cmap = plt.get_cmap("bwr").with_extremes(bad="white")
    figures: dict[str, Path] = {}
    convs = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)][:limit]
    for i, (name, conv) in enumerate(convs):
        shape = tuple(conv.weight.shape)
        mosaic = kernel_mosaic(conv.weight)
        rows = (mosaic.shape[0] + 1) // (shape[2] + 1)  # kernels down, each with a gap
        cols = (mosaic.shape[1] + 1) // (shape[3] + 1)
        fig, ax = plt.subplots(figsize=(cols * 0.7, rows * 0.7 + 0.6))
        ax.imshow(mosaic, cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
        ax.axis("off")
        layout = (
            "one kernel per filter"
            if shape[1] == 1
            else "rows: output channels, columns: input channels"
        )
        fig.suptitle(f"conv {i + 1} ({name}): {shape}; {layout}", fontsize=9)
        figures[f"filters_{i + 1:02d}"] = save(fig, out_dir / f"filters_{i + 1:02d}.png")
    return figures


def visualize(
    model_arg: str | None,
    split: str = "test",
    data: str | None = None,
    out: str | None = None,
    per_class: int = 3,
    tsne_samples: int = 1500,
    log_wandb: bool = True,
    faces: bool = True,
) -> dict[str, Path]:
    """Write every figure (faces=False: only those that show no dataset face); {name: path}."""
    import matplotlib.pyplot as plt

    from fer.analysis.figures import save  # matplotlib: imported only when drawing
    from fer.analysis.wandb_log import log_to_run  # only when logging to W&B

    ref = resolve_run(model_arg)
    model, info = load_model(ref.checkpoint)
    if isinstance(model, Ensemble):  # figures are one network's: show its first member
        print(f"fer-viz: an ensemble of {len(model.members)}; showing its first member")
        model = model.members[0]
    stage_modules(model)  # refuse a model without stages now, before any work
    classes = list(info.classes)
    images, labels, _ = split_data(ref, split, data)
    out_dir = ref.output_dir("viz", override=out)
    x_all = normalize(torch.from_numpy(images), info.mean, info.std, info.equalized)
    figures: dict[str, Path] = {}
    steps = tqdm(total=5, desc="fer-viz", unit="figure")

    # 1. Filters of every conv layer.
    figures.update(filter_figures(model, out_dir))
    steps.update()

    # 2. Activations per emotion: a few faces of each class, the most active channels per stage.
    chosen = pick_faces(labels, per_class, len(classes))
    if faces:
        figures["activations_per_emotion"] = _face_activations(
            model, x_all[chosen], images[chosen], labels[chosen], classes, out_dir
        )

    # Where each emotion excites each stage, averaged over up to 200 faces of each class.
    sample = np.concatenate([np.flatnonzero(labels == k)[:200] for k in range(len(classes))])
    sample_maps = stage_outputs(model, x_all[sample])
    emotion_maps = emotion_activation_maps(sample_maps, labels[sample], len(classes))
    fig, axes = plt.subplots(
        len(emotion_maps),
        len(classes),
        figsize=(len(classes) * 1.3, len(emotion_maps) * 1.4),
        squeeze=False,
        layout="constrained",
    )
    for s, stage in enumerate(emotion_maps):
        limit = float(stage.abs().max().clamp_min(1e-8))
        for k, name in enumerate(classes):
            ax = axes[s, k]
            ax.imshow(stage[k], cmap="coolwarm", vmin=-limit, vmax=limit)
            ax.set_xticks([])
            ax.set_yticks([])
            if s == 0:
                ax.set_title(name, fontsize=8)
            if k == 0:
                ax.set_ylabel(f"stage {s + 1}", fontsize=8)
    fig.suptitle(
        "Mean activation per emotion minus the mean over emotions (red: stronger for it)",
        fontsize=9,
    )
    figures["emotion_activation_maps"] = save(fig, out_dir / "emotion_activation_maps.png")

    # Per-class mean activation of each stage's channels, z-scored across classes.
    stage_means = [m.flatten(2).mean(2) for m in sample_maps]  # (N, C) each
    fig, axes = plt.subplots(1, len(stage_means), figsize=(4 * len(stage_means), 3), squeeze=False)
    for s, (ax, means) in enumerate(zip(axes[0], stage_means)):
        per_class_mean = torch.stack(
            [means[torch.from_numpy(labels[sample] == k)].mean(0) for k in range(len(classes))]
        )
        spread = per_class_mean.std(0)
        keep = spread.topk(min(24, len(spread))).indices
        z = (per_class_mean[:, keep] - per_class_mean[:, keep].mean(0)) / per_class_mean[
            :, keep
        ].std(0).clamp_min(1e-6)
        ax.imshow(z.numpy(), cmap="coolwarm", aspect="auto", vmin=-2, vmax=2)
        ax.set(
            yticks=range(len(classes)),
            title=f"stage {s + 1}: 24 most class-dependent channels",
            xlabel="channel",
        )
        ax.set_yticklabels(classes, fontsize=7)
        ax.title.set_fontsize(8)
    figures["class_mean_activations"] = save(fig, out_dir / "class_mean_activations.png")
    steps.update()

    # 3. Grad-CAM for the true class, averaged over each emotion's faces (no face shows), and
    # for the predicted class drawn over a few faces.
    figures["gradcam_mean"] = _gradcam_mean_figure(
        model, x_all[sample], labels[sample], classes, out_dir
    )
    if faces:
        figures["gradcam"] = _gradcam_figure(
            model, x_all[chosen], images[chosen], labels[chosen], classes, per_class, out_dir
        )
    steps.update()

    # 4. t-SNE of the penultimate features.
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(0)
    subset = rng.permutation(len(labels))[:tsne_samples]
    features = penultimate(model, x_all[subset]).float().numpy()
    components = min(50, *features.shape)  # PCA to 50 dimensions first, as t-SNE advises
    if features.shape[1] > components:
        features = PCA(components, random_state=0).fit_transform(features)
    embedded = TSNE(
        2, init="pca", random_state=0, perplexity=min(30, len(subset) - 1)
    ).fit_transform(features)
    fig, ax = plt.subplots(figsize=(7, 6))
    for k, name in enumerate(classes):
        mask = labels[subset] == k
        ax.scatter(embedded[mask, 0], embedded[mask, 1], s=5, label=name, alpha=0.7)
    ax.legend(markerscale=3, fontsize=8)
    ax.set(title=f"t-SNE of penultimate features ({len(subset)} faces)", xticks=[], yticks=[])
    figures["embedding_tsne"] = save(fig, out_dir / "embedding_tsne.png")
    steps.update()

    if log_wandb:
        log_to_run(ref.run_dir, {}, {f"viz/{name}": path for name, path in figures.items()})
    steps.update()
    steps.close()
    return figures


def _face_activations(
    model: nn.Module,
    x: torch.Tensor,
    images: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    out_dir: Path,
) -> Path:
    """Each face beside the three most active channels of every stage (shows the faces)."""
    import matplotlib.pyplot as plt

    from fer.analysis.figures import save

    maps = stage_outputs(model, x)
    top = 3
    fig, axes = plt.subplots(
        len(x),
        1 + top * len(maps),
        figsize=((1 + top * len(maps)) * 0.9, len(x) * 0.95),
        squeeze=False,
        layout="constrained",
    )
    for r in range(len(x)):
        axes[r, 0].imshow(images[r], cmap="gray")
        axes[r, 0].set_ylabel(classes[labels[r]], fontsize=7)
        for s, m in enumerate(maps):
            channels = m[r].flatten(1).mean(1).topk(min(top, m.shape[1])).indices
            for t, ch in enumerate(channels):
                axes[r, 1 + s * top + t].imshow(m[r, ch].float(), cmap="viridis")
                if r == 0:
                    axes[r, 1 + s * top + t].set_title(f"stage {s + 1}", fontsize=6)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Most active channels of each stage, per emotion", fontsize=9)
    return save(fig, out_dir / "activations_per_emotion.png")


def mean_grad_cams(
    model: nn.Module, x: torch.Tensor, labels: np.ndarray, num_classes: int, batch: int = 256
) -> torch.Tensor:
    """(K, H, W): the Grad-CAM of each emotion's own class, averaged over its faces in `x`."""
    target = torch.from_numpy(labels).long()
    cams = torch.cat(
        [
            grad_cam(model, x[i : i + batch], target[i : i + batch])[0]
            for i in range(0, len(x), batch)
        ]
    )
    return torch.stack(
        [
            cams[target == k].mean(0) if (target == k).any() else torch.zeros(cams.shape[1:])
            for k in range(num_classes)
        ]
    )


def _gradcam_mean_figure(
    model: nn.Module, x: torch.Tensor, labels: np.ndarray, classes: list[str], out_dir: Path
) -> Path:
    """Where the network looks for each emotion: mean Grad-CAM of the true class per emotion."""
    import matplotlib.pyplot as plt

    from fer.analysis.figures import save

    cams = mean_grad_cams(model, x, labels, len(classes))
    fig, axes = plt.subplots(1, len(classes), figsize=(len(classes) * 1.5, 2.0), squeeze=False)
    for k, (ax, name) in enumerate(zip(axes[0], classes)):
        ax.imshow(cams[k], cmap="jet", vmin=0, vmax=1)
        n = int((labels == k).sum())
        ax.set_title(f"{name} ({n})", fontsize=8)
        ax.axis("off")
    fig.suptitle("Mean Grad-CAM of the true class over each emotion's faces", fontsize=9)
    return save(fig, out_dir / "gradcam_mean.png")


def _gradcam_figure(
    model: nn.Module,
    x: torch.Tensor,
    images: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    per_class: int,
    out_dir: Path,
) -> Path:
    """Grad-CAM of the predicted class over each face, one row per true emotion."""
    import matplotlib.pyplot as plt

    from fer.analysis.figures import save

    cams, probs = grad_cam(model, x)
    fig, axes = plt.subplots(
        len(classes),
        per_class,
        figsize=(per_class * 1.7, len(classes) * 1.8),
        squeeze=False,
        layout="constrained",
    )
    for r in range(len(classes)):
        for c in range(per_class):
            ax, k = axes[r, c], r * per_class + c
            ax.axis("off")
            if k >= len(x) or labels[k] != r:
                continue
            ax.imshow(images[k], cmap="gray")
            ax.imshow(cams[k], cmap="jet", alpha=0.4)
            p = int(probs[k].argmax())
            ax.set_title(f"{classes[r]} → {classes[p]} {probs[k, p]:.0%}", fontsize=7)
    fig.suptitle("Grad-CAM of the predicted class (true → predicted)", fontsize=9)
    return save(fig, out_dir / "gradcam.png")

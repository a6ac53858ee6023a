"""SSD-MobileNet-v2 COCO in PyTorch: the network of :mod:`detectors.coco` for GPUs, batched, fp16 on CUDA.

Why a port instead of OpenCV's CUDA backend: the opencv wheels have no CUDA, and a GPU only pays off
with large batches (64+ frames from many cameras per call). The topology is read from the model's text
graph (the ``.pbtxt`` OpenCV uses), the weights from the frozen TensorFlow graph through
:mod:`detectors.tf_graph` (no TensorFlow). Pre-processing, anchors (OpenCV's ``PriorBox``), box decoding
and per-class NMS (OpenCV's ``DetectionOutput``) follow OpenCV, so both backends report the same boxes
(``tests/integration/test_coco_detector.py`` checks it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from detectors.base import Box
from detectors.coco_model import (
    DEFAULT_SCORE_THRESHOLD,
    INPUT_SIZE,
    CocoFiles,
    as_bgr,
    boxes_from_rows,
    check_threshold,
    label_ids,
    model_files,
)
from detectors.tf_graph import Node, Tensor, constants, read_graph, read_text_graph


def _attr_floats(node: Node, key: str, default: list[float]) -> list[float]:
    value = node.attr.get(key)
    if value is None:
        return default
    if isinstance(value, Tensor):
        return [float(v) for v in value.to_numpy().ravel()]
    return [float(v) for v in (value if isinstance(value, list) else [value])]


@dataclass(frozen=True)
class PriorSpec:
    """One ``PriorBox`` layer: which feature map it tiles and its boxes (pixels of the network input)."""

    source: str
    widths: tuple[float, ...]
    heights: tuple[float, ...]
    variance: tuple[float, ...]
    offset: float
    step: float
    clip: bool


@dataclass(frozen=True)
class OutputSpec:
    """The ``DetectionOutput`` layer's parameters."""

    num_classes: int
    background: int
    confidence_threshold: float
    nms_threshold: float
    top_k: int
    keep_top_k: int


def prior_boxes(specs: list[PriorSpec], feature_sizes: dict[str, tuple[int, int]], image_hw: tuple[int, int]
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchors as OpenCV's PriorBox makes them: per cell (row-major), per box, centre ``(x + offset) * step``
    (step = image size / feature-map size when not given), normalised ``[x1, y1, x2, y2]``; with the
    variances, one row per anchor."""
    ih, iw = image_hw
    boxes, variances = [], []
    for spec in specs:
        fh, fw = feature_sizes[spec.source]
        step_x, step_y = (spec.step, spec.step) if spec.step > 0 else (iw / fw, ih / fh)
        ys, xs = np.meshgrid(np.arange(fh, dtype=np.float32), np.arange(fw, dtype=np.float32), indexing="ij")
        cx = ((xs + spec.offset) * step_x).reshape(-1, 1)
        cy = ((ys + spec.offset) * step_y).reshape(-1, 1)
        bw = np.asarray(spec.widths, dtype=np.float32).reshape(1, -1)
        bh = np.asarray(spec.heights, dtype=np.float32).reshape(1, -1)
        b = np.stack([(cx - bw / 2) / iw, (cy - bh / 2) / ih, (cx + bw / 2) / iw, (cy + bh / 2) / ih], axis=-1)
        b = b.reshape(-1, 4)
        if spec.clip:
            b = np.clip(b, 0.0, 1.0)
        boxes.append(b)
        variances.append(np.broadcast_to(np.asarray(spec.variance, dtype=np.float32), b.shape))
    return torch.from_numpy(np.concatenate(boxes)), torch.from_numpy(np.ascontiguousarray(np.concatenate(variances)))


def decode_center_size(loc: torch.Tensor, priors: torch.Tensor, variances: torch.Tensor) -> torch.Tensor:
    """``CENTER_SIZE`` decoding (variances not encoded in the target): ``loc`` = (B, N, 4) as x, y, w, h
    deltas → (B, N, 4) normalised corners."""
    pw = priors[:, 2] - priors[:, 0]
    ph = priors[:, 3] - priors[:, 1]
    pcx = (priors[:, 0] + priors[:, 2]) / 2
    pcy = (priors[:, 1] + priors[:, 3]) / 2
    cx = variances[:, 0] * loc[..., 0] * pw + pcx
    cy = variances[:, 1] * loc[..., 1] * ph + pcy
    w = torch.exp(variances[:, 2] * loc[..., 2]) * pw
    h = torch.exp(variances[:, 3] * loc[..., 3]) * ph
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def pairwise_iou(boxes: torch.Tensor) -> torch.Tensor:
    """(G, K, 4) → (G, K, K) Jaccard overlaps, 0 for boxes that do not intersect (OpenCV's normalised
    JaccardOverlap)."""
    x1 = torch.maximum(boxes[..., :, None, 0], boxes[..., None, :, 0])
    y1 = torch.maximum(boxes[..., :, None, 1], boxes[..., None, :, 1])
    x2 = torch.minimum(boxes[..., :, None, 2], boxes[..., None, :, 2])
    y2 = torch.minimum(boxes[..., :, None, 3], boxes[..., None, :, 3])
    inter = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    area = (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)
    union = area[..., :, None] + area[..., None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def _rank_in_groups(sorted_groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For group ids sorted ascending: each element's rank within its group, the group index (0..G-1) of
    each element and the group sizes."""
    _, inverse, counts = torch.unique_consecutive(sorted_groups, return_inverse=True, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(sorted_groups), device=sorted_groups.device) - starts[inverse]
    return rank, inverse, counts


def _order(groups: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Indices sorting by group ascending, then score descending, ties in original order (stable sorts,
    as OpenCV's std::stable_sort)."""
    by_score = torch.sort(scores, descending=True, stable=True).indices
    by_group = torch.sort(groups[by_score], stable=True).indices
    return by_score[by_group]


def detection_output(boxes: torch.Tensor, scores: torch.Tensor, spec: OutputSpec, score_threshold: float
                     ) -> torch.Tensor:
    """OpenCV's ``DetectionOutput`` (shared locations): per image and class, the ``top_k`` best boxes
    above the threshold, greedy NMS (a box is dropped when it overlaps a kept, better box by more than
    ``nms_threshold``), then the ``keep_top_k`` best per image. Rows ``[image, class, score, x1, y1, x2, y2]``.

    Why candidates start at ``score_threshold`` rather than the layer's 0.01: greedy NMS keeps or drops a
    box only by the better boxes, and the top-k cuts rank by score, so the boxes at or above the
    threshold come out the same while the work shrinks from ~10^5 candidates per image to tens.
    All on the tensors' device, one host synchronisation (the largest group size)."""
    b_count, _, n_cls = scores.shape
    s = scores.clone()
    s[..., spec.background] = -1.0
    mask = (s >= score_threshold) & (s > spec.confidence_threshold)
    b, n, c = torch.nonzero(mask, as_tuple=True)
    if len(b) == 0:
        return torch.zeros((0, 7), dtype=torch.float32, device=scores.device)
    sc = s[b, n, c]
    groups = b * n_cls + c
    order = _order(groups, sc)
    b, n, c, sc, groups = b[order], n[order], c[order], sc[order], groups[order]
    rank, gidx, counts = _rank_in_groups(groups)
    within = rank < spec.top_k
    b, n, c, sc, rank, gidx = b[within], n[within], c[within], sc[within], rank[within], gidx[within]
    k_max = int(min(int(counts.max()), spec.top_k))
    g_count = len(counts)
    padded = torch.zeros((g_count, k_max, 4), dtype=boxes.dtype, device=boxes.device)
    valid = torch.zeros((g_count, k_max), dtype=torch.bool, device=boxes.device)
    padded[gidx, rank] = boxes[b, n]
    valid[gidx, rank] = True
    iou = pairwise_iou(padded)
    keep = torch.zeros_like(valid)
    suppressed = torch.zeros_like(valid)
    for i in range(k_max):
        k = valid[:, i] & ~suppressed[:, i]
        keep[:, i] = k
        suppressed |= k[:, None] & (iou[:, i, :] > spec.nms_threshold)
    kept = keep[gidx, rank]
    b, c, sc, n = b[kept], c[kept], sc[kept], n[kept]
    order = _order(b, sc)  # per image, best first
    b, c, sc, n = b[order], c[order], sc[order], n[order]
    rank, _, _ = _rank_in_groups(b)
    top = rank < spec.keep_top_k
    b, c, sc, n = b[top], c[top], sc[top], n[top]
    return torch.cat([b[:, None].to(sc.dtype), c[:, None].to(sc.dtype), sc[:, None], boxes[b, n]], dim=1)


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow ``SAME``: output ceil(size / stride), the extra padding after (bottom / right)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class _Conv(torch.nn.Module):
    """Conv2D / DepthwiseConv2dNative with TensorFlow's padding; batch norm and bias folded in."""

    def __init__(self, weight: np.ndarray, depthwise: bool, strides: list[int], dilations: list[int],
                 padding: str) -> None:
        super().__init__()
        kh, kw, cin, mult = weight.shape
        if depthwise:  # H W C M → (C*M) 1 H W
            w = weight.reshape(kh, kw, cin * mult).transpose(2, 0, 1)[:, None]
            self.groups = cin
        else:  # H W I O → O I H W
            w = weight.transpose(3, 2, 0, 1)
            self.groups = 1
        self.weight = torch.nn.Parameter(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)),
                                         requires_grad=False)
        self.bias = torch.nn.Parameter(torch.zeros(w.shape[0]), requires_grad=False)
        self.stride = (int(strides[1]), int(strides[2]))
        self.dilation = (int(dilations[1]), int(dilations[2]))
        self.same = padding == "SAME"
        if padding not in ("SAME", "VALID"):
            raise ValueError(f"conv padding {padding!r} is not supported")

    def fold_bias(self, bias: np.ndarray) -> None:
        self.bias.data += torch.from_numpy(bias.astype(np.float32))

    def fold_batch_norm(self, gamma: np.ndarray, beta: np.ndarray, mean: np.ndarray, var: np.ndarray,
                        eps: float) -> None:
        scale = torch.from_numpy((gamma / np.sqrt(var + eps)).astype(np.float32))
        self.weight.data *= scale.view(-1, 1, 1, 1)
        self.bias.data = (self.bias.data - torch.from_numpy(mean.astype(np.float32))) * scale + \
            torch.from_numpy(beta.astype(np.float32))

    def swap_box_coordinates(self) -> None:
        """TF predicts (y, x, h, w) per anchor; OpenCV's ``loc_pred_transposed`` swaps the output channels
        to (x, y, w, h). Done the same way here, in the weights."""
        perm = torch.arange(self.weight.shape[0]).view(-1, 4)[:, [1, 0, 3, 2]].reshape(-1)
        self.weight.data = self.weight.data[perm].contiguous()
        self.bias.data = self.bias.data[perm].contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            kh, kw = self.weight.shape[2:]
            top, bottom = _same_padding(x.shape[2], kh, self.stride[0], self.dilation[0])
            left, right = _same_padding(x.shape[3], kw, self.stride[1], self.dilation[1])
            if top == bottom and left == right:
                return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), self.dilation, self.groups)
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class SsdGraph(torch.nn.Module):
    """The text graph's nodes as PyTorch operations, in graph order. ``forward`` returns the box deltas
    (B, N, 4), the class scores (B, N, classes) and the feature-map sizes the anchors are made from."""

    SUPPORTED = {"Placeholder", "Const", "Mul", "Sub", "Add", "Conv2D", "DepthwiseConv2dNative", "FusedBatchNorm",
                 "BiasAdd", "Relu6", "Identity", "Flatten", "ConcatV2", "Sigmoid", "PriorBox", "DetectionOutput"}

    def __init__(self, nodes: list[Node], weights: dict[str, np.ndarray]) -> None:
        super().__init__()
        unknown = sorted({n.op for n in nodes} - self.SUPPORTED)
        if unknown:
            raise ValueError(f"text graph: operations {unknown} are not supported by the torch port")
        consumers: dict[str, int] = {}
        for n in nodes:
            for i in n.inputs:
                consumers[i] = consumers.get(i, 0) + 1
        self.convs = torch.nn.ModuleList()
        self.steps: list[tuple[str, str, list[str], object]] = []  # (output, kind, inputs, argument)
        self.consts: dict[str, torch.Tensor] = {}
        alias: dict[str, str] = {}
        conv_of: dict[str, _Conv] = {}
        self.priors: list[PriorSpec] = []
        self.output: OutputSpec | None = None
        self.input_name = ""
        prior_names: set[str] = set()
        transposed: list[_Conv] = []

        def const(name: str) -> np.ndarray:
            if name not in weights:
                raise ValueError(f"text graph: {name!r} is neither a node nor a constant of the frozen graph")
            return weights[name]

        for node in nodes:
            ins = [alias.get(i, i) for i in node.inputs]
            op = node.op
            if op == "Placeholder":
                self.input_name = node.name
            elif op == "Const":
                value = node.attr.get("value")
                weights.setdefault(node.name, value.to_numpy() if isinstance(value, Tensor) else const(node.name))
            elif op in ("Conv2D", "DepthwiseConv2dNative"):
                conv = _Conv(const(ins[1]), op == "DepthwiseConv2dNative", node.attr.get("strides", [1, 1, 1, 1]),
                             node.attr.get("dilations", [1, 1, 1, 1]), node.attr.get("padding", "SAME"))
                if node.attr.get("loc_pred_transposed"):
                    transposed.append(conv)  # after its bias is folded in
                self.convs.append(conv)
                conv_of[node.name] = conv
                self.steps.append((node.name, "conv", ins[:1], len(self.convs) - 1))
            elif op in ("FusedBatchNorm", "BiasAdd") and ins[0] in conv_of and consumers.get(ins[0]) == 1:
                conv = conv_of.pop(ins[0])
                if op == "BiasAdd":
                    conv.fold_bias(const(ins[1]))
                else:
                    conv.fold_batch_norm(*(const(i) for i in ins[1:5]), float(node.attr.get("epsilon", 1e-3)))
                alias[node.name] = ins[0]
                if consumers.get(node.name) == 1:
                    conv_of[ins[0]] = conv  # a bias after the batch norm folds in as well
            elif op in ("FusedBatchNorm", "BiasAdd"):
                raise ValueError(f"text graph: {node.name} ({op}) does not follow a convolution it can fold into")
            elif op == "Identity":
                alias[node.name] = ins[0]
            elif op in ("Mul", "Sub", "Add"):
                self.steps.append((node.name, op.lower(), ins, None))
            elif op in ("Relu6", "Sigmoid", "Flatten"):
                self.steps.append((node.name, op.lower(), ins, None))
            elif op == "ConcatV2" and all(i in prior_names for i in ins[:-1]):
                continue  # the anchors: made from the feature-map sizes, see prior_boxes
            elif op == "ConcatV2":
                axis = int(np.ravel(weights.get(ins[-1], const(ins[-1])))[0])
                self.steps.append((node.name, "concat", ins[:-1], axis))
            elif op == "PriorBox":
                self.priors.append(PriorSpec(
                    source=ins[0], widths=tuple(_attr_floats(node, "width", [])),
                    heights=tuple(_attr_floats(node, "height", [])),
                    variance=tuple(_attr_floats(node, "variance", [0.1, 0.1, 0.2, 0.2])),
                    offset=float(node.attr.get("offset", 0.5)), step=float(node.attr.get("step", 0.0)),
                    clip=bool(node.attr.get("clip", False))))
                prior_names.add(node.name)
                self.steps.append((node.name, "shape", ins[:1], None))
            elif op == "DetectionOutput":
                a = node.attr
                if not a.get("share_location", True) or a.get("code_type", "CENTER_SIZE") != "CENTER_SIZE":
                    raise ValueError(f"text graph: {node.name} needs share_location and CENTER_SIZE boxes")
                self.output = OutputSpec(
                    int(a["num_classes"]), int(a.get("background_label_id", 0)),
                    float(a.get("confidence_threshold", 0.01)), float(a.get("nms_threshold", 0.45)),
                    int(a.get("top_k", 100)), int(a.get("keep_top_k", 100)))
                self.loc_name, self.conf_name = ins[0], ins[1]
        for conv in transposed:
            conv.swap_box_coordinates()
        if self.output is None or not self.priors:
            raise ValueError("text graph: no DetectionOutput / PriorBox layers")
        self.scalars = {k: float(np.ravel(v)[0]) for k, v in weights.items() if np.size(v) == 1}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict[str, tuple[int, int]]]:
        env: dict[str, torch.Tensor] = {self.input_name: x}
        shapes: dict[str, tuple[int, int]] = {}
        for out, kind, ins, arg in self.steps:
            if kind == "conv":
                env[out] = self.convs[arg](env[ins[0]])
            elif kind in ("mul", "sub", "add"):
                a, b = (env[i] if i in env else self.scalars[i] for i in ins)
                env[out] = a * b if kind == "mul" else a - b if kind == "sub" else a + b
            elif kind == "relu6":
                env[out] = env[ins[0]].clamp(0.0, 6.0)
            elif kind == "sigmoid":
                env[out] = torch.sigmoid(env[ins[0]])
            elif kind == "flatten":  # TF tensors are NHWC: flatten in that order
                env[out] = env[ins[0]].permute(0, 2, 3, 1).reshape(x.shape[0], -1)
            elif kind == "concat":
                axis = arg if arg >= 0 else env[ins[0]].dim() + arg
                env[out] = torch.cat([env[i] for i in ins], dim=axis)
            elif kind == "shape":
                shapes[ins[0]] = (int(env[ins[0]].shape[2]), int(env[ins[0]].shape[3]))
        loc = env[self.loc_name].reshape(x.shape[0], -1, 4)
        conf = env[self.conf_name].reshape(x.shape[0], -1, self.output.num_classes)
        return loc, conf, shapes


class CocoTorch:
    """The COCO detector on PyTorch: CUDA (fp16, channels-last, frames resized on the GPU) when available,
    else the CPU (fp32, OpenCV's own ``blobFromImages`` so the input is bit-identical to the OpenCV path)."""

    def __init__(self, score_threshold: float = DEFAULT_SCORE_THRESHOLD, labels: Iterable[str] | None = None,
                 device: str | None = None, files: CocoFiles | None = None, input_size: int = INPUT_SIZE,
                 half: bool | None = None, device_preprocess: bool | None = None) -> None:
        self.score_threshold = check_threshold(score_threshold)
        self.keep = label_ids(labels)
        self.files = files or model_files()
        self.input_size = int(input_size)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        cuda = self.device.type == "cuda"
        self.half = cuda if half is None else half
        self.device_preprocess = cuda if device_preprocess is None else device_preprocess
        nodes = read_text_graph(self.files.pbtxt)
        wanted = {i for n in nodes for i in n.inputs}
        net = SsdGraph(nodes, constants(read_graph(self.files.graph), wanted)).eval()
        self.dtype = torch.float16 if self.half else torch.float32
        self.net = net.to(self.device, self.dtype)
        self.channels_last = cuda
        if cuda:
            self.net = self.net.to(memory_format=torch.channels_last)
        self._priors: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
        self.name = "coco/torch"

    def preprocess(self, frames: list[np.ndarray]) -> torch.Tensor:
        """RGB NCHW 0..255 at the input size, like ``cv2.dnn.blobFromImages(…, swapRB=True)``."""
        s = self.input_size
        if not self.device_preprocess:
            blob = cv2.dnn.blobFromImages(frames, 1.0, (s, s), swapRB=True, crop=False)
            return torch.from_numpy(blob).to(self.device, self.dtype)
        batch = torch.empty((len(frames), 3, s, s), dtype=self.dtype, device=self.device)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, f in enumerate(frames):
            by_shape.setdefault(f.shape, []).append(i)
        for shape, idx in by_shape.items():
            raw = torch.empty((len(idx), *shape), dtype=torch.uint8, device=self.device)
            for j, i in enumerate(idx):  # one upload per frame: stacking on the host first is a large copy
                raw[j].copy_(torch.from_numpy(np.ascontiguousarray(frames[i])), non_blocking=True)
            x = raw.flip(-1).permute(0, 3, 1, 2).to(self.dtype)  # BGR NHWC → RGB NCHW
            batch[torch.tensor(idx, device=self.device)] = F.interpolate(
                x, size=(s, s), mode="bilinear", align_corners=False, antialias=False)
        return batch

    def priors(self, shapes: dict[str, tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        key = tuple(sorted(shapes.items()))
        if key not in self._priors:
            p, v = prior_boxes(self.net.priors, shapes, (self.input_size, self.input_size))
            self._priors[key] = (p.to(self.device), v.to(self.device))
        return self._priors[key]

    @torch.inference_mode()
    def raw(self, frames: list[np.ndarray]) -> torch.Tensor:
        """DetectionOutput rows ``[image, class, score, x1, y1, x2, y2]`` on the device."""
        x = self.preprocess(frames)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loc, conf, shapes = self.net(x)
        priors, variances = self.priors(shapes)
        boxes = decode_center_size(loc.float(), priors, variances)
        return detection_output(boxes, conf.float(), self.net.output, self.score_threshold)

    def detect(self, frames: list[np.ndarray]) -> list[list[Box]]:
        if not frames:
            return []
        frames = as_bgr(frames)
        rows = self.raw(frames).cpu().numpy()
        return boxes_from_rows(rows, [(f.shape[1], f.shape[0]) for f in frames], self.score_threshold, self.keep)

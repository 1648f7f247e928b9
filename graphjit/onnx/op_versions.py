"""What each ONNX converter implements, version by version: checked before any
converter runs (graphjit.onnx.validate), so a node is converted only under the
meaning its converter was written for.

ONNX changes an op's meaning by giving it a new version (its schema's
`since_version`): Mod-28 made `fmod=0` on floats a floor-mod, SpaceToDepth-28 added
`mode`. A node's version is the newest one at or below the model's opset for its
domain (`onnx.defs.get_schema(op, max_inclusive_version=opset, domain=...)`).
`OP_VERSIONS[op]` lists the versions a converter has been checked against, from
the one in force at opset 13 (models older than 13 are converted up to it first) to
the newest it handles: a node of any other version is refused (UnsupportedError
naming it), so a new ONNX release that changes an op fails loudly until someone
reads the change and adds the version here. Most later versions only widen the
types (bfloat16, float8, int4, ...), which graphjit.onnx.types refuses where it
lacks them.

`ATTR_VALUES[op][attr]` lists the values of an attribute whose meaning varies that
the converter implements; another value is refused the same way. (A converter may
refuse a value itself where it says more: BatchNormalization's training_mode=1.)
"""

from __future__ import annotations

OP_VERSIONS: dict[str, tuple[int, ...]] = {
    "Abs": (13,), "Acosh": (9, 22), "Add": (13, 14), "And": (7,), "ArgMax": (13,), "ArgMin": (13,),
    "Asinh": (9, 22), "Atanh": (9, 22), "AveragePool": (11, 19, 22),
    "BatchNormalization": (9, 14, 15), "Cast": (13, 19, 21, 23, 24, 25, 28),
    "CastLike": (15, 19, 21, 23, 24, 25), "Ceil": (13,), "Celu": (12, 28), "Clip": (13,),
    "Concat": (13,), "Constant": (13, 19, 21, 23, 24, 25),
    "ConstantOfShape": (9, 20, 21, 23, 24, 25), "Conv": (11, 22), "Cos": (7, 22), "Cosh": (9, 22),
    "CumSum": (11, 14), "DepthToSpace": (13, 28), "Det": (11, 22), "Div": (13, 14),
    "Dropout": (13, 22), "Elu": (6, 22), "Equal": (13, 19), "Erf": (13,), "Exp": (13,),
    "Expand": (13,), "EyeLike": (9, 22), "Flatten": (13, 21, 23, 24, 25), "Floor": (13,),
    "Gather": (13,), "GatherElements": (13,), "Gelu": (20,), "Gemm": (13,),
    "GlobalAveragePool": (1, 22), "GlobalMaxPool": (1, 22), "Greater": (13,),
    "GreaterOrEqual": (12, 16), "HardSigmoid": (6, 22), "HardSwish": (14, 22),
    "Identity": (13, 14, 16, 19, 21, 23, 24, 25), "InstanceNormalization": (6, 22),
    "IsInf": (10, 20), "IsNaN": (13, 20), "LayerNormalization": (17,), "LeakyRelu": (6, 16),
    "Less": (13,), "LessOrEqual": (12, 16), "Log": (13,), "LogSoftmax": (13,), "MatMul": (13,),
    "Max": (13,), "MaxPool": (12, 22), "Mean": (13,), "Min": (13,), "Mish": (18, 22),
    "Mod": (13, 28), "Mul": (13, 14), "Neg": (13,), "Not": (1,), "Or": (7,), "PRelu": (9, 16),
    "Pad": (13, 18, 19, 21, 23, 24, 25), "Pow": (13, 15), "Range": (11, 27), "Reciprocal": (13,),
    "ReduceL1": (13, 18), "ReduceL2": (13, 18), "ReduceLogSum": (13, 18, 28),
    "ReduceLogSumExp": (13, 18, 28), "ReduceMax": (13, 18, 20), "ReduceMean": (13, 18),
    "ReduceMin": (13, 18, 20), "ReduceProd": (13, 18), "ReduceSum": (13,),
    "ReduceSumSquare": (13, 18), "Relu": (13, 14), "Reshape": (13, 14, 19, 21, 23, 24, 25),
    "Round": (11, 22), "Selu": (6, 22), "Shape": (13, 15, 19, 21, 23, 24, 25), "Shrink": (9,),
    "Sigmoid": (13,), "Sign": (13,), "Sin": (7, 22), "Sinh": (9, 22),
    "Size": (13, 19, 21, 23, 24, 25), "Slice": (13,), "Softmax": (13,), "Softplus": (1, 22),
    "Softsign": (1, 22), "SpaceToDepth": (13, 28), "Split": (13, 18), "Sqrt": (13,),
    "Squeeze": (13, 21, 23, 24, 25), "Sub": (13, 14), "Sum": (13,), "Tan": (7, 22), "Tanh": (13,),
    "ThresholdedRelu": (10, 22), "Tile": (13,), "Transpose": (13, 21, 23, 24, 25), "Trilu": (14,),
    "Unsqueeze": (13, 21, 23, 24, 25), "Where": (9, 16), "Xor": (7,),
}

ATTR_VALUES: dict[str, dict[str, tuple]] = {
    "ArgMax": {"keepdims": (0, 1), "select_last_index": (0, 1)},
    "ArgMin": {"keepdims": (0, 1), "select_last_index": (0, 1)},
    "AveragePool": {"auto_pad": ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"),
                    "ceil_mode": (0, 1), "count_include_pad": (0, 1)},
    "Conv": {"auto_pad": ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")},
    "CumSum": {"exclusive": (0, 1), "reverse": (0, 1)},
    "DepthToSpace": {"mode": ("DCR", "CRD")},
    "Gelu": {"approximate": ("none", "tanh")},
    "Gemm": {"transA": (0, 1), "transB": (0, 1)},
    "IsInf": {"detect_negative": (0, 1), "detect_positive": (0, 1)},
    "LayerNormalization": {"stash_type": (1, 11)},
    "MaxPool": {"auto_pad": ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"),
                "ceil_mode": (0, 1), "storage_order": (0, 1)},
    "Mod": {"fmod": (0, 1)},
    "Pad": {"mode": ("constant", "reflect", "edge", "wrap")},
    "Range": {"stash_type": (1, 11)},
    "Reshape": {"allowzero": (0, 1)},
    "SpaceToDepth": {"mode": ("DCR", "CRD")},
    "Trilu": {"upper": (0, 1)},
    **{op: {"keepdims": (0, 1), "noop_with_empty_axes": (0, 1)} for op in (
        "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
        "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare")},
}

OP_VERSIONS.update({  # onnxa
    "BitShift": (11, 28),
    "NegativeLogLikelihoodLoss": (13, 22), "RMSNormalization": (23,),
    "SoftmaxCrossEntropyLoss": (13,),
})
ATTR_VALUES.update({  # onnxa
    "BitShift": {"direction": ("LEFT", "RIGHT")},
    "NegativeLogLikelihoodLoss": {"reduction": ("none", "sum", "mean")},
    "RMSNormalization": {"stash_type": (1, 11)},
    "SoftmaxCrossEntropyLoss": {"reduction": ("none", "sum", "mean")},
})
OP_VERSIONS.update({"Attention": (23, 24, 25), "RotaryEmbedding": (23,),
                    "LinearAttention": (27,)})  # onnxb
ATTR_VALUES.update({  # onnxb
    "Attention": {"is_causal": (0, 1), "qk_matmul_output_mode": (0, 1, 2, 3),
                  "softmax_precision": (1, 10, 11)},
    "RotaryEmbedding": {"interleaved": (0, 1)},
    "LinearAttention": {"update_rule": ("linear", "gated", "delta", "gated_delta")},
})
OP_VERSIONS.update({  # onnxc
    "QuantizeLinear": (13, 19, 21, 23, 24, 25, 28),
    "DequantizeLinear": (13, 19, 21, 23, 24, 25, 28),
})
OP_VERSIONS.update({"Resize": (13, 18, 19)})  # onnxc
ATTR_VALUES.update({  # onnxc
    "Cast": {"saturate": (0, 1), "round_mode": ("up", "down", "nearest")},
    "CastLike": {"saturate": (0, 1), "round_mode": ("up", "down", "nearest")},
    "QuantizeLinear": {"saturate": (0, 1)},
    "Resize": {"mode": ("nearest", "linear", "cubic"),
               "nearest_mode": ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"),
               "coordinate_transformation_mode": (
                   "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
                   "asymmetric", "tf_crop_and_resize"),
               "keep_aspect_ratio_policy": ("stretch", "not_larger", "not_smaller"),
               "antialias": (0, 1), "exclude_outside": (0, 1)},
})
OP_VERSIONS.update({  # onnx-tensor
    "CumProd": (26,), "Einsum": (12, 28),
    "OneHot": (11, 28), "GatherND": (13,), "TopK": (11, 24), "ReverseSequence": (10, 28),
    "CenterCropPad": (18,), "ScatterND": (13, 16, 18), "ScatterElements": (13, 16, 18),
    "TensorScatter": (24,), "Compress": (11, 28), "NonZero": (13,),
    "BitCast": (26,), "Unique": (11, 28),
    "Acos": (7, 22), "Asin": (7, 22), "Atan": (7, 22),
})
ATTR_VALUES.update({  # onnx-tensor
    "CumProd": {"exclusive": (0, 1), "reverse": (0, 1)},
    "TopK": {"largest": (0, 1), "sorted": (0, 1)},
    "ScatterND": {"reduction": ("none", "add", "mul", "max", "min")},
    "ScatterElements": {"reduction": ("none", "add", "mul", "max", "min")},
    "TensorScatter": {"mode": ("linear", "circular")},
    "Unique": {"sorted": (0, 1)},
})
OP_VERSIONS.update({  # onnx-nn
    "Hardmax": (13,), "Swish": (24,), "SwiGLU": (28,), "LpNormalization": (1, 22),
    "MeanVarianceNormalization": (13,), "GroupNormalization": (18, 21), "LRN": (13,),
    "LpPool": (11, 18, 22),
})
ATTR_VALUES.update({  # onnx-nn
    "GroupNormalization": {"stash_type": (1, 11)},
    "LpNormalization": {"p": (1, 2)},
    "LpPool": {"auto_pad": ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"),
               "ceil_mode": (0, 1)},
})
OP_VERSIONS.update({  # onnx-nn
    "MatMulInteger": (10,), "ConvInteger": (10,), "QLinearMatMul": (10, 21),
    "QLinearConv": (10,), "DynamicQuantizeLinear": (11,),
})
ATTR_VALUES.update({  # onnx-nn
    "ConvInteger": {"auto_pad": ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")},
    "QLinearConv": {"auto_pad": ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")},
})
OP_VERSIONS.update({  # onnx-dtypes: signal ops
    "DFT": (17, 20), "STFT": (17,), "HannWindow": (17,), "HammingWindow": (17,),
    "BlackmanWindow": (17,), "MelWeightMatrix": (17,),
})
ATTR_VALUES.update({  # onnx-dtypes: signal ops
    "DFT": {"inverse": (0, 1), "onesided": (0, 1)},
    "STFT": {"onesided": (0, 1)},
    "HannWindow": {"periodic": (0, 1)}, "HammingWindow": {"periodic": (0, 1)},
    "BlackmanWindow": {"periodic": (0, 1)},
})
OP_VERSIONS.update({  # onnx-preview: other domains, keyed "domain:op" (convert.converter_key)
    "ai.onnx.preview.training:Adagrad": (1,), "ai.onnx.preview.training:Momentum": (1,),
    "ai.onnx.preview.training:Adam": (1,),
})
ATTR_VALUES.update({  # onnx-preview
    "ai.onnx.preview.training:Momentum": {"mode": ("standard", "nesterov")},
})
OP_VERSIONS.update({"CausalConvWithState": (27,)})  # onnx-preview
ATTR_VALUES.update({"CausalConvWithState": {"activation": ("none", "silu", "swish")}})
OP_VERSIONS.update({"ai.onnx.preview:FlexAttention": (1,)})  # onnx-preview
ATTR_VALUES.update({"ai.onnx.preview:FlexAttention": {"softmax_precision": (1, 10, 11)}})
OP_VERSIONS.update({"GridSample": (16, 20, 22), "AffineGrid": (20,)})  # onnx-preview
ATTR_VALUES.update({  # onnx-preview
    "GridSample": {"mode": ("bilinear", "bicubic", "linear", "cubic", "nearest"),
                   "padding_mode": ("zeros", "border", "reflection"), "align_corners": (0, 1)},
    "AffineGrid": {"align_corners": (0, 1)},
})
OP_VERSIONS.update({"LSTM": (7, 14, 22), "GRU": (7, 14, 22), "RNN": (7, 14, 22)})  # recurrent
ATTR_VALUES.update({  # recurrent
    "LSTM": {"direction": ("forward", "reverse", "bidirectional"), "layout": (0, 1),
             "input_forget": (0, 1)},
    "GRU": {"direction": ("forward", "reverse", "bidirectional"), "layout": (0, 1),
            "linear_before_reset": (0, 1)},
    "RNN": {"direction": ("forward", "reverse", "bidirectional"), "layout": (0, 1)},
})
OP_VERSIONS.update({  # onnx-control
    "If": (13, 16, 19, 21, 23, 24, 25), "Loop": (13, 16, 19, 21, 23, 24, 25),
    "Scan": (11, 16, 19, 21, 23, 24, 25),
})
OP_VERSIONS.update({  # onnx-control: sequences and optionals
    "SequenceConstruct": (11,), "SequenceAt": (11,), "SequenceInsert": (11,),
    "SequenceErase": (11,), "SequenceLength": (11,), "SequenceEmpty": (11,),
    "SplitToSequence": (11, 24), "ConcatFromSequence": (11,), "SequenceMap": (17,),
    "Optional": (15, 28), "OptionalHasElement": (15, 18, 28),
    "OptionalGetElement": (15, 18, 28),
})
OP_VERSIONS.update({"ConvTranspose": (11, 22)})  # onnx-nn
ATTR_VALUES.update({  # onnx-nn
    "ConvTranspose": {"auto_pad": ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")},
})
OP_VERSIONS.update({  # onnx-nn
    "BitwiseAnd": (18,), "BitwiseOr": (18,), "BitwiseXor": (18,), "BitwiseNot": (18,),
})
OP_VERSIONS.update({"Col2Im": (18,), "MaxUnpool": (11, 22)})  # onnx-nn
OP_VERSIONS.update({"DeformConv": (19, 22)})  # onnx-nn
OP_VERSIONS.update({"RoiAlign": (10, 16, 22)})  # onnx-nn
ATTR_VALUES.update({  # onnx-nn
    "RoiAlign": {"mode": ("avg", "max"),
                 "coordinate_transformation_mode": ("half_pixel", "output_half_pixel")},
})
OP_VERSIONS.update({"NonMaxSuppression": (11,)})  # onnx-misc
ATTR_VALUES.update({"NonMaxSuppression": {"center_point_box": (0, 1)}})  # onnx-misc
OP_VERSIONS.update({  # onnx-misc: the ai.onnx.ml domain
    "ai.onnx.ml:Binarizer": (1,), "ai.onnx.ml:ArrayFeatureExtractor": (1,),
    "ai.onnx.ml:LabelEncoder": (1, 2, 4),
})
OP_VERSIONS.update({"ai.onnx.ml:TreeEnsemble": (5,)})  # onnx-misc
ATTR_VALUES.update({  # onnx-misc
    "ai.onnx.ml:TreeEnsemble": {"aggregate_function": (0, 1), "post_transform": (0,)},
})
OP_VERSIONS.update({  # onnx-misc: strings
    "RegexFullMatch": (20,), "StringConcat": (20,), "StringNormalizer": (10,),
    "StringSplit": (20,),
})
OP_VERSIONS.update({"TfIdfVectorizer": (9,)})  # tfidf
ATTR_VALUES.update({"TfIdfVectorizer": {"mode": ("TF", "IDF", "TFIDF")}})  # tfidf
OP_VERSIONS.update({"ImageDecoder": (20,)})  # image
ATTR_VALUES.update({"ImageDecoder": {"pixel_format": ("RGB", "BGR", "Grayscale")}})  # image

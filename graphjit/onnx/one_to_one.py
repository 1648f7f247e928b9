"""The export and import of ops that map one to one onto an ONNX op (same inputs, no
attrs), made from the registry's `Onnx(op_type, same=True)` entries: nothing else in
graphjit.onnx names them. Imported after the hand-written converters, which win where
both exist."""

from __future__ import annotations

from graphjit.graph import Tensor
from graphjit.onnx import (  # noqa: F401  (the hand-written converters register first)
    ops_attention,
    ops_bitcast,
    ops_bitshift,
    ops_bitwise,
    ops_causal_conv,
    ops_control_flow,
    ops_conv_transpose,
    ops_cumprod_einsum,
    ops_deform_conv,
    ops_flex_attention,
    ops_grid,
    ops_image,
    ops_index_select,
    ops_losses,
    ops_math,
    ops_matrix,
    ops_ml,
    ops_nms,
    ops_nn,
    ops_nn_extras,
    ops_quant,
    ops_quant_int,
    ops_recurrent,
    ops_resize,
    ops_rms_normalization,
    ops_roi_align,
    ops_scatter,
    ops_sequence,
    ops_signal,
    ops_strings,
    ops_tensor,
    ops_tfidf,
    ops_training,
    ops_unpool,
    ops_value_sized,
    symbolic,
)
from graphjit.onnx.convert import CONVERTERS, NodeContext, converter
from graphjit.onnx.export_ops import TRANSLATIONS, OpContext
from graphjit.ops._util import make
from graphjit.registry import Onnx, all_op_defs


def _translation(onnx_type: str):
    def translate(ctx: OpContext) -> str:
        return ctx.node(onnx_type, *ctx.inputs)
    return translate


def _converter(op_type: str):
    def convert(ctx: NodeContext) -> Tensor:
        return make(op_type, list(ctx.inputs), name=ctx.name)
    return convert


for _op_type, _op_def in all_op_defs().items():
    if isinstance(_op_def.onnx, Onnx) and _op_def.onnx.same:
        TRANSLATIONS.setdefault(_op_type, _translation(_op_def.onnx.op_type))
        if _op_def.onnx.op_type not in CONVERTERS:
            converter(_op_def.onnx.op_type)(_converter(_op_type))

"""Registry-driven op test cases: each Case builds a graph with the public API and
gives an independent NumPy expectation (never the op's own reference).

Cases live in one module per op family; `ALL_CASES` gathers them. A test checks
that the cases together cover every registered op type.
"""

from tests.graphjit.cases.base import Case  # noqa: F401
from tests.graphjit.cases.bitcast import CASES as _BITCAST
from tests.graphjit.cases.control_flow import CASES as _CONTROL_FLOW
from tests.graphjit.cases.conv import CASES as _CONV
from tests.graphjit.cases.debug import CASES as _DEBUG
from tests.graphjit.cases.elementwise import CASES as _ELEMENTWISE
from tests.graphjit.cases.fft import CASES as _FFT
from tests.graphjit.cases.gradients import CASES as _GRADIENTS
from tests.graphjit.cases.host_kernels import CASES as _HOST_KERNELS
from tests.graphjit.cases.host_kernels import MISSING_EXTRAS  # noqa: F401
from tests.graphjit.cases.linalg import CASES as _LINALG
from tests.graphjit.cases.masking import CASES as _MASKING
from tests.graphjit.cases.nn import CASES as _NN
from tests.graphjit.cases.recurrent import CASES as _RECURRENT
from tests.graphjit.cases.reductions import CASES as _REDUCTIONS
from tests.graphjit.cases.sampling import CASES as _SAMPLING
from tests.graphjit.cases.scan import CASES as _SCAN
from tests.graphjit.cases.shape_ops import CASES as _SHAPE_OPS
from tests.graphjit.cases.sorting import CASES as _SORTING
from tests.graphjit.cases.state_ops import CASES as _STATE_OPS
from tests.graphjit.cases.summary import CASES as _SUMMARY
from tests.graphjit.cases.unique import CASES as _UNIQUE

ALL_CASES = [*_ELEMENTWISE, *_CONV, *_REDUCTIONS, *_SCAN, *_LINALG, *_NN, *_SHAPE_OPS,
             *_STATE_OPS, *_SUMMARY, *_GRADIENTS, *_SORTING, *_MASKING, *_DEBUG,
             *_CONTROL_FLOW, *_SAMPLING, *_BITCAST, *_FFT,
             *_UNIQUE, *_HOST_KERNELS, *_RECURRENT]

"""ONNX TfIdfVectorizer (graphjit.onnx.ops_tfidf) against onnxruntime: the weightings,
skips, a free batch, windows longer than a row, and the errors naming the node."""

import numpy as np
import pytest

pytest.importorskip("onnx")

from onnx import TensorProto  # noqa: E402

from graphjit.errors import UnsupportedError  # noqa: E402
from graphjit.onnx import InvalidModelError, import_model  # noqa: E402
from tests.onnx.test_import import compare, model, node  # noqa: E402

I32, I64 = TensorProto.INT32, TensorProto.INT64
# unigrams 2 3 5 4, bigrams (5 6) (7 8) (6 7), trigram (3 5 4)
POOL = dict(ngram_counts=[0, 4, 10], ngram_indexes=[0, 1, 2, 3, 4, 5, 6, 7],
            pool_int64s=[2, 3, 5, 4, 5, 6, 7, 8, 6, 7, 3, 5, 4])


def _tfidf(shape, dtype=I32, **attrs):
    attrs = {"min_gram_length": 1, "max_gram_length": 3, "max_skip_count": 2,
             "mode": "TF", **POOL, **attrs}
    return model([node("TfIdfVectorizer", ["x"], ["y"], name="tfidf", **attrs)],
                 [("x", dtype, shape)], [("y", TensorProto.FLOAT, None)], opset=9)


ROWS = np.array([[1, 3, 5, 4, 6, 7, 8, 6, 7, 5, 6, 2],
                 [3, 3, 5, 5, 4, 4, 7, 7, 8, 8, 6, 6]], np.int32)


@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("weighted", [False, True])
def test_weightings_match_onnxruntime(mode, weighted):
    extra = {"weights": [0.5, 1, 2, 3, 4, 5, 6, 7]} if weighted else {}
    compare(_tfidf([2, 12], mode=mode, **extra), {"x": ROWS})


def test_free_batch_int64_tokens_and_one_row():
    m = _tfidf(["B", 12], I64, min_gram_length=2)
    for rows in (ROWS, ROWS[:1]):
        compare(m, {"x": rows.astype(np.int64)})
    compare(_tfidf([12], max_skip_count=0), {"x": ROWS[1]})


def test_rows_shorter_than_a_skipped_window_count_nothing_there():
    compare(_tfidf([2, 3], min_gram_length=3, max_skip_count=3), {"x": ROWS[:, 1:4]})


def test_shared_output_columns_add_up():
    m = _tfidf([2, 12], ngram_indexes=[0, 0, 1, 1, 2, 2, 2, 3])
    compare(m, {"x": ROWS})


def test_string_tokens_match_onnxruntime():
    words = {v: f"w{v}" for v in range(10)}
    pool = dict(POOL, pool_strings=[words[v] for v in POOL["pool_int64s"]])
    del pool["pool_int64s"]
    m = model([node("TfIdfVectorizer", ["x"], ["y"], name="tfidf", mode="TFIDF",
                    min_gram_length=1, max_gram_length=3, max_skip_count=1,
                    weights=[0.5, 1, 2, 3, 4, 5, 6, 7], **pool)],
              [("x", TensorProto.STRING, [2, 12])], [("y", TensorProto.FLOAT, None)], opset=9)
    compare(m, {"x": np.vectorize(words.get, otypes=[object])(ROWS)})
    with pytest.raises(InvalidModelError, match="'tfidf'.*string tokens"):
        import_model(_tfidf([2, 12], **pool))


def test_unknown_modes_and_bad_indexes_are_refused_naming_the_node():
    with pytest.raises(UnsupportedError, match="'tfidf'.*mode='BM25'"):
        import_model(_tfidf([2, 12], mode="BM25"))
    with pytest.raises(InvalidModelError, match="'tfidf'.*ngram_indexes"):
        import_model(_tfidf([2, 12], ngram_indexes=[0, 1]))

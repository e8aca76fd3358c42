"""The per-request input check of serving (mlnb.model_monitoring.input_schema): built from a version's
signature and reference profile, it coerces JSON values to the training dtypes or names each problem
in one line."""
from __future__ import annotations

from typing import Any

import pytest

from mlnb import model_registry as reg
from mlnb.model_monitoring.input_schema import InputSchema
from mlnb.store.store import Store


def _training() -> Any:
    import pandas as pd

    return pd.DataFrame({
        "x": [0.5, 1.5, 2.5, 3.5],
        "age": [20, 30, 40, 50],
        "color": ["red", "green", "blue", "red"],
        "vip": [True, False, True, False],
        "score": [1.0, None, 3.0, 4.0],  # had a null: nulls stay accepted
        "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]),
    })


@pytest.fixture
def schema(store: Store) -> InputSchema:
    record = reg.register_model({"w": 1}, "churn", data=_training())
    return InputSchema.for_version(store, "churn", record["version"], record)


def test_for_version_reads_columns_dtypes_and_nulls_from_signature_and_profile(schema: InputSchema) -> None:
    # Given a version registered with its training data, its schema lists the training columns in order
    assert schema.columns == [("x", "numeric", "float64"), ("age", "numeric", "int64"), ("color", "categorical", "str"),
                              ("vip", "categorical", "bool"), ("score", "numeric", "float64"),
                              ("when", "datetime", "datetime64[ns]")]
    # And only the column that had a null accepts one
    assert schema.nullable == {"score"}


def test_check_coerces_to_training_dtypes_in_training_order_and_drops_extra_columns(schema: InputSchema) -> None:
    # Given JSON columns in another order, ints for a float column, whole floats for an int column, an extra column
    frame, problems = schema.check({"extra": [1, 2], "when": ["2024-02-01", "2024-02-02T10:00:00"], "age": [31, 32.0],
                                    "x": [1, 2.5], "color": ["red", "teal"], "vip": [True, False], "score": [None, 2]})
    # Then the frame has the training columns, order and dtypes
    assert problems == []
    assert frame is not None
    assert list(frame.columns) == ["x", "age", "color", "vip", "score", "when"]
    assert [str(t) for t in frame.dtypes[["x", "age", "vip", "score", "when"]]] == \
        ["float64", "int64", "bool", "float64", "datetime64[ns]"]
    assert frame["x"].tolist() == [1.0, 2.5] and frame["age"].tolist() == [31, 32]
    assert frame["color"].tolist() == ["red", "teal"]  # an unseen category is monitoring's job, not refused
    assert frame["score"].isna().tolist() == [True, False]


def _one(schema: InputSchema, **changes: Any) -> list[str]:
    row: dict[str, Any] = {"x": [1.0], "age": [30], "color": ["red"], "vip": [True], "score": [1.0],
                           "when": ["2024-01-01"]}
    row.update(changes)
    row = {k: v for k, v in row.items() if v is not ...}
    frame, problems = schema.check(row)
    assert (frame is None) == bool(problems)
    return problems


@pytest.mark.parametrize(("changes", "expected"), [
    ({"x": ...}, "missing column 'x'"),
    ({"x": ["1.5"]}, "column 'x' expects numbers (float64), got text '1.5' at row 0"),
    ({"x": [True]}, "column 'x' expects numbers (float64), got a boolean True at row 0"),
    ({"x": [None]}, "column 'x' has a null (row 0); the training data had none"),
    ({"age": [30.5]}, "column 'age' expects whole numbers (int64), got 30.5 at row 0"),
    ({"age": [2**70]}, "column 'age' expects int64 numbers"),
    ({"color": [3]}, "column 'color' expects text (str), got a number 3 at row 0"),
    ({"vip": ["yes"]}, "column 'vip' expects true or false (bool), got text 'yes' at row 0"),
    ({"when": ["not a date"]}, "column 'when' expects ISO dates"),
    ({"when": [20240101]}, "column 'when' expects ISO dates as text"),
    ({"x": [{"a": 1}]}, "column 'x' expects numbers (float64), got an object"),
    ({"x": 1.0}, "column 'x' must be a list of values, not a number"),
    ({"x": [1.0, 2.0]}, "the columns have different lengths"),
])
def test_each_problem_is_one_line_naming_the_column(schema: InputSchema, changes: dict[str, Any], expected: str) -> None:
    problems = _one(schema, **changes)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected), problems
    assert "\n" not in problems[0]


def test_several_problems_give_one_line_each(schema: InputSchema) -> None:
    problems = _one(schema, x=..., color=[1], vip=[None])
    assert len(problems) == 3
    assert problems[0].startswith("missing column 'x'")


def test_no_rows_and_not_columns_are_problems(schema: InputSchema) -> None:
    assert _one(schema, x=[], age=[], color=[], vip=[], score=[], when=[]) == \
        ["the input has no rows: send at least one record"]
    assert schema.check([1, 2])[1] == ["the input must be columns (an object of column -> list of values), not a list"]  # type: ignore[arg-type]


def test_all_numeric_schema_gives_one_block_and_a_version_without_data_accepts_any_columns(store: Store) -> None:
    import pandas as pd

    # Given an all-float model: the frame is one float block in training order
    numeric = InputSchema([("a", "numeric", "float64"), ("b", "numeric", "float64")])
    frame, problems = numeric.check({"b": [1, 2], "a": [3.5, 4]})
    assert problems == [] and frame is not None
    assert frame.to_numpy().tolist() == [[3.5, 1.0], [4.0, 2.0]]
    assert frame._mgr.nblocks == 1
    # And its fast path still refuses what the general one refuses, and takes nulls where allowed
    assert numeric.check({"a": [None], "b": [True]})[1] == [
        "column 'a' has a null (row 0); the training data had none",
        "column 'b' expects numbers (float64), got a boolean True at row 0"]
    frame, problems = InputSchema(numeric.columns, {"a"}).check({"a": [None], "b": [2]})
    assert problems == [] and frame is not None and frame["a"].isna().all() and frame["b"].tolist() == [2.0]
    # And a version registered without data has the empty schema: any columns, inferred dtypes
    record = reg.register_model({"w": 1}, "nodata")
    empty = InputSchema.for_version(store, "nodata", record["version"], record)
    assert empty.columns == []
    frame, problems = empty.check({"q": [1, 2], "r": ["a", None]})
    assert problems == [] and frame is not None
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"q": [1, 2], "r": ["a", None]}))
    assert empty.check({"q": [[1]]})[1] == ["column 'q' has a list at row 0; values must be numbers, text, booleans or null"]


def test_a_nullable_int_column_takes_nulls_as_pandas_nullable_ints() -> None:
    schema = InputSchema([("n", "numeric", "Int64")], {"n"})
    frame, problems = schema.check({"n": [1, None]})
    assert problems == [] and frame is not None
    assert str(frame["n"].dtype) == "Int64" and frame["n"].isna().tolist() == [False, True]

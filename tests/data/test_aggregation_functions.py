import pytest
import torch

from inseq.data.aggregation_functions import (
    AGGREGATION_FUNCTIONS,
    default_aggregate_map,
    get_aggregation_function,
    list_aggregation_functions,
    register_aggregation_function,
    register_step_score_aggregation,
)

X = torch.tensor([[1.0, -3.0, 2.0], [0.5, 0.25, -0.25]])


@pytest.mark.parametrize(
    ("fn_id", "expected"),
    [
        ("mean", [0.0, 0.5 / 3]),
        ("max", [2.0, 0.5]),
        ("min", [-3.0, -0.25]),
        ("sum", [0.0, 0.5]),
        ("prod", [-6.0, -0.03125]),
        ("absmax", [-3.0, 0.5]),
        ("vnorm", [14**0.5, (0.25 + 0.0625 * 2) ** 0.5]),
    ],
)
def test_builtin_functions(fn_id, expected):
    assert torch.allclose(get_aggregation_function(fn_id)(X, dim=-1), torch.tensor(expected))


def test_registry_lists_seven_functions_in_order():
    assert list_aggregation_functions()[:7] == ["mean", "max", "min", "sum", "prod", "absmax", "vnorm"]


def test_vnorm_order_and_absmax_nan():
    assert torch.allclose(get_aggregation_function("vnorm")(X, dim=-1, vnorm_ord=1), torch.tensor([6.0, 1.0]))
    nan = float("nan")
    out = get_aggregation_function("absmax")(torch.tensor([[nan, -2.0, 1.0], [nan, nan, nan]]), dim=-1)
    assert out[0] == -2.0 and out[1].isnan()


def test_unknown_function_lists_valid_ids():
    with pytest.raises(ValueError, match="absmax"):
        get_aggregation_function("median_nope")


def test_register_custom_function():
    register_aggregation_function(lambda s, dim: s.median(dim).values, "test_median", overwrite=True)
    assert torch.allclose(AGGREGATION_FUNCTIONS.get("test_median")(X, -1), torch.tensor([1.0, 0.25]))
    with pytest.raises(ValueError, match="already registered"):
        register_aggregation_function(lambda s, dim: s, "test_median")


def test_step_score_aggregation_registration():
    register_step_score_aggregation("test_score", {"spans": "sum"}, overwrite=True)
    assert default_aggregate_map()["step_scores"]["spans"]["test_score"] == "sum"
    with pytest.raises(ValueError, match="already has"):
        register_step_score_aggregation("test_score", {"spans": "prod"})
    with pytest.raises(ValueError, match="Unknown aggregation function 'nope'"):
        register_step_score_aggregation("other", {"spans": "nope"})
    assert default_aggregate_map()["step_scores"]["spans"]["probability"] == "prod"


def test_default_map_is_a_copy():
    agg_map = default_aggregate_map()
    agg_map["step_scores"]["spans"]["probability"] = "sum"
    assert default_aggregate_map()["step_scores"]["spans"]["probability"] == "prod"

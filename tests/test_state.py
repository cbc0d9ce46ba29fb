"""rirn_layers.state: declared field roles, and the walker that flattens a state by them."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch

from rirn_layers.model import StreamState
from rirn_layers.state import Role, StateSpec, field_roles, flatten_state, unflatten_state


class Inner(NamedTuple):
    hidden: torch.Tensor
    log: tuple[torch.Tensor, ...]

    @classmethod
    def roles(cls) -> dict[str, Role]:
        return {"log": "record"}


class Outer(NamedTuple):
    inner: Inner
    cache: dict[str, torch.Tensor]
    spare: list[torch.Tensor | None]

    @classmethod
    def roles(cls) -> dict[str, Role]:
        return {"spare": "end"}


def example() -> Outer:
    t = torch.arange(3.0)
    return Outer(Inner(t, (t + 1, t + 2)), {"a": t * 2, "b": t * 3}, [t - 1, None])


def test_leaves_are_named_by_their_path_and_take_the_roles_declared_above_them():
    leaves, _ = flatten_state(example())
    assert [(leaf.name, leaf.role) for leaf in leaves] == [
        ("inner.hidden", "carried"),
        ("inner.log.0", "record"),  # the nested NamedTuple declares its own fields
        ("inner.log.1", "record"),
        ("cache.a", "carried"),
        ("cache.b", "carried"),
        ("spare.0", "end"),  # a role applies to everything under the field
        ("spare.1", "end"),
    ]


def test_an_outer_role_wins_over_the_declarations_inside():
    leaves, _ = flatten_state(StreamState(None, example(), (4, 4)))  # `last` is "end"
    assert {leaf.role for leaf in leaves if leaf.name.startswith("last.")} == {"end"}


def test_unflatten_rebuilds_the_state():
    state = example()
    leaves, spec = flatten_state(state)
    rebuilt = unflatten_state(spec, [leaf.value for leaf in leaves])
    assert type(rebuilt) is Outer and type(rebuilt.inner) is Inner
    assert isinstance(rebuilt.inner.log, tuple) and isinstance(rebuilt.spare, list)
    assert list(rebuilt.cache) == ["a", "b"] and rebuilt.spare[1] is None
    assert all(torch.equal(a.value, b.value) for a, b in zip(leaves, flatten_state(rebuilt)[0],
                                                             strict=True)
               if isinstance(a.value, torch.Tensor))


def test_specs_compare_by_layout():
    _, spec = flatten_state(example())
    _, again = flatten_state(example())
    _, other = flatten_state(example()._replace(spare=[None]))
    assert spec == again and spec != other
    assert str(other) == "Outer(Inner(*, (*, *)), {'a': *, 'b': *}, [*])"
    assert flatten_state(torch.ones(1))[1] == StateSpec("leaf")


def test_constants_and_none_are_leaves():
    leaves, spec = flatten_state((1, None, "x", 2.5))
    assert [leaf.value for leaf in leaves] == [1, None, "x", 2.5]
    assert [leaf.name for leaf in leaves] == ["0", "1", "2", "3"]
    assert unflatten_state(spec, [leaf.value for leaf in leaves]) == (1, None, "x", 2.5)


def test_unflatten_wants_one_value_per_leaf():
    _, spec = flatten_state((torch.ones(1), torch.ones(1)))
    with pytest.raises(ValueError, match="fewer `values`"):
        unflatten_state(spec, [torch.ones(1)])
    with pytest.raises(ValueError, match="more `values`"):
        unflatten_state(spec, [torch.ones(1)] * 3)


def test_field_roles_checks_the_declarations():
    assert field_roles(example()) == {"inner": "carried", "cache": "carried", "spare": "end"}
    assert field_roles((1, 2)) == {}

    class Typo(NamedTuple):
        hidden: torch.Tensor

        @classmethod
        def roles(cls) -> dict[str, Role]:
            return {"hiden": "record"}

    class Unknown(NamedTuple):
        hidden: torch.Tensor

        @classmethod
        def roles(cls) -> dict[str, Role]:
            return {"hidden": "kept"}  # type: ignore[dict-item]

    with pytest.raises(TypeError, match=r"Typo.roles\(\): no such fields \['hiden'\]"):
        flatten_state(Typo(torch.ones(1)))
    with pytest.raises(TypeError, match=r"Unknown.roles\(\): roles must be"):
        field_roles(Unknown)

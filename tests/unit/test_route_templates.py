"""Route templates as the Functions host reads them: parameters, constraints, optional segments, prefix, case."""

from __future__ import annotations

import pytest

from devhost.routes import RouteTemplate, RouteTemplateError


def params(template: RouteTemplate, path: str) -> dict[str, str] | None:
    found = template.match(path)
    return None if found is None else found.params


def test_parameters_are_captured_under_the_route_prefix() -> None:
    route = RouteTemplate("products/{id}", "api")

    assert route.template == "api/products/{id}"
    assert params(route, "/api/products/abc-1") == {"id": "abc-1"}
    assert params(route, "/products/abc-1") is None
    assert params(route, "/api/products") is None
    assert params(route, "/api/products/a/b") is None


def test_prefix_can_be_empty_or_custom() -> None:
    assert params(RouteTemplate("products/{id}", ""), "/products/7") == {"id": "7"}
    assert params(RouteTemplate("products/{id}", "/v1/"), "/v1/products/7") == {"id": "7"}
    assert params(RouteTemplate("products/{id}", "v1"), "/api/products/7") is None


def test_matching_is_case_insensitive_and_ignores_one_trailing_slash() -> None:
    route = RouteTemplate("Products/{id}", "api")

    assert params(route, "/API/products/X1") == {"id": "X1"}
    assert params(route, "/api/PRODUCTS/X1/") == {"id": "X1"}


def test_parameter_values_are_url_decoded_after_splitting_segments() -> None:
    route = RouteTemplate("products/{id}", "api")

    assert params(route, "/api/products/a%20b") == {"id": "a b"}
    # An encoded slash stays inside its segment instead of making a new one.
    assert params(route, "/api/products/a%2Fb") == {"id": "a/b"}


@pytest.mark.parametrize(
    ("template", "good", "bad"),
    [
        ("items/{id:int}", ["42", "-7", "2147483647"], ["4x", "1.5", "2147483648", "abc"]),
        ("items/{id:long}", ["9223372036854775807"], ["9223372036854775808", "x"]),
        ("items/{id:alpha}", ["abc", "ABC"], ["ab1", "a-b", "é"]),
        ("items/{id:guid}", ["123e4567-e89b-12d3-a456-426614174000", "123E4567E89B12D3A456426614174000"], ["123"]),
        ("items/{id:bool}", ["true", "False"], ["yes", "1"]),
        ("items/{id:double}", ["1.5", "-2", "3e4"], ["1.5.2", "x"]),
        ("items/{id:int:min(10)}", ["10", "99"], ["9", "x"]),
        ("items/{id:range(1,3)}", ["1", "3"], ["0", "4"]),
        ("items/{id:minlength(3)}", ["abc"], ["ab"]),
        ("items/{id:maxlength(2)}", ["ab"], ["abc"]),
        ("items/{id:length(2)}", ["ab"], ["a", "abc"]),
        ("items/{id:regex(^[a-z]{{2}}\\d$)}", ["ab1", "AB1"], ["abc1", "a1"]),
    ],
)
def test_constraints_accept_and_refuse_segments(template: str, good: list[str], bad: list[str]) -> None:
    route = RouteTemplate(template, "api")

    for value in good:
        assert params(route, f"/api/items/{value}") == {"id": value}, value
    for value in bad:
        assert params(route, f"/api/items/{value}") is None, value


def test_unknown_constraints_accept_any_segment() -> None:
    route = RouteTemplate("events/{day:datetime}", "api")

    assert params(route, "/api/events/2024-01-31") == {"day": "2024-01-31"}
    assert params(route, "/api/events/whenever") == {"day": "whenever"}


def test_optional_parameter_may_be_left_out() -> None:
    route = RouteTemplate("search/{category?}", "api")

    assert params(route, "/api/search") == {}
    assert params(route, "/api/search/") == {}
    assert params(route, "/api/search/bikes") == {"category": "bikes"}
    assert params(route, "/api/search/bikes/more") is None


def test_optional_constrained_parameter_checks_the_constraint_only_when_present() -> None:
    route = RouteTemplate("page/{n:int?}", "api")

    assert params(route, "/api/page") == {}
    assert params(route, "/api/page/3") == {"n": "3"}
    assert params(route, "/api/page/x") is None


def test_default_values_fill_missing_trailing_segments() -> None:
    route = RouteTemplate("list/{sort=name}/{page?}", "api")

    assert params(route, "/api/list") == {"sort": "name"}
    assert params(route, "/api/list/price") == {"sort": "price"}
    assert params(route, "/api/list/price/2") == {"sort": "price", "page": "2"}


def test_catch_all_takes_the_rest_of_the_path() -> None:
    route = RouteTemplate("files/{*path}", "api")

    assert params(route, "/api/files/a/b/c.txt") == {"path": "a/b/c.txt"}
    assert params(route, "/api/files") == {}


def test_several_parameters_in_one_segment_split_at_the_last_literal() -> None:
    route = RouteTemplate("images/{name}.{ext}", "api")

    assert params(route, "/api/images/photo.large.png") == {"name": "photo.large", "ext": "png"}
    assert params(route, "/api/images/photo") is None


def test_literal_segments_take_precedence_over_parameters() -> None:
    literal = RouteTemplate("products/search", "api")
    constrained = RouteTemplate("products/{id:int}", "api")
    plain = RouteTemplate("products/{id}", "api")
    catch_all = RouteTemplate("products/{*rest}", "api")

    ordered = sorted([catch_all, plain, constrained, literal], key=lambda route: route.precedence)

    assert ordered == [literal, constrained, plain, catch_all]


@pytest.mark.parametrize(
    "template",
    [
        "products/{id",
        "products/id}",
        "products/{}",
        "products/{id?}/details",
        "files/{*path}/more",
        "a/{id}/b/{ID}",
    ],
)
def test_malformed_templates_are_refused_with_the_route_named(template: str) -> None:
    with pytest.raises(RouteTemplateError, match="route"):
        RouteTemplate(template, "api")

"""Route templates as the Functions host reads them, translated for aiohttp's router: parameters, constraints,
optional segments, prefix, case, precedence between routes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from aiohttp.test_utils import make_mocked_request

from devhost.router import FunctionRouter, RouteFound, RouteMissing
from devhost.routes import RouteTemplateError, translate_route


def router_for(*templates: str, prefix: str = "api", methods: Sequence[str] = ("GET",)) -> FunctionRouter[str]:
    """A router serving each template (in the order given) with the template itself as the target."""
    router: FunctionRouter[str] = FunctionRouter()
    for template in templates:
        router.add(translate_route(template, prefix), methods, template)
    return router


async def resolve(router: FunctionRouter[str], path: str, method: str = "GET") -> RouteFound[str] | RouteMissing:
    return await router.resolve(make_mocked_request(method, path))


async def params(template: str, path: str, prefix: str = "api") -> dict[str, str] | None:
    """The route parameters ``template`` serves ``path`` with, or ``None`` when it does not serve it."""
    found = await resolve(router_for(template, prefix=prefix), path)
    return found.params if isinstance(found, RouteFound) else None


def test_templates_become_aiohttp_paths_with_a_regex_per_parameter_and_lower_case_literals() -> None:
    assert translate_route("Products/{id}", "api").paths == ("/api/products/{id:[^/]+}",)
    assert translate_route("items/{id:int}", "api").paths == (r"/api/items/{id:[+-]?\d+}",)
    assert translate_route("openapi.json", "").paths == ("/openapi.json",)
    assert translate_route("files/{*path}", "api").paths == ("/api/files", r"/api/files/{path:[\s\S]+}")
    assert translate_route("list/{sort=name}/{page?}", "api").paths == (
        "/api/list",
        "/api/list/{sort:[^/]+}",
        "/api/list/{sort:[^/]+}/{page:[^/]+}",
    )
    assert translate_route("Products/{id}", "api").template == "api/Products/{id}"


async def test_parameters_are_captured_under_the_route_prefix() -> None:
    assert await params("products/{id}", "/api/products/abc-1") == {"id": "abc-1"}
    assert await params("products/{id}", "/products/abc-1") is None
    assert await params("products/{id}", "/api/products") is None
    assert await params("products/{id}", "/api/products/a/b") is None


async def test_prefix_can_be_empty_or_custom() -> None:
    assert await params("products/{id}", "/products/7", prefix="") == {"id": "7"}
    assert await params("products/{id}", "/v1/products/7", prefix="/v1/") == {"id": "7"}
    assert await params("products/{id}", "/api/products/7", prefix="v1") is None


async def test_matching_ignores_case_but_keeps_the_case_of_values_and_ignores_one_trailing_slash() -> None:
    assert await params("Products/{id}", "/API/products/X1") == {"id": "X1"}
    assert await params("Products/{id}", "/api/PRODUCTS/X1/") == {"id": "X1"}
    assert await params("Products/{id}", "/api/products/X1//") is None


async def test_parameter_values_are_url_decoded_after_splitting_segments() -> None:
    assert await params("products/{id}", "/api/products/a%20b") == {"id": "a b"}
    # An encoded slash stays inside its segment instead of making a new one.
    assert await params("products/{id}", "/api/products/a%2Fb") == {"id": "a/b"}
    assert await params("products/{id}", "/api/products/%C3%89t%C3%A9") == {"id": "Été"}


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
async def test_constraints_accept_and_refuse_segments(template: str, good: list[str], bad: list[str]) -> None:
    for value in good:
        assert await params(template, f"/api/items/{value}") == {"id": value}, value
    for value in bad:
        assert await params(template, f"/api/items/{value}") is None, value


async def test_unknown_constraints_accept_any_segment() -> None:
    assert await params("events/{day:datetime}", "/api/events/2024-01-31") == {"day": "2024-01-31"}
    assert await params("events/{day:datetime}", "/api/events/whenever") == {"day": "whenever"}


async def test_optional_parameter_may_be_left_out() -> None:
    assert await params("search/{category?}", "/api/search") == {}
    assert await params("search/{category?}", "/api/search/") == {}
    assert await params("search/{category?}", "/api/search/bikes") == {"category": "bikes"}
    assert await params("search/{category?}", "/api/search/bikes/more") is None


async def test_optional_constrained_parameter_checks_the_constraint_only_when_present() -> None:
    assert await params("page/{n:int?}", "/api/page") == {}
    assert await params("page/{n:int?}", "/api/page/3") == {"n": "3"}
    assert await params("page/{n:int?}", "/api/page/x") is None


async def test_default_values_fill_missing_trailing_segments() -> None:
    assert await params("list/{sort=name}/{page?}", "/api/list") == {"sort": "name"}
    assert await params("list/{sort=name}/{page?}", "/api/list/price") == {"sort": "price"}
    assert await params("list/{sort=name}/{page?}", "/api/list/price/2") == {"sort": "price", "page": "2"}


async def test_catch_all_takes_the_rest_of_the_path() -> None:
    assert await params("files/{*path}", "/api/files/a/B/c.txt") == {"path": "a/B/c.txt"}
    assert await params("files/{*path}", "/api/files") == {}


async def test_several_parameters_in_one_segment_split_at_the_last_literal() -> None:
    assert await params("images/{name}.{ext}", "/api/images/photo.large.png") == {"name": "photo.large", "ext": "png"}
    assert await params("images/{name}.{ext}", "/api/images/photo") is None


async def test_literal_segments_take_precedence_over_constrained_then_plain_parameters_then_catch_alls() -> None:
    templates = ["products/{*rest}", "products/{id}", "products/{id:int}", "products/search"]
    ordered = sorted(templates, key=lambda template: translate_route(template, "api").precedence)
    router = router_for(*ordered)

    assert ordered == ["products/search", "products/{id:int}", "products/{id}", "products/{*rest}"]
    for path, served_by in [
        ("/api/products/SEARCH", "products/search"),
        ("/api/products/42", "products/{id:int}"),
        ("/api/products/tent", "products/{id}"),
        ("/api/products/tent/poles", "products/{*rest}"),
    ]:
        found = await resolve(router, path)
        assert isinstance(found, RouteFound) and found.target == served_by, path


async def test_a_path_served_for_other_methods_only_is_a_405_naming_every_one_of_them() -> None:
    router: FunctionRouter[str] = FunctionRouter()
    router.add(translate_route("products/{id}", "api"), ["GET", "PUT"], "product")
    router.add(translate_route("products/{id}", "api"), ["DELETE"], "forget")
    router.add(translate_route("products", "api"), ["POST"], "bulk")

    assert await resolve(router, "/api/products/tent", "PATCH") == RouteMissing(405, ("DELETE", "GET", "PUT"))
    assert await resolve(router, "/api/products", "GET") == RouteMissing(405, ("POST",))
    assert await resolve(router, "/api/nothing", "GET") == RouteMissing(404)
    deleted = await resolve(router, "/api/products/tent", "DELETE")
    assert isinstance(deleted, RouteFound) and deleted.target == "forget"


def test_two_functions_serving_the_same_route_and_method_are_refused() -> None:
    router: FunctionRouter[str] = FunctionRouter()
    router.add(translate_route("products/{id}", "api"), ["GET"], "first")
    router.add(translate_route("products", "api"), ["GET"], "in between")

    with pytest.raises(ValueError, match="GET api/Products/{id}"):
        router.add(translate_route("Products/{id}", "api"), ["PUT", "GET"], "second")


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
        translate_route(template, "api")

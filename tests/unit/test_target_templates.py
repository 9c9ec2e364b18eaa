"""Validation of target templates: HTTP URL and header placeholders, email bodies."""

from __future__ import annotations

from typing import Any

import pytest

from mapper.engine.validate import problems_of


def _problems(target: dict[str, Any]) -> dict[str, str]:
    doc = {"name": "t", "source": {"type": "webhook"}, "target": target}
    return {p.path: p.message for p in problems_of(doc, allow=())}


def _http(url: str, **more: Any) -> dict[str, Any]:
    return {"type": "http", "url": url, **more}


def _email(**more: Any) -> dict[str, Any]:
    return {
        "type": "email",
        "smtpServer": "smtp.example.com",
        "fromEmail": "a@example.com",
        "toEmail": "b@example.com",
        **more,
    }


def test_placeholders_in_path_and_query_are_valid() -> None:
    url = "https://api.example.com/v1/customers/{{ customer.id }}/notes?ref={{items[0].ref}}"
    assert _problems(_http(url, headers={"X-Tenant": "t-{{tenant}}"})) == {}


@pytest.mark.parametrize(
    "url",
    [
        "https://{{host}}/x",
        "https://api.{{region}}.example.com/x",
        "https://api.example.com:{{port}}/x",
        "{{scheme}}://api.example.com/x",
    ],
)
def test_a_placeholder_in_the_scheme_host_or_port_is_a_problem(url: str) -> None:
    assert "host decides where" in _problems(_http(url))["target.url"]


def test_a_placeholder_in_the_fragment_is_a_problem() -> None:
    assert "fragment" in _problems(_http("https://a.example.com/x#{{y}}"))["target.url"]


def test_the_address_checks_apply_to_the_url_around_the_placeholders() -> None:
    problems = _problems(_http("http://127.0.0.1/u/{{id}}"))
    assert "not allowlisted" in problems["target.url"]


def test_a_placeholder_path_that_does_not_parse_is_a_problem_at_its_field() -> None:
    problems = _problems(_http("https://a.example.com/{{a..b}}", headers={"X-A": "{{[}}"}))
    assert set(problems) == {"target.url", "target.headers.X-A"}
    assert problems["target.url"].startswith("placeholder {{a..b}}")


def test_email_templates_are_checked() -> None:
    assert _problems(_email(body="Hi {{name}}", bodyType="html")) == {}
    problems = _problems(_email(body="{{[}}", subject="{{a..}}"))
    assert set(problems) == {"target.body", "target.subject"}


def test_an_html_body_type_needs_a_body_template() -> None:
    assert "needs a body template" in _problems(_email(bodyType="html"))["target.bodyType"]


def test_a_body_type_other_than_text_or_html_is_a_problem() -> None:
    assert "target.bodyType" in _problems(_email(body="x", bodyType="markdown"))


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST.", "api.localhost", "127.0.0.1"])
def test_localhost_is_judged_as_loopback_like_its_addresses(host: str) -> None:
    doc = {"name": "t", "source": {"type": "webhook"}, "target": _http(f"http://{host}/x")}
    assert "not allowlisted" in {p.path: p.message for p in problems_of(doc, allow=())}[
        "target.url"
    ]
    assert problems_of(doc, allow=["127.0.0.0/8"]) == []

"""Validator rules beyond "one code, one case": inheritance, topology, suppression, suggestions."""

from __future__ import annotations

import textwrap

import pytest

from factflow_engine.config import AdapterConfigChecker, PipelineConfigLoader, ValidationIssue, ValidationReport

BASE = """\
version: "1.0"
routes:
  scrape:
    inbound: {queue: site.scrape}
    adapters:
      - type: web_scraper
init_message: {route: scrape}
"""


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def found(report: ValidationReport) -> list[tuple[str, str]]:
    return [(issue.code, issue.path) for issue in report.issues]


def issue_for(report: ValidationReport, code: str) -> ValidationIssue:
    matches = [issue for issue in report.issues if issue.code == code]
    assert len(matches) == 1, found(report)
    return matches[0]


def test_base_is_clean(loader: PipelineConfigLoader) -> None:
    assert loader.validate(BASE).issues == ()


def test_every_error_is_reported_in_one_pass(loader: PipelineConfigLoader) -> None:
    report = loader.validate(
        doc(
            """
            version: 1
            extra: true
            routes:
              scrape:
                inbound: {queue: /topic/x, concurrency: 0}
                adapters:
                  - type: web_scrapr
                    condition: {field: a, operator: bogus}
                    timeout_seconds: 0
                outbound: [{queue: "a b"}]
                error_handling: {max_retries: 99, tolerated_failures: 1}
            init_message: {route: scraper}
            orchestrator: {max_hops: 0}
            """
        )
    )
    assert found(report) == [
        ("E012", "version"),
        ("E020", "extra"),
        ("E203", "routes.scrape.inbound.queue"),
        ("E206", "routes.scrape.inbound.concurrency"),
        ("E103", "routes.scrape.adapters[0].type"),
        ("E401", "routes.scrape.adapters[0].condition.operator"),
        ("E513", "routes.scrape.adapters[0].timeout_seconds"),
        ("E201", "routes.scrape.outbound[0].queue"),
        ("E501", "routes.scrape.error_handling.max_retries"),
        ("E504", "routes.scrape.error_handling.tolerated_failures"),
        ("E106", "init_message.route"),
        ("E514", "orchestrator.max_hops"),
    ]
    assert [issue.line for issue in report.issues] == [1, 2, 5, 5, 7, 8, 9, 10, 11, 11, 12, 13]


def test_issues_are_ordered_errors_first_then_by_position(loader: PipelineConfigLoader) -> None:
    report = loader.validate(
        BASE.replace("init_message: {route: scrape}\n", "")
        + "backpressure: {max_concurrency: 50}\nerror_handling: {max_retries: -1}\n"
    )
    assert found(report) == [
        ("E501", "error_handling.max_retries"),
        ("W503", ""),
        ("W501", "routes.scrape"),  # without an init route nothing feeds it
        ("W506", "backpressure.max_concurrency"),
    ]
    assert report.error_count == 1 and report.warning_count == 3 and not report.is_valid


def test_broken_routes_suppress_only_dependent_checks(loader: PipelineConfigLoader) -> None:
    report = loader.validate(
        'version: "1.0"\nroutes: 5\ninit_message: {route: anything}\nbackpressure: {increase_step: 0}\n'
    )
    assert found(report) == [("E021", "routes"), ("E507", "backpressure.increase_step")]


def test_broken_init_message_suppresses_w501(loader: PipelineConfigLoader) -> None:
    two_routes = doc(
        """
        version: "1.0"
        routes:
          a:
            inbound: {queue: qa}
            adapters: [{type: passthrough}]
          b:
            inbound: {queue: qb}
            adapters: [{type: passthrough}]
        init_message: {route: c}
        """
    )
    assert found(loader.validate(two_routes)) == [("E106", "init_message.route")]
    no_init = two_routes.replace("init_message: {route: c}\n", "")
    assert found(loader.validate(no_init)) == [("W503", ""), ("W501", "routes.a"), ("W501", "routes.b")]


@pytest.mark.parametrize(
    ("text", "path", "suggestion"),
    [
        (BASE + "route: x\n", "route", "Unknown key 'route'. Did you mean 'routes'?"),
        (
            BASE.replace("{queue: site.scrape}", "{queue: site.scrape, prefetch_count: 2}"),
            "routes.scrape.inbound.prefetch_count",
            "Unknown key 'prefetch_count'. Did you mean 'prefetch'?",
        ),
        (
            BASE.replace("    adapters:", "    adapter: []\n    adapters:"),
            "routes.scrape.adapter",
            "Unknown key 'adapter'. Did you mean 'adapters'?",
        ),
        (
            BASE.replace("web_scraper", "web_scraper\n        condtion: null"),
            "routes.scrape.adapters[0].condtion",
            "Unknown key 'condtion'. Did you mean 'condition'?",
        ),
        (
            BASE + "orchestrator: {max_handler: 3}\n",
            "orchestrator.max_handler",
            "Unknown key 'max_handler'. Did you mean 'max_handlers'?",
        ),
        (
            BASE + "circuit_breaker: {zzz: 3}\n",
            "circuit_breaker.zzz",
            "Unknown key 'zzz'; allowed keys: "
            "enabled, failure_threshold, recovery_timeout_seconds, half_open_max_calls.",
        ),
        (
            BASE.replace("{route: scrape}", "{route: scrape, payloads: {}}"),
            "init_message.payloads",
            "Unknown key 'payloads'. Did you mean 'payload'?",
        ),
    ],
)
def test_unknown_keys_with_did_you_mean(loader: PipelineConfigLoader, text: str, path: str, suggestion: str) -> None:
    report = loader.validate(text)
    (issue,) = report.issues
    assert issue.path == path and issue.suggestion == suggestion
    assert issue.code == ("E020" if "." not in path else "E031")


@pytest.mark.parametrize(
    ("text", "path", "suggestion"),
    [
        (BASE.replace("    inbound: {queue: site.scrape}\n", ""), "routes.scrape", "Add 'inbound' to routes.scrape."),
        (BASE.replace("{queue: site.scrape}", "{}"), "routes.scrape.inbound", "Add 'queue' to routes.scrape.inbound."),
        (
            BASE.replace("- type: web_scraper", "- stage: x"),
            "routes.scrape.adapters[0]",
            "Add 'type' to routes.scrape.adapters[0].",
        ),
        (BASE.replace("{route: scrape}", "{payload: {}}"), "init_message", "Add 'route' to init_message."),
        (
            BASE.replace("    adapters:", "    outbound: [{condition: null}]\n    adapters:"),
            "routes.scrape.outbound[0]",
            "Add 'queue' to routes.scrape.outbound[0].",
        ),
    ],
)
def test_missing_required_keys_point_at_the_parent(
    loader: PipelineConfigLoader, text: str, path: str, suggestion: str
) -> None:
    issue = issue_for(loader.validate(text), "E032")
    assert issue.path == path and issue.suggestion == suggestion


def test_type_errors_name_the_value(loader: PipelineConfigLoader) -> None:
    report = loader.validate(BASE.replace("{queue: site.scrape}", "{queue: site.scrape, concurrency: '5'}"))
    issue = issue_for(report, "E030")
    assert issue.suggestion == "'inbound.concurrency' must be an integer, got '5'."
    for bad, expected in [("true", "true"), ("2.5", "2.5"), ("[1]", "a list"), ("null", "null")]:
        text = BASE.replace("{queue: site.scrape}", f"{{queue: site.scrape, prefetch: {bad}}}")
        assert issue_for(loader.validate(text), "E030").suggestion.endswith(f"got {expected}.")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        (BASE + "name: ''\n", "name"),
        (BASE + f"name: {'n' * 201}\n", "name"),
        (BASE + f"description: {'d' * 2001}\n", "description"),
        (BASE.replace("  scrape:\n", "  scrape:\n    name: [x]\n"), "routes.scrape.name"),
        (BASE.replace("{route: scrape}", "{route: scrape, payload: [1]}"), "init_message.payload"),
        (BASE.replace("{route: scrape}", "{route: scrape, payload: {a: [1, .nan]}}"), "init_message.payload.a[1]"),
        (BASE.replace("{route: scrape}", "{route: 7}"), "init_message.route"),
        (BASE.replace("init_message: {route: scrape}", "init_message: scrape"), "init_message"),
        (BASE.replace("  scrape:\n    inbound: {queue: site.scrape}\n", "  scrape: [1]\n  other:\n"), "routes.scrape"),
        (BASE.replace("- type: web_scraper", "- web_scraper"), "routes.scrape.adapters[0]"),
        (BASE.replace("- type: web_scraper", "- type: 5"), "routes.scrape.adapters[0].type"),
        (BASE + "error_handling: [1]\n", "error_handling"),
        (BASE + "backpressure: {enabled: yes}\n", "backpressure.enabled"),
        (BASE.replace("{queue: site.scrape}", "{queue: 5}"), "routes.scrape.inbound.queue"),
    ],
)
def test_e030_cases(loader: PipelineConfigLoader, text: str, path: str) -> None:
    assert issue_for(loader.validate(text), "E030").path == path


@pytest.mark.parametrize(
    ("queue", "code"),
    [
        ("/topic/site.x", "E203"),
        ("amqp://broker/x", "E203"),
        ("persistent://tenant/ns/x", "E203"),
        ("/site.x", "E203"),
        ("/queue//site.x", "E203"),
        ("/queue/", "E201"),
        (".hidden", "E201"),
        ("a b", "E201"),
        ("x" * 129, "E201"),
        ("ümlaut", "E201"),
    ],
)
def test_queue_name_rules(loader: PipelineConfigLoader, queue: str, code: str) -> None:
    report = loader.validate(BASE.replace("{queue: site.scrape}", f"{{queue: '{queue}'}}"))
    assert found(report) == [(code, "routes.scrape.inbound.queue")]


@pytest.mark.parametrize("queue", ["/queue/site.x", "site.x", "A-b_c.9", "x" * 128, "/queue/" + "y" * 128])
def test_valid_queue_names(loader: PipelineConfigLoader, queue: str) -> None:
    assert loader.validate(BASE.replace("{queue: site.scrape}", f"{{queue: '{queue}'}}")).issues == ()


def test_dead_letter_queue_rules(loader: PipelineConfigLoader) -> None:
    own_default = BASE.replace("{queue: site.scrape}", "{queue: dlq.scrape}")
    issue = issue_for(loader.validate(own_default), "E204")
    assert issue.path == "routes.scrape.error_handling.dead_letter_queue"
    assert issue.suggestion == "Use a separate queue such as 'dlq.scrape.dead'."
    top = BASE + "error_handling: {dead_letter_queue: /queue/site.scrape}\n"
    issue = issue_for(loader.validate(top), "E204")
    assert issue.path == "error_handling.dead_letter_queue" and issue.line == 8
    overridden = top.replace("    adapters:", "    error_handling: {dead_letter_queue: errors}\n    adapters:")
    assert loader.validate(overridden).issues == ()
    bad = BASE + "error_handling: {dead_letter_queue: 'redis://x'}\n"
    assert found(loader.validate(bad)) == [("E203", "error_handling.dead_letter_queue")]


def test_route_overrides_are_merged_field_by_field(loader: PipelineConfigLoader) -> None:
    text = BASE.replace("    adapters:", "    error_handling: {retry_delay_seconds: 120}\n    adapters:") + (
        "error_handling: {max_retry_delay_seconds: 60}\n"
    )
    issue = issue_for(loader.validate(text), "E502")
    assert issue.path == "routes.scrape.error_handling.retry_delay_seconds"
    assert issue.suggestion == "max_retry_delay_seconds (60) must be ≥ retry_delay_seconds (120)."
    fixed = text.replace("{retry_delay_seconds: 120}", "{retry_delay_seconds: 120, max_retry_delay_seconds: 600}")
    assert loader.validate(fixed).issues == ()


def test_inconsistent_top_level_policy_is_reported_once(loader: PipelineConfigLoader) -> None:
    two = doc(
        """
        version: "1.0"
        routes:
          a:
            inbound: {queue: qa}
            adapters: [{type: passthrough}]
            outbound: [{queue: qb}]
          b:
            inbound: {queue: qb}
            adapters: [{type: passthrough}]
        init_message: {route: a}
        backpressure: {high_water_mark: 10, low_water_mark: 20}
        """
    )
    assert found(loader.validate(two)) == [("E508", "backpressure.low_water_mark")]


def test_route_water_mark_against_inherited_default(loader: PipelineConfigLoader) -> None:
    text = BASE.replace("    adapters:", "    backpressure: {high_water_mark: 100}\n    adapters:")
    assert found(loader.validate(text)) == [("E508", "routes.scrape.backpressure.high_water_mark")]


def test_e506_uses_the_effective_max_concurrency(loader: PipelineConfigLoader) -> None:
    top_max = BASE.replace("{queue: site.scrape}", "{queue: site.scrape, concurrency: 8, prefetch: 8}")
    top_max += "backpressure: {max_concurrency: 4}\n"
    issue = issue_for(loader.validate(top_max), "E506")
    assert issue.path == "routes.scrape.inbound.concurrency"
    assert issue.suggestion == "concurrency (8) exceeds max_concurrency (4)."
    route_max = top_max.replace("    adapters:", "    backpressure: {max_concurrency: 8}\n    adapters:")
    assert loader.validate(route_max).issues == ()
    above_min = BASE + "backpressure: {min_concurrency: 3}\n"  # concurrency defaults to 1
    assert found(loader.validate(above_min)) == [("E506", "routes.scrape.inbound.concurrency")]
    crossed = BASE.replace("    adapters:", "    backpressure: {max_concurrency: 2}\n    adapters:")
    crossed += "backpressure: {min_concurrency: 3}\n"
    assert ("E506", "routes.scrape.backpressure.max_concurrency") in found(loader.validate(crossed))


def test_w505_and_w506(loader: PipelineConfigLoader) -> None:
    low_prefetch = BASE.replace("{queue: site.scrape}", "{queue: site.scrape, concurrency: 5, prefetch: 2}")
    issue = issue_for(loader.validate(low_prefetch), "W505")
    assert issue.suggestion == "prefetch (2) caps parallelism below concurrency (5)."
    assert [i.code for i in loader.validate(low_prefetch).issues] == ["W505"]
    high_limit = BASE.replace("    adapters:", "    backpressure: {max_concurrency: 30}\n    adapters:")
    issue = issue_for(loader.validate(high_limit), "W506")
    assert issue.path == "routes.scrape.backpressure.max_concurrency"
    assert issue.suggestion == "The limit can never exceed prefetch (10); raise prefetch."


def test_tolerated_failures_only_at_top_level(loader: PipelineConfigLoader) -> None:
    assert loader.validate(BASE + "error_handling: {tolerated_failures: 10}\n").issues == ()
    text = BASE.replace("    adapters:", "    error_handling: {tolerated_failures: 1}\n    adapters:")
    issue = issue_for(loader.validate(text), "E504")
    assert issue.suggestion == "Move it to the top-level error_handling."
    assert [i.code for i in loader.validate(text).issues] == ["E504"]


def test_adapter_breaker_override(loader: PipelineConfigLoader) -> None:
    text = BASE.replace(
        "- type: web_scraper", "- type: web_scraper\n        circuit_breaker: {failure_threshold: 0, enabled: 1}"
    )
    assert found(loader.validate(text)) == [
        ("E509", "routes.scrape.adapters[0].circuit_breaker.failure_threshold"),
        ("E030", "routes.scrape.adapters[0].circuit_breaker.enabled"),
    ]


@pytest.mark.parametrize("stage", ["a/b-c/D_9", "x" * 64, "/".join(["s"] * 64)])
def test_valid_stages(loader: PipelineConfigLoader, stage: str) -> None:
    assert (
        loader.validate(BASE.replace("- type: web_scraper", f"- type: web_scraper\n        stage: '{stage}'")).issues
        == ()
    )


@pytest.mark.parametrize("stage", ["_raw", "a/_b", "a//b", "/a", "a/", "x" * 65, "/".join(["ss"] * 44), "a b", ""])
def test_malformed_stages(loader: PipelineConfigLoader, stage: str) -> None:
    text = BASE.replace("- type: web_scraper", f"- type: web_scraper\n        stage: '{stage}'")
    assert found(loader.validate(text)) == [("E105", "routes.scrape.adapters[0].stage")]


def test_duplicate_stage_from_explicit_name(loader: PipelineConfigLoader) -> None:
    text = BASE.replace(
        "- type: web_scraper", "- type: passthrough\n        stage: web_scraper\n      - type: web_scraper"
    )
    issue = issue_for(loader.validate(text), "E104")
    assert issue.path == "routes.scrape.adapters[1].stage"
    assert issue.suggestion == "'web_scraper' is used by adapters[0]; set a distinct 'stage:'."


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ("[checksum]", "metadata_fields[0]"),
        ("[{name: route_id, path: route}]", "metadata_fields[0].name"),
        ("[a.title, b.title]", "metadata_fields[1]"),
        ("[{name: t, path: a}, {name: t, path: b}]", "metadata_fields[1].name"),
        ("['a..b']", "metadata_fields[0]"),
        ("[{name: t, path: 'a b'}]", "metadata_fields[0].path"),
    ],
)
def test_metadata_fields(loader: PipelineConfigLoader, fields: str, path: str) -> None:
    text = BASE.replace("- type: web_scraper", f"- type: web_scraper\n        storage: {{metadata_fields: {fields}}}")
    assert found(loader.validate(text)) == [("E512", f"routes.scrape.adapters[0].storage.{path}")]


def test_reserved_name_suggestion(loader: PipelineConfigLoader) -> None:
    text = BASE.replace("- type: web_scraper", "- type: web_scraper\n        storage: {metadata_fields: [checksum]}")
    assert issue_for(loader.validate(text), "E512").suggestion == (
        "'checksum' is reserved; use {name: source_checksum, path: checksum}."
    )


def test_conditions_are_checked_in_outbound_too(loader: PipelineConfigLoader) -> None:
    text = BASE.replace(
        "    adapters:",
        "    outbound:\n      - queue: out\n"
        "        condition: {any: [{field: x, operator: in, value: 1}]}\n    adapters:",
    )
    assert ("E404", "routes.scrape.outbound[0].condition.any[0].value") in found(loader.validate(text))


def test_route_limits(loader: PipelineConfigLoader) -> None:
    def routes(count: int) -> str:
        body = "".join(
            f"  r{i}:\n    inbound: {{queue: q{i}}}\n    adapters: [{{type: passthrough}}]\n" for i in range(count)
        )
        return 'version: "1.0"\nroutes:\n' + body

    assert "E108" not in loader.validate(routes(100)).codes()
    assert "E108" in loader.validate(routes(101)).codes()


def test_adapter_limits(loader: PipelineConfigLoader) -> None:
    def chain(count: int) -> str:
        entries = "".join(f"      - {{type: passthrough, stage: s{i}}}\n" for i in range(count))
        return BASE.replace("      - type: web_scraper\n", entries)

    assert loader.validate(chain(50)).issues == ()
    assert found(loader.validate(chain(51))) == [("E109", "routes.scrape.adapters")]
    assert found(loader.validate(BASE.replace("adapters:\n      - type: web_scraper", "adapters:"))) == [
        ("E102", "routes.scrape.adapters")
    ]


def test_route_id_suggestion(loader: PipelineConfigLoader) -> None:
    text = BASE.replace("  scrape:", "  Scrape Pages:").replace("route: scrape", "route: 'Scrape Pages'")
    assert issue_for(loader.validate(text), "E101").suggestion == "Rename 'Scrape Pages' to e.g. 'scrape_pages'."
    text = BASE.replace("  scrape:", "  '1st':").replace("route: scrape", "route: '1st'")
    assert issue_for(loader.validate(text), "E101").suggestion == "Rename '1st' to e.g. 'route_1st'."


def test_init_route_suggestion(loader: PipelineConfigLoader) -> None:
    issue = issue_for(loader.validate(BASE.replace("route: scrape", "route: scraper")), "E106")
    assert issue.suggestion == "Route 'scraper' does not exist. Did you mean 'scrape'?"
    issue = issue_for(loader.validate(BASE.replace("route: scrape", "route: zzz")), "E106")
    assert issue.suggestion == "Use one of: scrape."


def test_null_optional_sections_mean_defaults(loader: PipelineConfigLoader) -> None:
    text = doc(
        """
        version: "1.0"
        name:
        description:
        routes:
          scrape:
            name:
            inbound: {queue: site.scrape, subscription: null}
            adapters:
              - type: web_scraper
                config:
                condition: null
                stage: null
                storage: null
                circuit_breaker: null
                timeout_seconds: null
            outbound: null
            error_handling: null
            backpressure: {max_concurrency: null}
        init_message: {route: scrape, payload: null}
        error_handling: null
        orchestrator: null
        """
    )
    assert loader.validate(text).issues == ()


class _Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object, bool, str]] = []

    def check_adapter(
        self, adapter_type: str, config: object, *, config_given: bool, path: str
    ) -> list[ValidationIssue]:
        self.calls.append((adapter_type, config, config_given, path))
        return []


def test_checker_receives_each_entry() -> None:
    checker = _Recording()
    text = BASE.replace(
        "      - type: web_scraper\n",
        "      - type: web_scraper\n      - type: a\n        config: {x: 1}\n      - type: b\n        config:\n"
        "      - type: 7\n      - type: c\n        config: [1]\n",
    )
    assert PipelineConfigLoader(checker).validate(text).codes() == ["E030", "E305"]
    assert checker.calls == [
        ("web_scraper", {}, False, "routes.scrape.adapters[0]"),
        ("a", {"x": 1}, True, "routes.scrape.adapters[1]"),
        ("b", {}, False, "routes.scrape.adapters[2]"),
        ("c", [1], True, "routes.scrape.adapters[4]"),
    ]


def test_without_a_checker_types_are_not_checked() -> None:
    assert PipelineConfigLoader().validate(BASE.replace("web_scraper", "anything_goes")).issues == ()


class _Exploding:
    def check_adapter(
        self, adapter_type: str, config: object, *, config_given: bool, path: str
    ) -> list[ValidationIssue]:
        raise RuntimeError("registry bug")


def test_a_crashing_checker_becomes_e308(caplog: pytest.LogCaptureFixture) -> None:
    checker: AdapterConfigChecker = _Exploding()
    report = PipelineConfigLoader(checker).validate(BASE)
    assert found(report) == [("E308", "routes.scrape.adapters[0].config")]
    assert report.issues[0].line == 6
    assert "registry bug" in caplog.text


def test_checker_issues_get_positions(loader: PipelineConfigLoader) -> None:
    text = BASE.replace(
        "- type: web_scraper", "- type: web_scraper\n        config:\n          timeout: 30\n          timout: 1"
    )
    issue = issue_for(loader.validate(text), "E301")
    assert (issue.path, issue.line, issue.column) == ("routes.scrape.adapters[0].config.timout", 9, 11)

"""A corpus of broken files: the validator never raises and always answers with a sound report.

Hand-written files cover the odd corners; programmatic mutations (truncations, deleted,
duplicated, re-indented and swapped lines, replaced values) of valid files add a few hundred
more. Any file that comes out without errors must also load and round-trip through the models.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from factflow_engine.config import PipelineConfigLoader, PipelineGlobalConfig, ValidationReport
from factflow_engine.config.codes import CODES

DATA = Path(__file__).parent / "data"
SEEDS = [path.read_text(encoding="utf-8") for path in sorted(DATA.glob("spec_10_*.yaml"))] + [
    info.fix for info in CODES.values() if info.fix is not None and info.code in {"E202", "E208", "E506", "W504"}
]

ONE_ROUTE = 'version: "1.0"\nroutes: {a: {inbound: {queue: q}, adapters: [{type: x'

HAND_WRITTEN: list[str | bytes] = [
    "",
    "\n\n\n",
    "~",
    "version",
    'version: "1.0"',
    'version: "1.0"\nroutes:\n',
    'version: "1.0"\nroutes: ~\n',
    'version: "1.0"\nroutes: {a: }\n',
    'version: "1.0"\nroutes: {a: {inbound: }}\n',
    'version: "1.0"\nroutes: {a: {inbound: {queue: }, adapters: }}\n',
    'version: "1.0"\nroutes: {a: {inbound: {queue: q}, adapters: [~, 1, [], {}]}}\n',
    'version: "1.0"\nroutes: {a: {inbound: {queue: q}, adapters: [{type: x, config: 1, stage: 2, storage: 3}]}}\n',
    ONE_ROUTE + ", circuit_breaker: 1, timeout_seconds: x}]}}\n",
    'version: "1.0"\nroutes: {a: {inbound: {queue: q}, adapters: [{type: x}], outbound: 5}}\n',
    'version: "1.0"\nroutes: {a: {inbound: {queue: q}, adapters: [{type: x}], outbound: [1, [], {queue: []}]}}\n',
    'version: "1.0"\nroutes: {a: {inbound: {queue: q}, adapters: [{type: x, condition: [1]}]}}\n',
    'version: "1.0"\nroutes: {a: {inbound: {queue: q}, adapters: [{type: x, condition: {all: [[], {}, 5]}}]}}\n',
    ONE_ROUTE + ", condition: {field: {a: 1}, operator: [], value: {}}}]}}\n",
    ONE_ROUTE + ", storage: {metadata_fields: [1, [], {}, {name: 1, path: 2}]}}]}}\n",
    ONE_ROUTE + ", storage: {enabled: 1, metadata_fields: x}}]}}\n",
    'version: "1.0"\nroutes: {a: {inbound: {queue: q}, adapters: [{type: x}], error_handling: 5, backpressure: [1]}}\n',
    ONE_ROUTE + "}], error_handling: {dead_letter_queue: 5}}}\n",
    'version: "1.0"\nroutes: {a: {inbound: {queue: q, concurrency: .nan, prefetch: .inf}, adapters: [{type: x}]}}\n',
    ONE_ROUTE + "}]}}\nbackpressure: {decrease_factor: .nan, target_latency_ms: -.inf}\n",
    ONE_ROUTE + "}]}}\nerror_handling: {retry_delay_seconds: .nan, max_retry_delay_seconds: .nan}\n",
    ONE_ROUTE + "}]}}\ninit_message: {route: [a], payload: 3}\n",
    'version: "1.0"\nroutes: {a: {inbound: {queue: q}, adapters: [{type: x}]}}\ninit_message: {}\n',
    'version: "1.0"\nroutes: {1: {inbound: {queue: q}, adapters: [{type: x}]}, true: 5, null: []}\n',
    'version: "1.0"\nroutes: {"": {inbound: {queue: ""}, adapters: [{type: ""}]}}\n',
    'version: "1.0"\nroutes: {"a.b[0]": {inbound: {queue: q}, adapters: [{type: x}]}}\n',
    "version: !!float 1.0\nroutes: !!map {}\n",
    "<<: {version: '1.0'}\nroutes: {}\n",
    "a: &a {b: *a}\n",
    "a: &a [1]\nb: *a\nc: *b\n",
    "? - complex\n: key\n",
    "--- !tag\na: 1\n",
    "%YAML 1.1\n---\nversion: '1.0'\nroutes: {}\n",
    "%YAML 9.9\n---\na: 1\n",
    "%TAG ! tag:example.com,2000:\n---\na: !x 1\n",
    "version: '1.0'\r\nroutes:\r\n  a: {inbound: {queue: q}, adapters: [{type: x}]}\r\n",
    "\t",
    "a: |\n  literal\n   text\nb: >\n folded\n",
    "a: 'unterminated",
    'a: "bad \\escape"',
    "- - - - -",
    "{{{{",
    "]]]]",
    "a: b\n  c: d\n",
    "\u2028version: '1.0'",
    b"\xef\xbb\xbf\xef\xbb\xbfversion: '1.0'\n",
    b"version: '1.0'\x00\n",
    b"\xfe\xff\x00v",
    'version: "1.0"\nroutes:\n' + "".join(f"  r{i}: {{inbound: {{queue: q}}, adapters: []}}\n" for i in range(120)),
    'version: "1.0"\nroutes: {a: {inbound: {queue: q}, adapters: [{type: x, condition: '
    + "{all: [" * 30
    + "{field: a, operator: exists}"
    + "]}" * 30
    + "}]}}\n",
]

_VALUES = [
    "-1",
    "0",
    "1.5",
    "'x'",
    "[]",
    "{}",
    "null",
    "true",
    "'${HOME}'",
    "[1, [2]]",
    "{a: {b: c}}",
    ".nan",
    "'/topic/x'",
]


def _mutations(text: str, rng: random.Random) -> list[str]:
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    for cut in sorted(rng.sample(range(1, len(text)), 12)):
        out.append(text[:cut])
    for _ in range(10):
        index = rng.randrange(len(lines))
        out.append("".join(lines[:index] + lines[index + 1 :]))
        out.append("".join(lines[: index + 1] + lines[index:]))
        indented = list(lines)
        indented[index] = ("  " + indented[index]) if rng.random() < 0.5 else indented[index].lstrip(" ")
        out.append("".join(indented))
        swapped = list(lines)
        other = rng.randrange(len(lines))
        swapped[index], swapped[other] = swapped[other], swapped[index]
        out.append("".join(swapped))
    scalars = list(re.finditer(r"(?<=: )[^{\[\n#,}]+", text))
    for _ in range(20):
        match = rng.choice(scalars)
        out.append(text[: match.start()] + rng.choice(_VALUES) + text[match.end() :])
    keys = list(re.finditer(r"[a-z_]+(?=:)", text))
    for _ in range(6):
        match = rng.choice(keys)
        out.append(text[: match.start()] + match.group()[::-1] + text[match.end() :])
    return out


def _corpus() -> list[str | bytes]:
    rng = random.Random(20240611)
    corpus: list[str | bytes] = list(HAND_WRITTEN)
    for seed in SEEDS:
        assert seed is not None
        corpus += _mutations(seed, rng)
    return corpus


CORPUS = _corpus()


def test_corpus_is_a_few_hundred_files() -> None:
    assert len(CORPUS) > 400


def _assert_sound(report: ValidationReport) -> None:
    severities = [issue.severity for issue in report.issues]
    assert severities == sorted(severities, key=lambda severity: severity != "error")
    for issue in report.issues:
        assert issue.code in CODES, issue
        assert issue.severity == ("warning" if issue.code.startswith("W") else "error")
        assert isinstance(issue.path, str) and issue.message and issue.suggestion
        assert "failed unexpectedly" not in issue.message, issue
        assert issue.line is None or issue.line >= 1
        assert issue.column is None or issue.column >= 1
    if report.is_parse_failure:
        assert all(issue.code < "E010" for issue in report.issues), report.to_dict()
    assert report.error_count + report.warning_count == len(report.issues)


def test_corpus_never_raises_and_reports_soundly(loader: PipelineConfigLoader) -> None:
    loaded = 0
    for text in CORPUS:
        report = loader.validate(text)
        _assert_sound(report)
        if report.is_valid:
            config = loader.load(text)
            dumped = config.model_dump(by_alias=True, mode="json")
            assert PipelineGlobalConfig.model_validate(dumped) == config
            loaded += 1
    assert loaded > 20  # the mutations keep some files valid, which exercises the model build


@pytest.mark.parametrize("text", HAND_WRITTEN[:10])
def test_first_hand_written_files_are_invalid(loader: PipelineConfigLoader, text: str | bytes) -> None:
    assert not loader.validate(text).is_valid

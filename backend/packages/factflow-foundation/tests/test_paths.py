from __future__ import annotations

from factflow_foundation import ExecutionPathResolver


def test_layout_of_every_key() -> None:
    resolver = ExecutionPathResolver
    assert resolver.stage_prefix("E", "scrape", "markdown/segments") == "executions/E/scrape/markdown/segments/"
    assert resolver.output_key("E", "r", "s", "M") == "executions/E/r/s/M.json"
    assert resolver.manifest_key("E", "r", "s", "M") == "executions/E/r/s/M.fanout.json"
    assert resolver.artefact_key("E", "r", "s", "M", "page.html") == "executions/E/r/s/_artefacts/M/page.html"
    assert resolver.sidecar_key("executions/E/r/s/M.json") == "executions/E/r/s/M.json.meta.json"
    assert resolver.is_sidecar("a/b.json.meta.json")
    assert not resolver.is_sidecar("a/b.json")


def test_bound_paths_match_resolver() -> None:
    paths = ExecutionPathResolver.bind("E", "r", "s", "M")
    assert paths.output_key == ExecutionPathResolver.output_key("E", "r", "s", "M")
    assert paths.manifest_key == ExecutionPathResolver.manifest_key("E", "r", "s", "M")
    assert paths.artefact_key("x.bin") == "executions/E/r/s/_artefacts/M/x.bin"

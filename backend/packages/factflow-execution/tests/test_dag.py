from __future__ import annotations

from typing import Any

from factflow_engine.config import ConfigSnapshot
from factflow_execution import build_dag

LEAF = {"field": "url", "operator": "matches", "value": "^https://", "all": None, "any": None}
EXISTS = {"field": "lang", "operator": "exists", "value": None, "all": None, "any": None}
COMPOSITE = {
    "field": None,
    "operator": None,
    "value": None,
    "all": [LEAF, {"field": None, "operator": None, "value": None, "all": None, "any": [EXISTS]}],
    "any": None,
}


def _snapshot(init: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "config": {
            "version": "1.0",
            "routes": {
                "scrape": {
                    "name": "Scrape pages",
                    "description": "fetch",
                    "inbound": {"queue": "/queue/site.scrape"},
                    "adapters": [
                        {"type": "sitemap_parser", "stage": None, "condition": None},
                        {"type": "web_scraper", "stage": "pages/raw", "condition": COMPOSITE},
                    ],
                    "outbound": [
                        {"queue": "/queue/site.markdown", "condition": LEAF},
                        {"queue": "audit.nobody", "condition": None},
                    ],
                },
                "markdown": {
                    "name": None,
                    "description": None,
                    "inbound": {"queue": "site.markdown"},
                    "adapters": [{"type": "html_to_markdown", "stage": None, "condition": EXISTS}],
                    "outbound": [{"queue": "site.scrape", "condition": None}],
                },
                "sink": {
                    "name": None,
                    "description": None,
                    "inbound": {"queue": "sink.in"},
                    "adapters": [{"type": "echo", "stage": None, "condition": None}],
                    "outbound": [],
                },
            },
            "init_message": init,
        }
    }


def test_dag_nodes_edges_and_flags_from_snapshot() -> None:
    dag = build_dag("exec-1", ConfigSnapshot.model_validate(_snapshot({"route": "scrape", "payload": {}}))).model_dump(
        mode="json"
    )
    assert dag["execution_id"] == "exec-1"
    assert dag["init_route"] == "scrape"
    assert dag["init_queue"] == "site.scrape"
    scrape, markdown, sink = dag["nodes"]
    assert scrape == {
        "route_id": "scrape",
        "name": "Scrape pages",
        "description": "fetch",
        "inbound_queue": "site.scrape",
        "adapters": [
            {"index": 0, "type": "sitemap_parser", "stage": "sitemap_parser", "condition": None},
            {
                "index": 1,
                "type": "web_scraper",
                "stage": "pages/raw",
                "condition": {
                    "all": [
                        {"field": "url", "operator": "matches", "value": "^https://"},
                        {"any": [{"field": "lang", "operator": "exists"}]},
                    ]
                },
            },
        ],
        "outbound": [
            {"queue": "site.markdown", "condition": {"field": "url", "operator": "matches", "value": "^https://"}},
            {"queue": "audit.nobody", "condition": None},
        ],
        "is_init_route": True,
        "is_terminal": False,
    }
    assert markdown["name"] == "markdown" and not markdown["is_init_route"] and not markdown["is_terminal"]
    assert markdown["adapters"][0]["condition"] == {"field": "lang", "operator": "exists"}
    assert sink["is_terminal"] and not sink["is_init_route"]
    # Edges only to consumed queues; the cycle back to scrape is an edge too.
    assert dag["edges"] == [
        {
            "from_route": "scrape",
            "to_route": "markdown",
            "queue": "site.markdown",
            "condition": {"field": "url", "operator": "matches", "value": "^https://"},
        },
        {"from_route": "markdown", "to_route": "scrape", "queue": "site.scrape", "condition": None},
    ]


def test_dag_without_init_message() -> None:
    dag = build_dag("exec-2", ConfigSnapshot.model_validate(_snapshot(None))).model_dump(mode="json")
    assert dag["init_route"] is None and dag["init_queue"] is None
    assert not any(node["is_init_route"] for node in dag["nodes"])


def test_explicit_null_value_is_kept_for_eq() -> None:
    snapshot = _snapshot(None)
    snapshot["config"]["routes"]["sink"]["adapters"][0]["condition"] = {
        "field": "x",
        "operator": "eq",
        "value": None,
        "all": None,
        "any": None,
    }
    node = build_dag("e", ConfigSnapshot.model_validate(snapshot)).nodes[2]
    assert node.adapters[0].condition == {"field": "x", "operator": "eq", "value": None}

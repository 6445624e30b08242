"""Catalogue entries W5xx (warnings: they never block start-up or a run)."""

from __future__ import annotations

from ._catalogue_structure import BASE
from ._code_info import CodeInfo, yaml

__all__ = ("WARNING_CODES",)

_LINKED = yaml(
    """
    version: "1.0"
    routes:
      scrape:
        inbound: {queue: site.scrape}
        adapters:
          - type: web_scraper
        outbound:
          - queue: site.embeddings
      embeddings:
        inbound: {queue: site.embeddings}
        adapters:
          - type: embedding_generator
    init_message: {route: scrape}
    """
)

WARNING_CODES: tuple[CodeInfo, ...] = (
    CodeInfo(
        "W501",
        "Unreachable route: not the init route, and no route publishes to its queue",
        "'embeddings' receives nothing; add its queue to a producer's outbound (ignore if it is a replay target).",
        _LINKED.replace("    outbound:\n      - queue: site.embeddings\n", ""),
        "routes.embeddings",
        _LINKED,
        reported_at="`routes.<id>`",
    ),
    CodeInfo(
        "W502",
        "Outbound queue that no route consumes",
        "Nothing consumes 'site.archive'; its messages wait until cleanup.",
        BASE.replace("    adapters:\n", "    outbound: [{queue: site.archive}]\n    adapters:\n"),
        "routes.scrape.outbound[0].queue",
        BASE,
        note="Such a message counts as finished; it stays in the queue until the queue janitor deletes it.",
    ),
    CodeInfo(
        "W503",
        "No `init_message`",
        "Executions start idle; add init_message unless this is a replay-only pipeline.",
        BASE.replace("init_message: {route: scrape}\n", ""),
        "",
        BASE,
        reported_at='`""`',
        note="An execution without init message and without a replay source completes at once with zero messages.",
    ),
    CodeInfo(
        "W504",
        "Cycle in the route graph",
        "scrape → crawl → scrape loops; orchestrator.max_hops caps it at 64.",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: web_scraper
                outbound:
                  - queue: site.crawl
              crawl:
                inbound: {queue: site.crawl}
                adapters:
                  - type: url_expander
                outbound:
                  - queue: site.scrape
            init_message: {route: scrape}
            """
        ),
        "routes.scrape",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: web_scraper
                outbound:
                  - queue: site.crawl
              crawl:
                inbound: {queue: site.crawl}
                adapters:
                  - type: url_expander
            init_message: {route: scrape}
            """
        ),
        reported_at="the first route of the cycle",
        note="Cycles are allowed (crawlers need them); a message that has made more than "
        "`orchestrator.max_hops` queue hops is dead-lettered.",
    ),
    CodeInfo(
        "W505",
        "`prefetch` lower than `concurrency`",
        "prefetch (2) caps parallelism below concurrency (5).",
        BASE.replace("{queue: site.scrape}", "{queue: site.scrape, concurrency: 5, prefetch: 2}"),
        "routes.scrape.inbound.prefetch",
        BASE.replace("{queue: site.scrape}", "{queue: site.scrape, concurrency: 5, prefetch: 10}"),
    ),
    CodeInfo(
        "W506",
        "Effective `max_concurrency` higher than `prefetch`",
        "The limit can never exceed prefetch (10); raise prefetch.",
        BASE.replace(
            "    inbound: {queue: site.scrape}\n",
            "    inbound: {queue: site.scrape, concurrency: 5, prefetch: 10}\n"
            "    backpressure: {max_concurrency: 20}\n",
        ),
        "routes.scrape.backpressure.max_concurrency",
        BASE.replace(
            "    inbound: {queue: site.scrape}\n",
            "    inbound: {queue: site.scrape, concurrency: 5, prefetch: 20}\n"
            "    backpressure: {max_concurrency: 20}\n",
        ),
        note="Reported where `max_concurrency` is set: the route's `backpressure`, or the top level's.",
    ),
    CodeInfo(
        "W507",
        "Stage storage disabled",
        "Replay from 'web_scraper' becomes impossible, and recovery may re-run it.",
        BASE.replace("      - type: web_scraper\n", "      - type: web_scraper\n        storage: {enabled: false}\n"),
        "routes.scrape.adapters[0].storage.enabled",
        BASE,
    ),
)

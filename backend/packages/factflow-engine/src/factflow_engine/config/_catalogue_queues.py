"""Catalogue entries E2xx (queues and topology) and E3xx (adapter `config`)."""

from __future__ import annotations

from ._catalogue_structure import BASE
from ._code_info import CodeInfo, yaml

__all__ = ("QUEUE_AND_CONFIG_CODES",)

TWO_ROUTES = yaml(
    """
    version: "1.0"
    routes:
      scrape:
        inbound: {queue: site.scrape}
        adapters:
          - type: web_scraper
        outbound:
          - queue: site.markdown
      markdown:
        inbound: {queue: site.markdown}
        adapters:
          - type: html_to_markdown
    init_message: {route: scrape}
    """
)


def _config(config: str, adapter: str = "web_scraper") -> str:
    return BASE.replace("      - type: web_scraper\n", f"      - type: {adapter}\n        config: {config}\n")


QUEUE_AND_CONFIG_CODES: tuple[CodeInfo, ...] = (
    CodeInfo(
        "E201",
        "Invalid queue name (inbound, outbound or DLQ) or worker pool name (`inbound.pool`)",
        "Use letters, digits, '.', '_', '-', e.g. '/queue/site.markdown'.",
        BASE.replace("{queue: site.scrape}", '{queue: "site scrape"}'),
        "routes.scrape.inbound.queue",
        BASE,
        note=(
            "After dropping a leading `/queue/`, a name matches `^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`."
            " A pool name (`inbound.pool`, e.g. `gpu`) follows the same rule, and its suggestion is"
            " the nearest valid name (`pool: \"gpu pool\"` → `'gpu-pool'`)."
        ),
    ),
    CodeInfo(
        "E202",
        "Inbound queue shared by two routes",
        "'site.markdown' is consumed by route 'markdown'; use another queue.",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: web_scraper
                outbound:
                  - queue: site.markdown
              markdown:
                inbound: {queue: site.markdown}
                adapters:
                  - type: html_to_markdown
              archive:
                inbound: {queue: /queue/site.markdown}
                adapters:
                  - type: web_content_storage
            init_message: {route: scrape}
            """
        ),
        "routes.archive.inbound.queue",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: web_scraper
                outbound:
                  - queue: site.markdown
                  - queue: site.archive
              markdown:
                inbound: {queue: site.markdown}
                adapters:
                  - type: html_to_markdown
              archive:
                inbound: {queue: site.archive}
                adapters:
                  - type: web_content_storage
            init_message: {route: scrape}
            """
        ),
        reported_at="the second route's queue",
        note="Names are compared after normalisation, so `/queue/site.markdown` and `site.markdown` are the "
        "same queue. To deliver every output to two routes, list two outbound queues.",
    ),
    CodeInfo(
        "E203",
        "Topic, URI scheme, or other leading `/`",
        "Topics are unsupported; list one outbound queue per consumer.",
        TWO_ROUTES.replace("- queue: site.markdown", "- queue: /topic/site.markdown"),
        "routes.scrape.outbound[0].queue",
        TWO_ROUTES,
        note="Rejected: `/topic/…`, any URI scheme (`redis://…`, `amqp://…`, `persistent://…`) and any leading "
        "`/` other than `/queue/`. The queue provider is chosen by `FACTFLOW_QUEUE_URL`, not in the file.",
    ),
    CodeInfo(
        "E204",
        "DLQ is the route's own inbound queue",
        "Use a separate queue such as 'dlq.scrape'.",
        BASE.replace("    adapters:\n", "    error_handling: {dead_letter_queue: site.scrape}\n    adapters:\n"),
        "routes.scrape.error_handling.dead_letter_queue",
        BASE.replace("    adapters:\n", "    error_handling: {dead_letter_queue: dlq.scrape}\n    adapters:\n"),
        note="The default dead-letter queue is `dlq.<route-id>`.",
    ),
    CodeInfo(
        "E205",
        "Invalid subscription name",
        "Use letters, digits, '.', '_', '-' (max 128).",
        BASE.replace("{queue: site.scrape}", '{queue: site.scrape, subscription: "scrape workers"}'),
        "routes.scrape.inbound.subscription",
        BASE.replace("{queue: site.scrape}", "{queue: site.scrape, subscription: scrape-workers}"),
    ),
    CodeInfo(
        "E206",
        "`concurrency` outside 1–1000",
        "Set concurrency between 1 and 1000.",
        BASE.replace("{queue: site.scrape}", "{queue: site.scrape, concurrency: 5000, prefetch: 5000}"),
        "routes.scrape.inbound.concurrency",
        BASE.replace("{queue: site.scrape}", "{queue: site.scrape, concurrency: 50, prefetch: 50}"),
    ),
    CodeInfo(
        "E207",
        "`prefetch` outside 1–10 000",
        "Set prefetch between 1 and 10000.",
        BASE.replace("{queue: site.scrape}", "{queue: site.scrape, prefetch: 0}"),
        "routes.scrape.inbound.prefetch",
        BASE.replace("{queue: site.scrape}", "{queue: site.scrape, prefetch: 10}"),
    ),
    CodeInfo(
        "E208",
        "Same queue twice in one `outbound` list",
        "Merge the entries; combine conditions with 'any'.",
        TWO_ROUTES.replace(
            "      - queue: site.markdown\n",
            "      - queue: site.markdown\n"
            "        condition: {field: lang, operator: eq, value: en}\n"
            "      - queue: site.markdown\n"
            "        condition: {field: lang, operator: eq, value: nb}\n",
        ),
        "routes.scrape.outbound[1]",
        TWO_ROUTES.replace(
            "      - queue: site.markdown\n",
            "      - queue: site.markdown\n        condition: {field: lang, operator: in, value: [en, nb]}\n",
        ),
        reported_at="the second entry",
    ),
    CodeInfo(
        "E301",
        "Unknown field",
        "'web_scraper' has no option 'timout'. Did you mean 'timeout'?",
        _config("{timout: 30}"),
        "routes.scrape.adapters[0].config.timout",
        _config("{timeout: 30}"),
        note="Reported even when the adapter's model would ignore extra keys, so typos never pass silently. "
        "E3xx issues come from the adapter registry: `factflow config validate` and the server check against "
        "the adapters installed where they run.",
    ),
    CodeInfo(
        "E302",
        "Required field missing",
        "'sitemap_parser' requires 'max_urls'.",
        BASE.replace("type: web_scraper", "type: sitemap_parser"),
        "routes.scrape.adapters[0].config",
        _config("{max_urls: 1000}", "sitemap_parser"),
    ),
    CodeInfo(
        "E303",
        "Wrong field type",
        "'timeout' must be a number, got 'thirty'.",
        _config("{timeout: thirty}"),
        "routes.scrape.adapters[0].config.timeout",
        _config("{timeout: 30}"),
    ),
    CodeInfo(
        "E304",
        "Range, pattern, enum or length violated",
        "'max_urls' must be between 1 and 100000.",
        _config("{max_urls: 0}", "sitemap_parser"),
        "routes.scrape.adapters[0].config.max_urls",
        _config("{max_urls: 1000}", "sitemap_parser"),
    ),
    CodeInfo(
        "E305",
        "`config` is not a mapping",
        "Write config as a mapping: {timeout: 30}.",
        _config('"timeout=30"'),
        "routes.scrape.adapters[0].config",
        _config("{timeout: 30}"),
        note="An empty `config:` (null) counts as no config at all.",
    ),
    CodeInfo(
        "E306",
        "Model-level (cross-field) rule failed",
        "'min_tokens' must not exceed 'max_tokens'.",
        _config("{min_tokens: 600, max_tokens: 512}", "smart_segmenter"),
        "routes.scrape.adapters[0].config",
        _config("{min_tokens: 100, max_tokens: 512}", "smart_segmenter"),
    ),
    CodeInfo(
        "E307",
        "`config` given for an adapter that has no config model",
        "'url_expander' takes no configuration; remove it.",
        _config("{depth: 2}", "url_expander"),
        "routes.scrape.adapters[0].config",
        BASE.replace("type: web_scraper", "type: url_expander"),
    ),
    CodeInfo(
        "E308",
        "Config model raised an unexpected exception",
        "The config model crashed (ZeroDivisionError); report it to the adapter maintainers.",
        _config("{factor: 0}", "crashing_adapter"),
        "routes.scrape.adapters[0].config",
        None,
        note="The adapter's own validation code failed. The YAML may be fine; upgrade the adapter package or "
        "report the bug to its maintainers.",
    ),
)

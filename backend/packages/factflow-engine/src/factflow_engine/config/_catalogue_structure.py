"""Catalogue entries E0xx (syntax and structure) and E1xx (routes, adapters, references)."""

from __future__ import annotations

from ._code_info import CodeInfo, yaml

__all__ = ("STRUCTURE_CODES",)

BASE = yaml(
    """
    version: "1.0"
    routes:
      scrape:
        inbound: {queue: site.scrape}
        adapters:
          - type: web_scraper
    init_message: {route: scrape}
    """
)

STRUCTURE_CODES: tuple[CodeInfo, ...] = (
    CodeInfo(
        "E001",
        "Parser error (line/column set)",
        "Fix the YAML near line 12, column 5 (unexpected ':').",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape
                adapters:
                  - type: web_scraper
            init_message: {route: scrape}
            """
        ),
        "",
        BASE,
        note="The flow mapping `{queue: site.scrape` is never closed. The issue carries the line and column "
        "where the parser gave up, which can be after the actual mistake.",
    ),
    CodeInfo(
        "E002",
        "Empty document",
        "Add 'version: \"1.0\"' and a 'routes' mapping.",
        "# TODO: describe the pipeline\n",
        "",
        BASE,
    ),
    CodeInfo(
        "E003",
        "More than one document",
        "Keep one pipeline per file.",
        BASE + '---\nversion: "1.0"\n',
        "",
        BASE,
        note="A line `---` starts a second YAML document. Put each pipeline in its own file.",
    ),
    CodeInfo(
        "E004",
        "Custom or unsafe tag",
        "Remove the '!!python/object' tag.",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: web_scraper
                    config: !!python/object:scraper.Options {timeout: 30}
            init_message: {route: scrape}
            """
        ),
        "routes.scrape.adapters[0].config",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: web_scraper
                    config: {timeout: 30}
            init_message: {route: scrape}
            """
        ),
        reported_at="the tagged value",
        note="Only plain YAML values are allowed. The core tags `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, "
        "`!!map` and `!!seq` are accepted; every other tag is rejected.",
    ),
    CodeInfo(
        "E005",
        "Duplicate key",
        "'adapters' appears twice; merge the entries.",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: sitemap_parser
                    config: {max_urls: 100}
                adapters:
                  - type: web_scraper
            init_message: {route: scrape}
            """
        ),
        "routes.scrape.adapters",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: sitemap_parser
                    config: {max_urls: 100}
                  - type: web_scraper
            init_message: {route: scrape}
            """
        ),
        reported_at="the second occurrence",
        note="Keys merged in with `<<: *anchor` may repeat keys of the mapping itself; the mapping's own keys win.",
    ),
    CodeInfo(
        "E006",
        "Root is not a mapping",
        "The top level must be a mapping.",
        yaml(
            """
            - version: "1.0"
              routes: {}
            """
        ),
        "",
        BASE,
    ),
    CodeInfo(
        "E007",
        "Not UTF-8",
        "Save the file as UTF-8.",
        yaml(
            """
            version: "1.0"
            description: "Café pages"   # saved as Latin-1
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: web_scraper
            init_message: {route: scrape}
            """
        ),
        "",
        yaml(
            """
            version: "1.0"
            description: "Café pages"   # saved as UTF-8
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: web_scraper
            init_message: {route: scrape}
            """
        ),
        example_encoding="latin-1",
        note="The text is the same; the bytes are not. A UTF-8 byte-order mark is accepted and stripped.",
    ),
    CodeInfo(
        "E008",
        "Over 1 MiB or over 100 000 expanded nodes",
        "Shrink the file or its alias expansion.",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: web_scraper
            init_message:
              route: scrape
              payload:
                a: &a [x, x, x, x, x, x, x, x, x, x]
                b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
                c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]
                d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
                e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
            """
        ),
        "",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - type: web_scraper
            init_message:
              route: scrape
              payload:
                a: [x, x, x, x, x, x, x, x, x, x]
            """
        ),
        note="Every use of an alias counts as a full copy of the anchored value, so a few lines of aliases can "
        "expand to millions of nodes. Mappings and lists may also nest at most 200 levels deep.",
    ),
    CodeInfo(
        "E010",
        "`version` missing",
        "Add 'version: \"1.0\"'.",
        BASE.removeprefix('version: "1.0"\n'),
        "version",
        BASE,
    ),
    CodeInfo(
        "E011",
        '`version` not `"1.0"`',
        'Supported versions: "1.0".',
        BASE.replace('version: "1.0"', 'version: "2.0"'),
        "version",
        BASE,
    ),
    CodeInfo(
        "E012",
        "`version` not a string",
        'Quote it: version: "1.0".',
        BASE.replace('version: "1.0"', "version: 1.0"),
        "version",
        BASE,
        note='An unquoted `1.0` is a number in YAML; the version is the string `"1.0"`.',
    ),
    CodeInfo(
        "E020",
        "Unknown top-level key",
        "Unknown key 'route'. Did you mean 'routes'?",
        BASE + "error_handlng: {max_retries: 5}\n",
        "error_handlng",
        BASE + "error_handling: {max_retries: 5}\n",
    ),
    CodeInfo(
        "E021",
        "`routes` missing, not a mapping, or empty",
        "Define at least one route.",
        yaml(
            """
            version: "1.0"
            routes: {}
            init_message: {route: scrape}
            """
        ),
        "routes",
        BASE,
        note="While `routes` is unusable, checks that depend on it (E106, the W5xx topology warnings) are skipped.",
    ),
    CodeInfo(
        "E030",
        "Wrong value type",
        "'inbound.concurrency' must be an integer, got '5'.",
        BASE.replace("inbound: {queue: site.scrape}", 'inbound: {queue: site.scrape, concurrency: "5"}'),
        "routes.scrape.inbound.concurrency",
        BASE.replace("inbound: {queue: site.scrape}", "inbound: {queue: site.scrape, concurrency: 5, prefetch: 10}"),
        note="Quoted numbers are strings. Booleans are `true`/`false` (`yes`, `no`, `on` and `off` are strings "
        "in YAML 1.2). Names and descriptions that are too long are reported with this code too.",
    ),
    CodeInfo(
        "E031",
        "Unknown key inside a section",
        "Unknown key 'prefetch_count'. Did you mean 'prefetch'?",
        BASE.replace("inbound: {queue: site.scrape}", "inbound: {queue: site.scrape, prefetch_count: 20}"),
        "routes.scrape.inbound.prefetch_count",
        BASE.replace("inbound: {queue: site.scrape}", "inbound: {queue: site.scrape, prefetch: 20}"),
    ),
    CodeInfo(
        "E032",
        "Required key missing inside a section",
        "Add 'queue' to routes.scrape.inbound.",
        BASE.replace("inbound: {queue: site.scrape}", "inbound: {concurrency: 1}"),
        "routes.scrape.inbound",
        BASE.replace("inbound: {queue: site.scrape}", "inbound: {queue: site.scrape, concurrency: 1}"),
        reported_at="the parent",
    ),
    CodeInfo(
        "E101",
        "Invalid route id",
        "Rename 'Scrape Pages' to e.g. 'scrape_pages'.",
        BASE.replace("  scrape:", "  Scrape Pages:").replace("route: scrape", 'route: "Scrape Pages"'),
        "routes.Scrape Pages",
        BASE.replace("  scrape:", "  scrape_pages:").replace("route: scrape", "route: scrape_pages"),
        note="Route ids match `^[a-z][a-z0-9_-]{0,63}$`: they appear in storage keys, lineage and global pause.",
    ),
    CodeInfo(
        "E102",
        "Route has no adapters (`adapters` missing or empty)",
        "Add at least one adapter.",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters: []
            init_message: {route: scrape}
            """
        ),
        "routes.scrape.adapters",
        BASE,
    ),
    CodeInfo(
        "E103",
        "Adapter `type` not registered",
        "'web_scrapr' is not registered. Did you mean 'web_scraper'?",
        BASE.replace("type: web_scraper", "type: web_scrapr"),
        "routes.scrape.adapters[0].type",
        BASE,
        note="Types are the names of the `factflow.adapters` entry points installed next to the engine. "
        "Run the check against the registry that will run the pipeline: a type can be missing on one machine.",
    ),
    CodeInfo(
        "E104",
        "Stage name repeated within a route",
        "'web_scraper' is used by adapters[1]; set a distinct 'stage:'.",
        BASE.replace(
            "      - type: web_scraper\n",
            "      - type: web_scraper\n      - type: sitemap_parser\n        config: {max_urls: 10}\n"
            "      - type: web_scraper\n",
        ),
        "routes.scrape.adapters[2].stage",
        BASE.replace(
            "      - type: web_scraper\n",
            "      - type: web_scraper\n      - type: sitemap_parser\n        config: {max_urls: 10}\n"
            "      - type: web_scraper\n        stage: linked_pages\n",
        ),
        note="The stage defaults to the `type`, so using one adapter type twice in a route needs a `stage:` on "
        "one of them.",
    ),
    CodeInfo(
        "E105",
        "Malformed stage name",
        "Use '/'-separated segments such as 'markdown/segments'.",
        BASE.replace("      - type: web_scraper\n", "      - type: web_scraper\n        stage: _raw pages\n"),
        "routes.scrape.adapters[0].stage",
        BASE.replace("      - type: web_scraper\n", "      - type: web_scraper\n        stage: pages/raw\n"),
        note="Each segment matches `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$` (so none starts with `_`); at most 128 "
        "characters in all.",
    ),
    CodeInfo(
        "E106",
        "`init_message.route` unknown",
        "Route 'scraper' does not exist. Did you mean 'scrape'?",
        BASE.replace("route: scrape", "route: scraper"),
        "init_message.route",
        BASE,
    ),
    CodeInfo(
        "E107",
        "Adapter type unusable: import failed, invalid class, or the same name declared by two packages",
        "'web_scraper' failed to load (No module named 'httpx'); reinstall its package.",
        BASE.replace("type: web_scraper", "type: pdf_reader"),
        "routes.scrape.adapters[0].type",
        None,
        note="The YAML is fine; the installation is not. Reinstall the package that provides the adapter (the "
        "message names the import error), or uninstall one of the two packages that declare the same name.",
    ),
    CodeInfo(
        "E108",
        "More than 100 routes",
        "Split the pipeline into several files.",
        yaml(
            """
            version: "1.0"
            routes:
              route_001:
                inbound: {queue: q001}
                adapters: [{type: web_scraper}]
              # … route_002 to route_100 …
              route_101:
                inbound: {queue: q101}
                adapters: [{type: web_scraper}]
            """
        ),
        "routes",
        None,
        excerpt=True,
        note="Split the routes over several pipelines linked by replay or by an external producer.",
    ),
    CodeInfo(
        "E109",
        "More than 50 adapters in a route",
        "Split the chain across routes linked by a queue.",
        yaml(
            """
            version: "1.0"
            routes:
              scrape:
                inbound: {queue: site.scrape}
                adapters:
                  - {type: passthrough, stage: step_01}
                  # … step_02 to step_50 …
                  - {type: passthrough, stage: step_51}
            init_message: {route: scrape}
            """
        ),
        "routes.scrape.adapters",
        None,
        excerpt=True,
        note="Move the second half of the chain to a new route whose `inbound.queue` is in the first route's "
        "`outbound`.",
    ),
)

import { describe, expect, it } from "vitest";
import type { LineageEntry, LineageMessage } from "../api/client";
import { chainGraph, inputKey } from "./Lineage";

function entry(id: string, started: string, storage_key: string | null): LineageEntry {
  return { id, started_at: started, storage_key } as LineageEntry;
}

function message(id: string, parent: string | null, entries: LineageEntry[] = []): LineageMessage {
  return { correlation_id: id, parent_correlation_id: parent, entries, status: "completed" } as LineageMessage;
}

describe("chainGraph", () => {
  const root = message("root", null);
  const kids = Array.from({ length: 12 }, (_, index) => message(`kid${index}`, "root"));
  const grandchild = message("grand", "kid11");

  it("collapses a fan-out beyond the limit, with the hidden subtree", () => {
    const graph = chainGraph([root, ...kids, grandchild], new Map(), 8);
    const ids = graph.nodes.map((node) => node.id);
    expect(ids).toContain("kid7");
    expect(ids).not.toContain("kid8");
    expect(ids).not.toContain("grand");
    const more = graph.nodes.find((node) => node.id === "more:root");
    expect(more?.hidden).toBe(4);
    expect(graph.edges).toContainEqual({ source: "root", target: "more:root" });
  });

  it("shows as many children of an expanded parent as asked", () => {
    const some = chainGraph([root, ...kids, grandchild], new Map([["root", 10]]), 8);
    expect(some.nodes.find((node) => node.id === "more:root")?.hidden).toBe(2);
    const all = chainGraph([root, ...kids, grandchild], new Map([["root", 58]]), 8);
    expect(all.nodes).toHaveLength(14);
    expect(all.edges).toContainEqual({ source: "kid11", target: "grand" });
  });
});

describe("inputKey", () => {
  it("is the previous stored row of the message, else the parent's last stored output", () => {
    const parent = message("p", null, [entry("a", "2025-01-01T00:00:01Z", "k/a.json"), entry("b", "2025-01-01T00:00:02Z", "k/b.json")]);
    const first = entry("c", "2025-01-01T00:00:03Z", "k/c.json");
    const second = entry("d", "2025-01-01T00:00:04Z", "k/d.json");
    const child = message("c", "p", [first, second]);
    expect(inputKey(second, child, [parent, child])).toBe("k/c.json");
    expect(inputKey(first, child, [parent, child])).toBe("k/b.json");
    expect(inputKey(parent.entries[0]!, parent, [parent, child])).toBeNull();
  });
});

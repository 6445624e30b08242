import { describe, expect, it } from "vitest";
import type { LineageEntry } from "../api/client";
import { buildLanes } from "./Timeline";

const row = (route_id: string, stage_name: string, adapter_index: number) =>
  ({ route_id, stage_name, adapter_index, started_at: "2025-01-01T00:00:00Z" }) as LineageEntry;

describe("buildLanes", () => {
  it("groups rows by route and stage, routes in first-seen order, stages by adapter index", () => {
    const lanes = buildLanes([row("a", "two", 1), row("a", "one", 0), row("b", "x", 0), row("a", "two", 1)]);
    expect(lanes.map((lane) => [lane.key, lane.rows.length])).toEqual([
      ["a/one", 1],
      ["a/two", 2],
      ["b/x", 1],
    ]);
  });
});

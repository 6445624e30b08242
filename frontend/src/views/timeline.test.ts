import { describe, expect, it } from "vitest";
import type { LineageEntry } from "../api/client";
import { buildLanes, packLane } from "./Timeline";

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

describe("packLane", () => {
  const call = (start: number, end: number) =>
    ({
      started_at: new Date(start * 1000).toISOString(),
      completed_at: new Date(end * 1000).toISOString(),
    }) as LineageEntry;

  it("puts overlapping calls on separate tracks and reuses free ones", () => {
    const lane = packLane({ key: "r/s", rows: [call(0, 10), call(1, 3), call(4, 6), call(11, 12)] }, 0);
    expect(lane.tracks).toEqual([0, 1, 1, 0]);
    expect(lane.trackCount).toBe(2);
  });

  it("never uses more than the maximum of tracks", () => {
    const rows = Array.from({ length: 20 }, () => call(0, 10));
    expect(packLane({ key: "r/s", rows }, 0, 4).trackCount).toBe(4);
  });
});

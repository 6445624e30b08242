import { describe, expect, it } from "vitest";
import { elapsedMs, formatBytes, formatDuration, shortId } from "./format";

describe("format", () => {
  it("formats durations at every scale", () => {
    expect(formatDuration(null)).toBe("—");
    expect(formatDuration(12.4)).toBe("12 ms");
    expect(formatDuration(1500)).toBe("1.50 s");
    expect(formatDuration(125_000)).toBe("2 m 5 s");
    expect(formatDuration(2 * 3600_000 + 60_000)).toBe("2 h 1 m");
  });

  it("measures running items to now and finished ones by their duration", () => {
    expect(elapsedMs("2025-01-01T00:00:00Z", null, Date.parse("2025-01-01T00:00:02Z"))).toBe(2000);
    expect(elapsedMs("2025-01-01T00:00:00Z", 5, Date.parse("2025-01-01T00:00:02Z"))).toBe(5);
  });

  it("shortens ids and sizes", () => {
    expect(shortId("01a250bf-d30a-71c4-8695-39348b0928ec")).toBe("01a250bf…28ec");
    expect(formatBytes(2048)).toBe("2.0 KiB");
  });
});

import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it("parses frames split across chunks, skipping comments", () => {
    const parser = new SseParser();
    expect(parser.push("retry: 3000\n\n: keep-alive\n\nid: 1\nevent: execution.pro")).toEqual([]);
    const frames = parser.push('gress\ndata: {"handled": 3}\n\nid: 2\r\nevent: stream.end\r\ndata: {"reason":"terminal"}\r\n\r\n');
    expect(frames).toEqual([
      { id: "1", event: "execution.progress", data: { handled: 3 } },
      { id: "2", event: "stream.end", data: { reason: "terminal" } },
    ]);
    expect(parser.retry).toBe(3000);
    expect(parser.lastEventId).toBe("2");
  });

  it("keeps non-JSON data as raw text", () => {
    const parser = new SseParser();
    expect(parser.push("data: hello\n\n")).toEqual([{ id: null, event: "message", data: { raw: "hello" } }]);
  });
});

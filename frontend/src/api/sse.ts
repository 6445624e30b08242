// Server-sent events over `fetch`, so the bearer token travels in the `Authorization` header
// (an `EventSource` cannot send headers). Reconnects with `Last-Event-ID` like a browser would.
import { authHeaders, markUnauthorized } from "./client";

export interface SseFrame {
  id: string | null;
  event: string;
  data: Record<string, unknown>;
}

/** Split a text/event-stream chunk sequence into frames; keeps the unfinished tail. */
export class SseParser {
  private buffer = "";
  private id: string | null = null;
  private event = "message";
  private data: string[] = [];
  retry: number | null = null;
  lastEventId: string | null = null;

  push(chunk: string): SseFrame[] {
    this.buffer += chunk;
    const frames: SseFrame[] = [];
    let newline = this.buffer.search(/\r?\n/);
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + (this.buffer[newline] === "\r" ? 2 : 1));
      const frame = this.line(line);
      if (frame) frames.push(frame);
      newline = this.buffer.search(/\r?\n/);
    }
    return frames;
  }

  private line(line: string): SseFrame | null {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "message";
        return null;
      }
      let data: Record<string, unknown> = {};
      try {
        data = JSON.parse(this.data.join("\n")) as Record<string, unknown>;
      } catch {
        data = { raw: this.data.join("\n") };
      }
      const frame: SseFrame = { id: this.id, event: this.event, data };
      if (this.id) this.lastEventId = this.id;
      this.id = null;
      this.event = "message";
      this.data = [];
      return frame;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "id") this.id = value;
    else if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) this.retry = Number(value);
    return null;
  }
}

export interface StreamHandle {
  close(): void;
}

/**
 * Follow an SSE endpoint until `stream.end` with reason `terminal`, or until closed.
 * Other ends (timeout, shutdown, dropped connection) reconnect after the server's `retry`.
 */
export function openStream(
  url: string,
  onFrame: (frame: SseFrame) => void,
  options: { onOpen?: () => void; onEnd?: (reason: string) => void } = {},
): StreamHandle {
  const controller = new AbortController();
  let closed = false;
  let lastEventId: string | null = null;
  let retry = 3000;

  const run = async (): Promise<void> => {
    while (!closed) {
      let ended: string | null = null;
      try {
        const headers: Record<string, string> = { Accept: "text/event-stream", ...authHeaders() };
        if (lastEventId) headers["Last-Event-ID"] = lastEventId;
        const response = await fetch(url, { headers, signal: controller.signal });
        if (response.status === 401) {
          markUnauthorized();
          return;
        }
        if (!response.ok || !response.body) {
          options.onEnd?.(`http_${response.status}`);
          return;
        }
        options.onOpen?.();
        const parser = new SseParser();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          for (const frame of parser.push(value)) {
            if (frame.event === "stream.end") ended = String(frame.data.reason ?? "");
            onFrame(frame);
          }
          if (parser.retry !== null) retry = parser.retry;
          if (parser.lastEventId) lastEventId = parser.lastEventId;
        }
      } catch {
        if (closed) return;
      }
      if (ended === "terminal" || ended === "error") {
        options.onEnd?.(ended);
        return;
      }
      if (closed) return;
      await new Promise((resolve) => setTimeout(resolve, ended === "timeout" ? 0 : retry));
    }
  };
  void run();
  return {
    close() {
      closed = true;
      controller.abort();
    },
  };
}

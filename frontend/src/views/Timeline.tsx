// Gantt-like stage activity: one lane per route/stage, one bar per lineage row, on a canvas
// so 10,000 rows draw at once.
import { useEffect, useMemo, useRef, useState } from "react";
import { api, must, type LineageEntry } from "../api/client";
import { ErrorBox } from "../components/common";
import { formatDuration } from "../lib/format";
import { useLoad, useThrottled } from "../lib/hooks";

const TRACK_HEIGHT = 8;
const MAX_TRACKS = 8;
const LABEL_WIDTH = 220;
const COLORS: Record<string, string> = {
  completed: "#2e8b57",
  failed: "#c0392b",
  processing: "#e0a800",
  pending: "#9aa5b1",
  skipped: "#b0b8c0",
  cancelled: "#7f8c8d",
};

export interface Lane {
  key: string;
  rows: LineageEntry[];
}

export interface PackedLane extends Lane {
  /** Track of each row (same order as `rows`): overlapping calls go on separate tracks. */
  tracks: number[];
  trackCount: number;
}

/** Greedy interval packing: each row on the first track free at its start, at most `max` tracks. */
export function packLane(lane: Lane, now: number, max = MAX_TRACKS): PackedLane {
  const ends: number[] = [];
  const order = lane.rows.map((row, index) => ({ index, start: Date.parse(row.started_at), row }));
  order.sort((a, b) => a.start - b.start);
  const tracks = new Array<number>(lane.rows.length).fill(0);
  for (const { index, start, row } of order) {
    const end = row.completed_at ? Date.parse(row.completed_at) : now;
    let track = ends.findIndex((trackEnd) => trackEnd <= start);
    if (track < 0) track = ends.length < max ? ends.length : ends.indexOf(Math.min(...ends));
    ends[track] = Math.max(ends[track] ?? 0, end);
    tracks[index] = track;
  }
  return { ...lane, tracks, trackCount: Math.max(1, ends.length) };
}

/** Group rows into lanes by route and stage, in adapter order within a route. */
export function buildLanes(rows: LineageEntry[]): Lane[] {
  const lanes = new Map<string, Lane & { index: number; first: number }>();
  rows.forEach((row, position) => {
    const key = `${row.route_id}/${row.stage_name}`;
    let lane = lanes.get(key);
    if (!lane) {
      lane = { key, rows: [], index: row.adapter_index, first: position };
      lanes.set(key, lane);
    }
    lane.rows.push(row);
  });
  const routeOrder = new Map<string, number>();
  for (const lane of lanes.values()) {
    const route = lane.key.split("/")[0] ?? "";
    routeOrder.set(route, Math.min(routeOrder.get(route) ?? Infinity, lane.first));
  }
  return [...lanes.values()]
    .sort((a, b) => {
      const ra = routeOrder.get(a.key.split("/")[0] ?? "") ?? 0;
      const rb = routeOrder.get(b.key.split("/")[0] ?? "") ?? 0;
      return ra - rb || a.index - b.index;
    })
    .map(({ key, rows: laneRows }) => ({ key, rows: laneRows }));
}

function laneHeight(lane: PackedLane): number {
  return Math.max(22, lane.trackCount * TRACK_HEIGHT + 8);
}

export function Timeline({ executionId, tick }: { executionId: string; tick: number }) {
  const [version, setVersion] = useState(0);
  const bump = useThrottled(() => setVersion((value) => value + 1), 2000);
  // Refetch (at most every 2 s) when the execution's rows changed after the first load.
  const firstTick = useRef(tick);
  useEffect(() => {
    if (tick !== firstTick.current) bump();
  }, [tick, bump]);
  const lineage = useLoad(
    () =>
      must(api.GET("/api/v1/executions/{ref}/lineage", { params: { path: { ref: executionId }, query: { limit: 10000 } } })),
    [executionId, version],
  );
  const rows = useMemo(() => lineage.data?.entries ?? [], [lineage.data]);
  const lanes = useMemo(() => buildLanes(rows).map((lane) => packLane(lane, Date.now())), [rows]);
  const tops = useMemo(() => {
    const offsets: number[] = [];
    let y = 0;
    for (const lane of lanes) {
      offsets.push(y);
      y += laneHeight(lane);
    }
    offsets.push(y);
    return offsets;
  }, [lanes]);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [hover, setHover] = useState<string>("");

  const range = useMemo(() => {
    let start = Infinity;
    let end = -Infinity;
    for (const row of rows) {
      const s = Date.parse(row.started_at);
      const e = row.completed_at ? Date.parse(row.completed_at) : Date.now();
      start = Math.min(start, s);
      end = Math.max(end, e);
    }
    return { start, end: Math.max(end, start + 1) };
  }, [rows]);

  useEffect(() => {
    const element = canvas.current;
    if (!element) return;
    const width = element.clientWidth || 900;
    const height = (tops.at(-1) ?? 0) + 24;
    const ratio = window.devicePixelRatio || 1;
    element.width = width * ratio;
    element.height = height * ratio;
    element.style.height = `${height}px`;
    const context = element.getContext("2d");
    if (!context) return;
    context.scale(ratio, ratio);
    context.clearRect(0, 0, width, height);
    context.font = "12px system-ui, sans-serif";
    const span = range.end - range.start;
    const plot = width - LABEL_WIDTH - 10;
    lanes.forEach((lane, index) => {
      const y = tops[index] ?? 0;
      context.fillStyle = index % 2 ? "#f6f8fa" : "#ffffff";
      context.fillRect(0, y, width, laneHeight(lane));
      context.fillStyle = "#333";
      context.fillText(lane.key, 6, y + 15, LABEL_WIDTH - 12);
      lane.rows.forEach((row, rowIndex) => {
        const s = Date.parse(row.started_at);
        const e = row.completed_at ? Date.parse(row.completed_at) : Date.now();
        const x = LABEL_WIDTH + ((s - range.start) / span) * plot;
        const w = Math.max(1, ((e - s) / span) * plot);
        context.fillStyle = COLORS[row.stage_status] ?? "#666";
        context.fillRect(x, y + 4 + (lane.tracks[rowIndex] ?? 0) * TRACK_HEIGHT, w, TRACK_HEIGHT - 2);
      });
    });
    context.fillStyle = "#555";
    const axisY = (tops.at(-1) ?? 0) + 16;
    context.fillText("0", LABEL_WIDTH, axisY);
    const total = formatDuration(span);
    context.fillText(total, width - 10 - context.measureText(total).width, axisY);
  }, [lanes, range, tops]);

  if (lineage.error) return <ErrorBox error={lineage.error} />;
  if (!lineage.data) return <p>Loading…</p>;
  if (rows.length === 0) return <p className="muted">No lineage rows yet.</p>;
  return (
    <div className="timeline" data-testid="timeline">
      <p className="muted small">
        {rows.length.toLocaleString("en")} rows
        {lineage.data.has_more ? ` (first ${rows.length.toLocaleString("en")} of ${lineage.data.total.toLocaleString("en")})` : ""} ·
        bars from start to end of each adapter call {hover && `· ${hover}`}
      </p>
      <canvas
        ref={canvas}
        style={{ width: "100%" }}
        onMouseMove={(event) => {
          const y = event.nativeEvent.offsetY;
          const lane = lanes.find((_lane, index) => y >= (tops[index] ?? 0) && y < (tops[index + 1] ?? 0));
          setHover(lane ? `${lane.key}: ${lane.rows.length} rows` : "");
        }}
      />
    </div>
  );
}

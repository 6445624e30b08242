// One execution: header, actions, the live DAG, per-stage table, timeline and failures.
// Live: the execution event stream (E7); stage events refresh counters at most twice a second.
import { useCallback, useEffect, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { api, must, type ExecutionDetail as Detail, type Schemas } from "../api/client";
import { openStream } from "../api/sse";
import { ErrorBox, Json, StatusBadge } from "../components/common";
import { elapsedMs, formatDuration, formatTime, shortId } from "../lib/format";
import { useLoad, useNow, useThrottled } from "../lib/hooks";
import { Dag } from "./Dag";
import { ReplayForm } from "./ReplayForm";
import { Timeline } from "./Timeline";

type Tab = "overview" | "timeline" | "failures" | "replays";
const TABS: Tab[] = ["overview", "timeline", "failures", "replays"];

export function ExecutionDetail() {
  const { ref = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const tab = (params.get("tab") as Tab | null) ?? "overview";
  const now = useNow();
  const detail = useLoad(() => must(api.GET("/api/v1/executions/{ref}", { params: { path: { ref } } })), [ref]);
  const dag = useLoad(() => must(api.GET("/api/v1/executions/{ref}/dag", { params: { path: { ref } } })), [ref]);
  const stats = useLoad(() => must(api.GET("/api/v1/executions/{ref}/stats", { params: { path: { ref } } })), [ref]);
  const [live, setLive] = useState<{ status?: string; counts?: Partial<Detail["message_counts"]>; connected: boolean }>({
    connected: false,
  });
  const [actionError, setActionError] = useState<Error | null>(null);
  const [stageTick, setStageTick] = useState(0);

  const refresh = useThrottled(() => {
    detail.reload();
    stats.reload();
    setStageTick((value) => value + 1);
  }, 500);

  const executionId = detail.data?.id;
  useEffect(() => {
    if (!executionId) return;
    setLive({ connected: false });
    const stream = openStream(
      `/api/v1/executions/${executionId}/events?include_messages=true&timeout=3600`,
      (frame) => {
        const data = frame.data;
        if (frame.event === "execution.snapshot") {
          const execution = data.execution as { status?: string } | undefined;
          setLive((old) => ({ ...old, status: execution?.status, counts: data.message_counts as Detail["message_counts"] }));
          refresh();
        } else if (frame.event === "execution.status") {
          setLive((old) => ({ ...old, status: String(data.status) }));
          refresh();
        } else if (frame.event === "execution.progress") {
          setLive((old) => ({
            ...old,
            counts: {
              published: Number(data.published),
              handled: Number(data.handled),
              in_flight: Number(data.in_flight),
              dead_lettered: Number(data.dead_lettered),
            },
          }));
          refresh();
        } else if (frame.event.startsWith("stage.") || frame.event === "route.state" || frame.event === "message.dead_lettered") {
          refresh();
        }
      },
      {
        onOpen: () => setLive((old) => ({ ...old, connected: true })),
        onEnd: () => {
          setLive((old) => ({ ...old, connected: false }));
          refresh();
        },
      },
    );
    return () => stream.close();
  }, [executionId, refresh]);

  const toggleRoute = useCallback(
    (routeId: string, pause: boolean) => {
      setActionError(null);
      must(
        api.PATCH("/api/v1/pipelines/{route_id}", {
          params: { path: { route_id: routeId } },
          body: { state: pause ? "paused" : "running", reason: "console" },
        }),
      ).then(() => detail.reload(), setActionError);
    },
    [detail],
  );

  if (detail.error && !detail.data) return <ErrorBox error={detail.error} />;
  const execution = detail.data;
  if (!execution) return <p>Loading…</p>;
  const status = live.status === "cancelling" ? "cancelling" : execution.status;
  const counts = { ...execution.message_counts, ...(execution.status === "running" ? live.counts : {}) };
  const isRunning = execution.status === "running";
  // Lineage rows change only while running; one last refresh when it stops.
  const rowsTick = isRunning ? stageTick : -1;

  const cancel = () => {
    setActionError(null);
    must(api.POST("/api/v1/executions/{ref}/cancel", { params: { path: { ref: execution.id } }, body: { reason: "console" } })).then(
      () => detail.reload(),
      setActionError,
    );
  };

  return (
    <section data-testid="execution-detail" data-execution-id={execution.id} data-status={execution.status}>
      <h1>
        Execution <span className="mono">{execution.id}</span> <StatusBadge status={status} />
        <span className={`live-dot${live.connected ? " on" : ""}`} title={live.connected ? "live" : "not streaming"} />
      </h1>
      <dl className="facts">
        <dt>Config</dt>
        <dd>
          <Link to={`/configs/${execution.config_id}`}>
            {execution.config_name} v{execution.config_version}
          </Link>
        </dd>
        <dt>Tag</dt>
        <dd>{execution.tag ?? "—"}</dd>
        <dt>Source</dt>
        <dd>{execution.source}</dd>
        <dt>Started</dt>
        <dd>{formatTime(execution.started_at)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(elapsedMs(execution.started_at, execution.duration_ms, now))}</dd>
        <dt>Messages</dt>
        <dd data-testid="message-counts">
          published {counts.published} · handled {counts.handled} · in flight {counts.in_flight} · dead-lettered{" "}
          {counts.dead_lettered}
        </dd>
        {execution.parent_execution_id && (
          <>
            <dt>Replay of</dt>
            <dd>
              <Link to={`/executions/${execution.parent_execution_id}`} className="mono">
                {execution.parent_execution_id}
              </Link>
              {execution.replay && (
                <span className="muted">
                  {" "}
                  from {execution.replay.from_route}/{execution.replay.from_stage} ({execution.replay.mode}, published{" "}
                  {execution.replay.objects_published}/{execution.replay.objects_found}, {execution.replay.publish_status})
                </span>
              )}
            </dd>
          </>
        )}
        {execution.root_correlation_id && (
          <>
            <dt>Init message</dt>
            <dd>
              <Link to={`/lineage/${execution.root_correlation_id}`}>lineage of {shortId(execution.root_correlation_id)}</Link>
            </dd>
          </>
        )}
        {execution.error_info && (
          <>
            <dt>Error</dt>
            <dd>
              <Json value={execution.error_info} />
            </dd>
          </>
        )}
      </dl>
      <div className="actions">
        <button disabled={!isRunning || status === "cancelling"} onClick={cancel}>
          Cancel execution
        </button>
        <Link to={`/storage?execution=${execution.id}`}>Browse stored objects</Link>
      </div>
      <ErrorBox error={actionError} />
      <nav className="tabs">
        {TABS.map((name) => (
          <button key={name} className={name === tab ? "active" : ""} onClick={() => setParams({ tab: name })}>
            {name}
          </button>
        ))}
      </nav>
      {tab === "overview" && (
        <>
          {dag.data && <Dag dag={dag.data} routes={execution.routes} onToggle={toggleRoute} />}
          <StageTable stats={stats.data} />
          {dag.data && <ReplayForm execution={execution} dag={dag.data} />}
        </>
      )}
      {tab === "timeline" && <Timeline executionId={execution.id} tick={rowsTick} />}
      {tab === "failures" && <Failures executionId={execution.id} tick={rowsTick} />}
      {tab === "replays" && <Replays executionId={execution.id} tick={stageTick} />}
    </section>
  );
}

function StageTable({ stats }: { stats: Schemas["ExecutionStats"] | null }) {
  if (!stats) return null;
  return (
    <table className="grid" data-testid="stage-table">
      <caption>Stages</caption>
      <thead>
        <tr>
          <th>Route</th>
          <th>Stage</th>
          <th>Adapter</th>
          <th>Rows</th>
          <th>Completed</th>
          <th>Pending</th>
          <th>Processing</th>
          <th>Failed</th>
          <th>Skipped</th>
          <th>Avg</th>
          <th>Max</th>
        </tr>
      </thead>
      <tbody>
        {stats.adapters.map((row) => (
          <tr key={`${row.route_id}/${row.adapter_index}`} data-stage={`${row.route_id}/${row.stage_name}`}>
            <td>{row.route_id}</td>
            <td>{row.stage_name}</td>
            <td>{row.adapter_name}</td>
            <td>{row.count}</td>
            <td data-testid="completed">{row.completed}</td>
            <td>{row.pending}</td>
            <td>{row.processing}</td>
            <td className={row.failed ? "bad" : ""}>{row.failed}</td>
            <td>{row.skipped}</td>
            <td>{formatDuration(row.avg_duration_ms)}</td>
            <td>{formatDuration(row.max_duration_ms)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <td colSpan={11} className="muted">
            success rate {stats.success_rate === null ? "—" : `${(stats.success_rate * 100).toFixed(1)} %`} · throughput{" "}
            {stats.throughput_per_second?.toFixed(2) ?? "—"}/s
          </td>
        </tr>
      </tfoot>
    </table>
  );
}

function Failures({ executionId, tick }: { executionId: string; tick: number }) {
  const failures = useLoad(
    () => must(api.GET("/api/v1/lineage/failures", { params: { query: { execution_id: executionId, limit: 100 } } })),
    [executionId, tick],
  );
  if (failures.error) return <ErrorBox error={failures.error} />;
  const rows = failures.data?.entries ?? [];
  if (rows.length === 0) return <p className="muted">No failures.</p>;
  return (
    <table className="grid" data-testid="failures">
      <thead>
        <tr>
          <th>Message</th>
          <th>Route / stage</th>
          <th>When</th>
          <th>Error</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.id}>
            <td>
              <Link to={`/lineage/${row.correlation_id}`} className="mono">
                {shortId(row.correlation_id)}
              </Link>
            </td>
            <td>
              {row.route_id}/{row.stage_name}
            </td>
            <td>{formatTime(row.completed_at ?? row.started_at)}</td>
            <td>
              {row.error_info && (
                <details>
                  <summary>
                    {String(row.error_info.error_type ?? "")}: {String(row.error_info.message ?? "")}
                  </summary>
                  <pre>{String(row.error_info.traceback ?? "")}</pre>
                </details>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Replays({ executionId, tick }: { executionId: string; tick: number }) {
  const navigate = useNavigate();
  const replays = useLoad(
    () => must(api.GET("/api/v1/executions/{ref}/replays", { params: { path: { ref: executionId }, query: { limit: 100 } } })),
    [executionId, tick],
  );
  if (replays.error) return <ErrorBox error={replays.error} />;
  const rows = replays.data?.executions ?? [];
  if (rows.length === 0) return <p className="muted">No replays of this execution.</p>;
  return (
    <table className="grid">
      <tbody>
        {rows.map((row) => (
          <tr key={row.id} onClick={() => navigate(`/executions/${row.id}`)} className="clickable">
            <td className="mono">{row.id}</td>
            <td>
              <StatusBadge status={row.status} />
            </td>
            <td>{row.tag}</td>
            <td>{formatTime(row.started_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

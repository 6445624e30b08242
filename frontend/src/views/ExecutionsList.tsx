// Executions: server-side filters and paging (usable with 100,000 rows), live via the storage
// event stream of the running executions on the page.
import { useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api, must, type Execution, type ExecutionDetail } from "../api/client";
import { openStream } from "../api/sse";
import { ErrorBox, Pager, StatusBadge } from "../components/common";
import { elapsedMs, formatDuration, formatTime, localInputToIso, shortId } from "../lib/format";
import { useInterval, useLoad, useNow, useThrottled } from "../lib/hooks";

const PAGE_SIZE = 50;
const STATUSES = ["running", "completed", "failed", "cancelled", "interrupted"] as const;
type Status = (typeof STATUSES)[number];
const MAX_WATCHED = 20;

export function ExecutionsList() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const configId = params.get("config_id") ?? "";
  const tag = params.get("tag") ?? "";
  const after = params.get("after") ?? "";
  const before = params.get("before") ?? "";
  const offset = Number(params.get("offset") ?? "0") || 0;
  const now = useNow();

  const configs = useLoad(() => must(api.GET("/api/v1/configs", { params: { query: { state: "all", limit: 1000 } } })), []);
  const list = useLoad(
    () =>
      must(
        api.GET("/api/v1/executions", {
          params: {
            query: {
              status: (status || undefined) as Status | undefined,
              config_id: configId || undefined,
              tag: tag || undefined,
              started_after: localInputToIso(after),
              started_before: localInputToIso(before),
              limit: PAGE_SIZE,
              offset,
            },
          },
        }),
      ),
    [status, configId, tag, after, before, offset],
  );
  const running = useMemo(
    () => (list.data?.executions ?? []).filter((row) => row.status === "running").map((row) => row.id).slice(0, MAX_WATCHED),
    [list.data],
  );
  const [details, setDetails] = useState<Record<string, ExecutionDetail>>({});
  const refresh = useThrottled(() => {
    list.reload();
  }, 1000);
  const runningKey = running.join(",");

  // Progress of running rows comes from their detail (message counts).
  useEffect(() => {
    let cancelled = false;
    for (const id of running) {
      void must(api.GET("/api/v1/executions/{ref}", { params: { path: { ref: id } } })).then((detail) => {
        if (!cancelled) setDetails((old) => ({ ...old, [id]: detail }));
      }, () => undefined);
    }
    return () => {
      cancelled = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [list.data]);

  // One multiplexed storage stream for every running row: any write or finish refreshes the page.
  useEffect(() => {
    if (!runningKey) return;
    const query = runningKey.split(",").map((id) => `execution_id=${encodeURIComponent(id)}`).join("&");
    const stream = openStream(`/api/v1/storage/events?${query}&timeout=3600`, (frame) => {
      if (frame.event === "storage.object.created" || frame.event === "execution.finished") refresh();
    });
    return () => stream.close();
  }, [runningKey, refresh]);

  // New executions have no stream of their own: look for them every few seconds.
  useInterval(list.reload, 3000);

  const update = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(changes)) {
      if (value) next.set(key, value);
      else next.delete(key);
    }
    if (!("offset" in changes)) next.delete("offset");
    setParams(next);
  };
  const configName = (row: Execution) => `${row.config_name} v${row.config_version}`;

  return (
    <section>
      <h1>Executions</h1>
      <form className="filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          Status
          <select aria-label="status filter" value={status} onChange={(event) => update({ status: event.target.value })}>
            <option value="">any</option>
            {STATUSES.map((value) => (
              <option key={value}>{value}</option>
            ))}
          </select>
        </label>
        <label>
          Config
          <select aria-label="config filter" value={configId} onChange={(event) => update({ config_id: event.target.value })}>
            <option value="">any</option>
            {(configs.data?.configs ?? []).map((config) => (
              <option key={config.id} value={config.id}>
                {config.name} ({shortId(config.id)})
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <input
            aria-label="tag filter"
            defaultValue={tag}
            placeholder="exact tag"
            onKeyDown={(event) => {
              if (event.key === "Enter") update({ tag: event.currentTarget.value.trim() });
            }}
            onBlur={(event) => update({ tag: event.currentTarget.value.trim() })}
          />
        </label>
        <label>
          Started after
          <input type="datetime-local" value={after} onChange={(event) => update({ after: event.target.value })} />
        </label>
        <label>
          Started before
          <input type="datetime-local" value={before} onChange={(event) => update({ before: event.target.value })} />
        </label>
      </form>
      <ErrorBox error={list.error} />
      <table className="grid" data-testid="executions-table">
        <thead>
          <tr>
            <th>Execution</th>
            <th>Status</th>
            <th>Config</th>
            <th>Tag</th>
            <th>Source</th>
            <th>Started</th>
            <th>Duration</th>
            <th>Progress</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.executions ?? []).map((row) => {
            const counts = details[row.id]?.message_counts;
            return (
              <tr key={row.id} data-execution-id={row.id}>
                <td>
                  <Link to={`/executions/${row.id}`} className="mono">
                    {shortId(row.id)}
                  </Link>
                  {row.parent_execution_id && (
                    <span className="muted"> ↳ replay of {shortId(row.parent_execution_id)}</span>
                  )}
                </td>
                <td>
                  <StatusBadge status={row.status} />
                </td>
                <td>
                  <Link to={`/configs/${row.config_id}`}>{configName(row)}</Link>
                </td>
                <td>{row.tag ?? ""}</td>
                <td>{row.source}</td>
                <td>{formatTime(row.started_at)}</td>
                <td>{formatDuration(elapsedMs(row.started_at, row.duration_ms, now))}</td>
                <td>
                  {row.status === "running" ? (
                    counts ? (
                      <Progress done={counts.handled} total={counts.published} />
                    ) : (
                      "…"
                    )
                  ) : (
                    <Progress done={1} total={1} label={row.status === "completed" ? "done" : row.status} />
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {list.data && list.data.executions.length === 0 && <p className="muted">No executions match.</p>}
      {list.data && (
        <Pager
          total={list.data.total}
          limit={PAGE_SIZE}
          offset={offset}
          onChange={(value) => update({ offset: value ? String(value) : "" })}
        />
      )}
    </section>
  );
}

export function Progress({ done, total, label }: { done: number; total: number; label?: string }) {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  return (
    <span className="progress" title={`${done} / ${total}`}>
      <span className="bar">
        <span style={{ width: `${Math.round(ratio * 100)}%` }} />
      </span>
      {label ?? `${done}/${total}`}
    </span>
  );
}

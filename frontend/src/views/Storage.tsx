// Storage browser: folders of an execution by route and stage, objects with content and
// sidecar; new objects appear live from the storage event stream.
import { useEffect, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { api, must } from "../api/client";
import { openStream } from "../api/sse";
import { ErrorBox, Pager, StatusBadge } from "../components/common";
import { ObjectPanel } from "../components/ObjectView";
import { formatBytes, formatTime, shortId } from "../lib/format";
import { useLoad, useThrottled } from "../lib/hooks";

const PAGE_SIZE = 100;

export function StorageBrowser() {
  const [params, setParams] = useSearchParams();
  const execution = params.get("execution") ?? "";
  const prefix = params.get("prefix") ?? (execution ? `executions/${execution}/` : "executions/");
  const offset = Number(params.get("offset") ?? "0") || 0;
  const [selected, setSelected] = useState<string | null>(null);
  const [fresh, setFresh] = useState(0);
  const list = useLoad(
    () =>
      must(
        api.GET("/api/v1/storage/objects", {
          params: {
            query: {
              prefix,
              delimiter: "/",
              include_execution_info: prefix === "executions/",
              limit: PAGE_SIZE,
              offset,
            },
          },
        }),
      ),
    [prefix, offset],
  );
  const refresh = useThrottled(() => list.reload(), 500);
  const executionId = prefix.match(/^executions\/([^/]+)\//)?.[1] ?? "";
  useEffect(() => {
    if (!executionId) return;
    const stream = openStream(`/api/v1/storage/events?execution_id=${executionId}&timeout=3600`, (frame) => {
      if (frame.event === "storage.object.created") {
        setFresh((value) => value + 1);
        refresh();
      }
    });
    return () => stream.close();
  }, [executionId, refresh]);

  const go = (next: string) => {
    setSelected(null);
    const query: Record<string, string> = { prefix: next };
    if (execution) query.execution = execution;
    setParams(query);
  };
  const parts = prefix.split("/").filter(Boolean);
  const prefixes = new Map((list.data?.execution_prefixes ?? []).map((info) => [info.prefix, info]));
  return (
    <section data-testid="storage-browser">
      <h1>Storage</h1>
      <nav className="crumbs">
        {parts.map((part, index) => {
          const target = `${parts.slice(0, index + 1).join("/")}/`;
          return (
            <span key={target}>
              {" / "}
              <button className="link" onClick={() => go(target)}>
                {part}
              </button>
            </span>
          );
        })}
        {executionId && fresh > 0 && <span className="muted small"> · {fresh} new objects while watching</span>}
      </nav>
      <ErrorBox error={list.error} />
      <table className="grid" data-testid="storage-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Size</th>
            <th>Type</th>
            <th>Written</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.common_prefixes ?? []).map((folder) => {
            const info = prefixes.get(folder);
            return (
              <tr key={folder} className="clickable" onClick={() => go(folder)}>
                <td>
                  📁 {folder.slice(prefix.length)}
                  {info && (
                    <span className="muted">
                      {" "}
                      {info.config_name} {info.tag ?? ""} {info.status && <StatusBadge status={info.status} />}
                    </span>
                  )}
                </td>
                <td />
                <td />
                <td>{info ? formatTime(info.started_at) : ""}</td>
              </tr>
            );
          })}
          {(list.data?.objects ?? []).map((object) => (
            <tr
              key={object.key}
              className={`clickable${selected === object.key ? " selected" : ""}`}
              onClick={() => setSelected(object.key)}
              data-key={object.key}
            >
              <td className="mono">{object.key.slice(prefix.length)}</td>
              <td>{formatBytes(object.size)}</td>
              <td>{object.content_type}</td>
              <td>{formatTime(object.last_modified)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && (
        <Pager
          total={list.data.total}
          limit={PAGE_SIZE}
          offset={offset}
          onChange={(value) => setParams({ ...Object.fromEntries(params), offset: String(value) })}
        />
      )}
      {selected && <ObjectPanel objectKey={selected} />}
      {executionId && (
        <p>
          <Link to={`/executions/${executionId}`}>Execution {shortId(executionId)}</Link>
        </p>
      )}
    </section>
  );
}

export function ObjectPage() {
  const params = useParams();
  const key = params["*"] ?? "";
  return (
    <section>
      <h1>Object</h1>
      <ObjectPanel objectKey={key} />
    </section>
  );
}

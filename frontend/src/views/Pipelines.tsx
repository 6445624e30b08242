// Routes across running executions, with global pause/resume and per-route metrics.
import { useState } from "react";
import { Link } from "react-router";
import { api, must } from "../api/client";
import { ErrorBox, Json } from "../components/common";
import { formatTime, shortId } from "../lib/format";
import { useInterval, useLoad } from "../lib/hooks";


export function Pipelines() {
  const routes = useLoad(() => must(api.GET("/api/v1/pipelines")), []);
  const [metricsFor, setMetricsFor] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const metrics = useLoad(
    () =>
      metricsFor
        ? must(api.GET("/api/v1/pipelines/{route_id}/metrics", { params: { path: { route_id: metricsFor } } }))
        : Promise.resolve(null),
    [metricsFor],
  );
  useInterval(routes.reload, 2000);
  const toggle = (routeId: string, pause: boolean) => {
    setError(null);
    must(
      api.PATCH("/api/v1/pipelines/{route_id}", {
        params: { path: { route_id: routeId } },
        body: { state: pause ? "paused" : "running", reason: "console" },
      }),
    ).then(() => routes.reload(), setError);
  };
  const paused = new Set((routes.data?.paused_routes ?? []).map((route) => route.route_id));
  return (
    <section>
      <h1>Routes</h1>
      <ErrorBox error={routes.error ?? error} />
      <table className="grid">
        <thead>
          <tr>
            <th>Route</th>
            <th>Execution</th>
            <th>State</th>
            <th>Messages</th>
            <th>Queue</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(routes.data?.routes ?? []).map((route) => (
            <tr key={`${route.execution_id}/${route.route_id}`}>
              <td>
                <button className="link" onClick={() => setMetricsFor(route.route_id)}>
                  {route.route_id}
                </button>
              </td>
              <td>
                <Link to={`/executions/${route.execution_id}`}>{route.execution_tag ?? shortId(route.execution_id)}</Link>
              </td>
              <td>
                {route.processor_state}
                {route.paused && " (paused)"}
              </td>
              <td>
                {route.completed}/{route.total_messages} done, {route.failed} failed, {route.in_flight} in flight
              </td>
              <td>{route.queue_depth ?? "—"}</td>
              <td>
                <button onClick={() => toggle(route.route_id, !route.paused)}>{route.paused ? "Resume" : "Pause"}</button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {routes.data && routes.data.routes.length === 0 && <p className="muted">No running executions.</p>}
      <h2>Paused route names</h2>
      <ul>
        {(routes.data?.paused_routes ?? []).map((route) => (
          <li key={route.route_id}>
            {route.route_id} since {formatTime(route.paused_at)} {route.reason}{" "}
            <button onClick={() => toggle(route.route_id, false)}>Resume</button>
          </li>
        ))}
        {paused.size === 0 && <li className="muted">none</li>}
      </ul>
      {metricsFor && (
        <div className="panel">
          <h2>Metrics of {metricsFor}</h2>
          <ErrorBox error={metrics.error} />
          {metrics.data && <Json value={metrics.data} />}
        </div>
      )}
    </section>
  );
}

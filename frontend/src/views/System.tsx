// System: health (with the debug block for an authorized caller), metrics and adapters.
import { useState } from "react";
import { api, must } from "../api/client";
import { ErrorBox, Json, StatusBadge } from "../components/common";
import { useInterval, useLoad } from "../lib/hooks";

export function System() {
  const [debug, setDebug] = useState(false);
  const health = useLoad(async () => {
    // 503 still carries a HealthResponse body.
    const { data, error } = await api.GET("/api/v1/system/health", { params: { query: { debug } } });
    return data ?? (error as unknown as typeof data) ?? null;
  }, [debug]);
  const metrics = useLoad(() => must(api.GET("/api/v1/system/metrics")), []);
  const adapters = useLoad(() => must(api.GET("/api/v1/adapters")), []);
  useInterval(() => {
    health.reload();
    metrics.reload();
  }, 2000);
  return (
    <section>
      <h1>System</h1>
      <h2>
        Health {health.data && <StatusBadge status={health.data.status} />}{" "}
        <label className="small">
          <input type="checkbox" checked={debug} onChange={(event) => setDebug(event.target.checked)} /> debug
        </label>
      </h2>
      <ErrorBox error={health.error} />
      {health.data && (
        <table className="grid" data-testid="health">
          <tbody>
            {health.data.components.map((component) => (
              <tr key={component.name}>
                <td>{component.name}</td>
                <td>
                  <StatusBadge status={component.status} />
                </td>
                <td>{component.message}</td>
                <td>{component.latency_ms?.toFixed(1)} ms</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {health.data?.debug && <Json value={health.data.debug} />}
      <h2>Metrics</h2>
      <ErrorBox error={metrics.error} />
      {metrics.data && <Json value={metrics.data} />}
      <h2>Adapters</h2>
      <ErrorBox error={adapters.error} />
      <table className="grid">
        <tbody>
          {(adapters.data?.adapters ?? []).map((adapter) => (
            <tr key={adapter.type}>
              <td>
                <strong>{adapter.type}</strong>
                <div className="muted small">
                  {adapter.package} {adapter.package_version}
                </div>
              </td>
              <td>
                {adapter.description}
                {adapter.load_error && <div className="bad">{adapter.load_error.message}</div>}
                {adapter.config_schema && (
                  <details>
                    <summary>config schema</summary>
                    <Json value={adapter.config_schema} />
                  </details>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Workers</h2>
      <p className="muted">This server has no worker API yet; workers appear here once it exists.</p>
    </section>
  );
}

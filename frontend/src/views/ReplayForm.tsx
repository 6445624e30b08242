// Replay stored output of a stage into a new execution (same pipeline, another route, or
// another config); resolution errors are shown as the API gives them.
import { useState } from "react";
import { useNavigate } from "react-router";
import { api, must, type ExecutionDetail, type Schemas } from "../api/client";
import { ErrorBox } from "../components/common";
import { useLoad } from "../lib/hooks";

export function ReplayForm({ execution, dag }: { execution: ExecutionDetail; dag: Schemas["DAGResponse"] }) {
  const navigate = useNavigate();
  const stages = dag.nodes.flatMap((node) => node.adapters.map((adapter) => ({ route: node.route_id, stage: adapter.stage })));
  const [stage, setStage] = useState(stages[0] ? `${stages[0].route}\u0000${stages[0].stage}` : "");
  const [toRoute, setToRoute] = useState("");
  const [configId, setConfigId] = useState("");
  const [fromPath, setFromPath] = useState("");
  const [tag, setTag] = useState("");
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const configs = useLoad(() => must(api.GET("/api/v1/configs", { params: { query: { limit: 1000 } } })), []);

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    const [fromRoute, fromStage] = stage.split("\u0000");
    if (!fromStage) return;
    setBusy(true);
    setError(null);
    must(
      api.POST("/api/v1/executions/{ref}/replay", {
        params: { path: { ref: execution.id } },
        body: {
          from_stage: fromStage,
          from_route: fromRoute || null,
          to_route: toRoute || null,
          config_id: configId || null,
          from_path: fromPath || null,
          tag: tag || null,
        },
      }),
    ).then(
      (created) => navigate(`/executions/${created.id}`),
      (reason: Error) => {
        setBusy(false);
        setError(reason);
      },
    );
  };

  return (
    <form className="panel replay" onSubmit={submit} aria-label="replay">
      <h2>Replay from a stage</h2>
      <label>
        From stage
        <select aria-label="from stage" value={stage} onChange={(event) => setStage(event.target.value)}>
          {stages.map((item) => (
            <option key={`${item.route}/${item.stage}`} value={`${item.route}\u0000${item.stage}`}>
              {item.route} / {item.stage}
            </option>
          ))}
        </select>
      </label>
      <label>
        Into route
        <input
          aria-label="to route"
          list="replay-routes"
          value={toRoute}
          placeholder="same pipeline"
          onChange={(event) => setToRoute(event.target.value.trim())}
        />
        <datalist id="replay-routes">
          {dag.nodes.map((node) => (
            <option key={node.route_id} value={node.route_id} />
          ))}
        </datalist>
      </label>
      <label>
        Config
        <select aria-label="replay config" value={configId} onChange={(event) => setConfigId(event.target.value)}>
          <option value="">this execution's snapshot</option>
          {(configs.data?.configs ?? []).map((config) => (
            <option key={config.id} value={config.id}>
              {config.name} v{config.version}
            </option>
          ))}
        </select>
      </label>
      <label>
        File prefix
        <input value={fromPath} onChange={(event) => setFromPath(event.target.value.trim())} placeholder="all objects" />
      </label>
      <label>
        Tag
        <input aria-label="replay tag" value={tag} onChange={(event) => setTag(event.target.value.trim())} />
      </label>
      <button type="submit" disabled={busy || !stage}>
        Replay
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

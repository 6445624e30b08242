// Pipelines configs: list, detail (YAML, validation report, versions), create/update from YAML
// with the validator's issues at their line, and run with a tag and payload overrides.
import { useEffect, useMemo, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, must, type Schemas } from "../api/client";
import { ErrorBox, StatusBadge } from "../components/common";
import { formatTime, shortId } from "../lib/format";
import { useLoad } from "../lib/hooks";

type Report = Schemas["ValidationReport"];

export function ConfigsList() {
  const configs = useLoad(() => must(api.GET("/api/v1/configs", { params: { query: { state: "all", limit: 1000 } } })), []);
  return (
    <section>
      <h1>Configs</h1>
      <p>
        <Link to="/configs/new">New config from YAML</Link>
      </p>
      <ErrorBox error={configs.error} />
      <table className="grid" data-testid="configs-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Version</th>
            <th>State</th>
            <th>Validation</th>
            <th>Source</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {(configs.data?.configs ?? []).map((config) => (
            <tr key={config.id}>
              <td>
                <Link to={`/configs/${config.id}`}>{config.name}</Link> <span className="muted mono">{shortId(config.id)}</span>
              </td>
              <td>v{config.version}</td>
              <td>{config.is_active ? (config.is_runnable ? "runnable" : "not runnable") : "inactive"}</td>
              <td>
                {config.validation_report.error_count} errors, {config.validation_report.warning_count} warnings
              </td>
              <td>{config.source_type}</td>
              <td>{formatTime(config.updated_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A YAML editor with a line gutter; lines with issues are marked and listed under it. */
export function YamlEditor({
  value,
  onChange,
  report,
  readOnly = false,
}: {
  value: string;
  onChange?: (value: string) => void;
  report: Report | null;
  readOnly?: boolean;
}) {
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const lines = value.split("\n");
  const byLine = useMemo(() => {
    const map = new Map<number, Schemas["ValidationIssue"][]>();
    for (const issue of report?.issues ?? []) {
      if (issue.line) map.set(issue.line, [...(map.get(issue.line) ?? []), issue]);
    }
    return map;
  }, [report]);
  const jump = (line: number) => {
    const element = area.current;
    if (!element) return;
    const start = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
    element.focus();
    element.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
    element.scrollTop = (line - 3) * 18;
  };
  return (
    <div className="yaml-editor">
      <div className="editor">
        <div className="gutter" ref={gutter} aria-hidden>
          {lines.map((_text, index) => {
            const issues = byLine.get(index + 1);
            const severity = issues?.some((issue) => issue.severity === "error") ? "error" : issues ? "warning" : "";
            return (
              <div key={index} className={severity} title={issues?.map((issue) => `${issue.code}: ${issue.message}`).join("\n")}>
                {index + 1}
              </div>
            );
          })}
        </div>
        <textarea
          ref={area}
          aria-label="config yaml"
          value={value}
          readOnly={readOnly}
          spellCheck={false}
          wrap="off"
          rows={Math.min(40, Math.max(10, lines.length + 1))}
          onChange={(event) => onChange?.(event.target.value)}
          onScroll={(event) => {
            if (gutter.current) gutter.current.scrollTop = event.currentTarget.scrollTop;
          }}
        />
      </div>
      <IssueList report={report} onJump={jump} />
    </div>
  );
}

export function IssueList({ report, onJump }: { report: Report | null; onJump?: (line: number) => void }) {
  if (!report) return null;
  return (
    <div className="issues" data-testid="validation-report">
      <p className={report.is_valid ? "ok" : "bad"}>
        {report.is_valid ? "Valid" : "Invalid"}: {report.error_count} errors, {report.warning_count} warnings
      </p>
      <ul>
        {report.issues.map((issue, index) => (
          <li key={index} className={issue.severity}>
            <button className="link" disabled={!issue.line} onClick={() => issue.line && onJump?.(issue.line)}>
              {issue.line ? `line ${issue.line}${issue.column ? `:${issue.column}` : ""}` : "—"}
            </button>{" "}
            <strong>{issue.code}</strong> {issue.path && <code>{issue.path}</code>} {issue.message}
            {issue.suggestion && <div className="muted small">→ {issue.suggestion}</div>}
          </li>
        ))}
      </ul>
    </div>
  );
}

function useLiveValidation(yaml: string): Report | null {
  const [report, setReport] = useState<Report | null>(null);
  useEffect(() => {
    if (!yaml.trim()) return;
    const handle = setTimeout(() => {
      must(api.POST("/api/v1/configs/validate", { body: { config_yaml: yaml } })).then(setReport, () => undefined);
    }, 400);
    return () => clearTimeout(handle);
  }, [yaml]);
  return report;
}

export function ConfigEditor({ initial, configId, version }: { initial: string; configId?: string; version?: number }) {
  const navigate = useNavigate();
  const [yaml, setYaml] = useState(initial);
  const [error, setError] = useState<Error | null>(null);
  const report = useLiveValidation(yaml);
  const save = () => {
    setError(null);
    const call = configId
      ? must(
          api.PUT("/api/v1/configs/{config_id}", {
            params: { path: { config_id: configId } },
            body: { config_yaml: yaml, expected_version: version ?? null },
          }),
        )
      : must(api.POST("/api/v1/configs", { body: { config_yaml: yaml, source_type: "api" } }));
    call.then((saved) => navigate(`/configs/${saved.id}?saved=${saved.version}`), setError);
  };
  return (
    <div className="panel">
      <YamlEditor value={yaml} onChange={setYaml} report={report} />
      <button onClick={save}>{configId ? "Save new version" : "Create config"}</button>
      <ErrorBox error={error} />
    </div>
  );
}

export function NewConfig() {
  return (
    <section>
      <h1>New config</h1>
      <ConfigEditor initial={'version: "1.0"\nname: my-pipeline\nroutes:\n  main:\n    inbound: {queue: main.in}\n    adapters:\n      - type: passthrough\ninit_message:\n  route: main\n  payload: {}\n'} />
    </section>
  );
}

export function ConfigDetail() {
  const { configId = "" } = useParams();
  const navigate = useNavigate();
  const [editing, setEditing] = useState(false);
  const config = useLoad(() => must(api.GET("/api/v1/configs/{config_id}", { params: { path: { config_id: configId } } })), [configId]);
  const runs = useLoad(
    () => must(api.GET("/api/v1/executions", { params: { query: { config_id: configId, limit: 1000 } } })),
    [configId],
  );
  const [tag, setTag] = useState("");
  const [overrides, setOverrides] = useState("");
  const [runError, setRunError] = useState<Error | null>(null);
  if (config.error) return <ErrorBox error={config.error} />;
  if (!config.data) return <p>Loading…</p>;
  const data = config.data;
  const versions = new Map<number, string>();
  for (const run of runs.data?.executions ?? []) {
    if (!versions.has(run.config_version)) versions.set(run.config_version, run.id);
  }
  const run = (event: React.FormEvent) => {
    event.preventDefault();
    setRunError(null);
    let parsed: Record<string, unknown> | null = null;
    if (overrides.trim()) {
      try {
        parsed = JSON.parse(overrides) as Record<string, unknown>;
      } catch (reason) {
        setRunError(new Error(`Payload overrides are not JSON: ${String(reason)}`));
        return;
      }
    }
    must(
      api.POST("/api/v1/configs/{config_id}/run", {
        params: { path: { config_id: data.id }, query: { tag: tag || undefined } },
        body: { init_payload_overrides: parsed },
      }),
    ).then((execution) => navigate(`/executions/${execution.id}`), setRunError);
  };
  return (
    <section data-testid="config-detail">
      <h1>
        {data.name} <span className="muted">v{data.version}</span>
      </h1>
      <p className="muted">
        {data.description} · {data.source_type} {data.source_path ?? ""} · {data.config_hash} · updated {formatTime(data.updated_at)}
        {!data.is_active && " · inactive"}
      </p>
      <form className="panel run" onSubmit={run} aria-label="run config">
        <h2>Run</h2>
        <label>
          Tag <input aria-label="run tag" value={tag} onChange={(event) => setTag(event.target.value.trim())} />
        </label>
        <label>
          Payload overrides (JSON)
          <textarea
            aria-label="payload overrides"
            rows={3}
            value={overrides}
            placeholder='{"key": "value"}'
            onChange={(event) => setOverrides(event.target.value)}
          />
        </label>
        <button type="submit" disabled={!data.is_runnable}>
          Run
        </button>
        <ErrorBox error={runError} />
      </form>
      {editing ? (
        <ConfigEditor initial={data.config_yaml} configId={data.id} version={data.version} />
      ) : (
        <>
          <button onClick={() => setEditing(true)} disabled={!data.is_active}>
            Edit YAML
          </button>
          <YamlEditor value={data.config_yaml} report={data.validation_report} readOnly />
        </>
      )}
      <h2>Versions that ran</h2>
      <ul>
        {[...versions.entries()].map(([number, executionId]) => (
          <li key={number}>
            v{number}: latest run <Link to={`/executions/${executionId}`}>{shortId(executionId)}</Link>
          </li>
        ))}
      </ul>
      <h2>Recent executions</h2>
      <ul>
        {(runs.data?.executions ?? []).slice(0, 10).map((execution) => (
          <li key={execution.id}>
            <Link to={`/executions/${execution.id}`}>{shortId(execution.id)}</Link> <StatusBadge status={execution.status} />{" "}
            {formatTime(execution.started_at)} {execution.tag}
          </li>
        ))}
      </ul>
      <p>
        <Link to={`/?config_id=${data.id}`}>All executions of this config</Link>
      </p>
    </section>
  );
}

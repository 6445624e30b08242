// Lineage explorer: a message's chain (ancestors and descendants) as a graph; wide fan-outs
// are collapsed beyond a limit. A node opens its stage outputs beside their inputs.
import { Background, Controls, Position, ReactFlow, type Edge, type Node } from "@xyflow/react";
import { useMemo, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { api, must, type LineageEntry, type LineageMessage } from "../api/client";
import { ErrorBox, StatusBadge } from "../components/common";
import { ObjectPanel } from "../components/ObjectView";
import { formatDuration, shortId } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { useFlowNodes } from "../lib/flow";
import { layoutGraph } from "../lib/layout";

export const FANOUT_LIMIT = 8;
/** How many more children one click on a "+N more" node shows. */
export const FANOUT_STEP = 50;
const NODE_W = 200;
const NODE_H = 56;

interface GraphNodeData extends Record<string, unknown> {
  label: React.ReactNode;
}

export interface ChainGraph {
  nodes: { id: string; message: LineageMessage | null; hidden: number; parent: string | null }[];
  edges: { source: string; target: string }[];
}

/**
 * Nodes and edges of a chain. A parent shows its first `limit` children, or as many as
 * `expanded` says for it; the rest (with their subtrees) become one "+N more" node.
 */
export function chainGraph(
  messages: LineageMessage[],
  expanded: ReadonlyMap<string, number>,
  limit = FANOUT_LIMIT,
): ChainGraph {
  const byId = new Map(messages.map((message) => [message.correlation_id, message]));
  const children = new Map<string, LineageMessage[]>();
  for (const message of messages) {
    const parent = message.parent_correlation_id;
    if (parent && byId.has(parent)) children.set(parent, [...(children.get(parent) ?? []), message]);
  }
  const hidden = new Set<string>();
  const graph: ChainGraph = { nodes: [], edges: [] };
  for (const [parent, kids] of children) {
    const shown = expanded.get(parent) ?? limit;
    if (kids.length > shown) {
      const rest = kids.slice(shown);
      const stack = [...rest];
      while (stack.length) {
        const next = stack.pop()!;
        hidden.add(next.correlation_id);
        stack.push(...(children.get(next.correlation_id) ?? []));
      }
      graph.nodes.push({ id: `more:${parent}`, message: null, hidden: rest.length, parent });
      graph.edges.push({ source: parent, target: `more:${parent}` });
    }
  }
  for (const message of messages) {
    if (hidden.has(message.correlation_id)) continue;
    graph.nodes.push({ id: message.correlation_id, message, hidden: 0, parent: message.parent_correlation_id });
    const parent = message.parent_correlation_id;
    if (parent && byId.has(parent)) graph.edges.push({ source: parent, target: message.correlation_id });
  }
  return graph;
}

export function LineageExplorer() {
  const { id = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const selected = params.get("message") ?? id;
  const [expanded, setExpanded] = useState<ReadonlyMap<string, number>>(new Map());
  const chain = useLoad(
    () =>
      must(
        api.GET("/api/v1/lineage/{lineage_id}/chain", {
          params: { path: { lineage_id: id }, query: { max_messages: 1000, max_depth: 100 } },
        }),
      ),
    [id],
  );
  const messages = useMemo(
    () => (chain.data ? [...chain.data.ancestors, chain.data.message, ...chain.data.descendants] : []),
    [chain.data],
  );
  const { computed, edges } = useMemo(() => {
    const graph = chainGraph(messages, expanded);
    const positions = layoutGraph(
      graph.nodes.map((node) => ({ id: node.id, width: NODE_W, height: NODE_H })),
      graph.edges,
    );
    const nodes: Node<GraphNodeData>[] = graph.nodes.map((node) => {
      const message = node.message;
      const routes = message ? [...new Set(message.entries.map((entry) => entry.route_id))].join(", ") : "";
      return {
        id: node.id,
        position: positions.get(node.id) ?? { x: 0, y: 0 },
        sourcePosition: Position.Right,
        targetPosition: Position.Left,
        className: `lineage-node${node.id === selected ? " selected-node" : ""}${message ? ` status-${message.status}` : " more"}`,
        style: { width: NODE_W },
        data: {
          label: message ? (
            <div data-testid={`message-${message.correlation_id}`}>
              <span className="mono">{shortId(message.correlation_id)}</span> <StatusBadge status={message.status} />
              <div className="small muted">{routes}</div>
            </div>
          ) : (
            <div data-testid="fanout-more" title={`show ${Math.min(FANOUT_STEP, node.hidden)} more`}>
              +{node.hidden} more
            </div>
          ),
        },
      };
    });
    const edges: Edge[] = graph.edges.map((edge) => ({ id: `${edge.source}>${edge.target}`, ...edge }));
    return { computed: nodes, edges };
  }, [messages, expanded, selected]);
  const { nodes, onNodesChange } = useFlowNodes(computed);

  if (chain.error) return <ErrorBox error={chain.error} />;
  if (!chain.data) return <p>Loading…</p>;
  const current = messages.find((message) => message.correlation_id === selected) ?? chain.data.message;
  return (
    <section data-testid="lineage-explorer">
      <h1>
        Lineage of <span className="mono">{id}</span>
      </h1>
      <p className="muted">
        {chain.data.ancestors.length} ancestors · {chain.data.descendants.length} descendants
        {chain.data.truncated && " (truncated)"} · root{" "}
        <Link to={`/lineage/${chain.data.root_correlation_id}`} className="mono">
          {shortId(chain.data.root_correlation_id)}
        </Link>
      </p>
      <div className="lineage-graph">
        <ReactFlow
          // Re-mounted when a fan-out expands, so the view fits the new graph.
          key={[...expanded].map(([parent, shown]) => `${parent}:${shown}`).join(",")}
          minZoom={0.02}
          nodes={nodes}
          edges={edges}
          onNodesChange={onNodesChange}
          fitView
          nodesConnectable={false}
          onlyRenderVisibleElements
          proOptions={{ hideAttribution: true }}
          onNodeClick={(_event, node) => {
            if (node.id.startsWith("more:")) {
              const parent = node.id.slice(5);
              setExpanded((old) => new Map([...old, [parent, (old.get(parent) ?? FANOUT_LIMIT) + FANOUT_STEP]]));
            } else {
              setParams({ message: node.id });
            }
          }}
          onNodeDoubleClick={(_event, node) => {
            if (!node.id.startsWith("more:")) navigate(`/lineage/${node.id}`);
          }}
        >
          <Background />
          <Controls showInteractive={false} />
        </ReactFlow>
      </div>
      <MessagePanel message={current} messages={messages} />
    </section>
  );
}

/** Where a row's input was stored: the previous stored row of the message, else the parent's last. */
export function inputKey(entry: LineageEntry, message: LineageMessage, messages: LineageMessage[]): string | null {
  const rows = [...message.entries].sort((a, b) => a.started_at.localeCompare(b.started_at));
  const position = rows.findIndex((row) => row.id === entry.id);
  for (let index = position - 1; index >= 0; index--) {
    const key = rows[index]?.storage_key;
    if (key) return key;
  }
  const parent = messages.find((candidate) => candidate.correlation_id === message.parent_correlation_id);
  if (!parent) return null;
  const stored = [...parent.entries].filter((row) => row.storage_key).sort((a, b) => a.started_at.localeCompare(b.started_at));
  return stored.at(-1)?.storage_key ?? null;
}

function MessagePanel({ message, messages }: { message: LineageMessage; messages: LineageMessage[] }) {
  const [entryId, setEntryId] = useState<string | null>(null);
  const entry = message.entries.find((row) => row.id === entryId) ?? null;
  const input = entry ? inputKey(entry, message, messages) : null;
  return (
    <div className="panel" data-testid="message-panel">
      <h2>
        Message <span className="mono">{message.correlation_id}</span> <StatusBadge status={message.status} />
      </h2>
      <p>
        Execution <Link to={`/executions/${message.execution_id}`}>{shortId(message.execution_id)}</Link>
        {message.parent_correlation_id && (
          <>
            {" · parent "}
            <Link to={`/lineage/${message.parent_correlation_id}`}>{shortId(message.parent_correlation_id)}</Link>
          </>
        )}
      </p>
      <table className="grid">
        <thead>
          <tr>
            <th>Route / stage</th>
            <th>Status</th>
            <th>Duration</th>
            <th>Stored output</th>
          </tr>
        </thead>
        <tbody>
          {message.entries.map((row) => (
            <tr key={row.id} className={row.id === entryId ? "selected" : ""}>
              <td>
                {row.route_id}/{row.stage_name}
              </td>
              <td>
                <StatusBadge status={row.stage_status} />
              </td>
              <td>{formatDuration(row.duration_ms)}</td>
              <td>
                {row.storage_key ? (
                  <button className="small" onClick={() => setEntryId(row.id)}>
                    Open output
                  </button>
                ) : (
                  <span className="muted">—</span>
                )}
                {row.error_info && <span className="bad"> {String(row.error_info.message ?? "")}</span>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {entry?.storage_key && (
        <div className="io">
          {input ? <ObjectPanel objectKey={input} title="Input" /> : <p className="muted">No stored input (first stage).</p>}
          <ObjectPanel objectKey={entry.storage_key} title={`Output of ${entry.stage_name}`} />
        </div>
      )}
    </div>
  );
}

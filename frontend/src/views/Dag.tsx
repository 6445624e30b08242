// The route graph of an execution: routes as nodes (live counters, queue depth, pause state),
// queues as edges, laid out automatically.
import { Background, Controls, Handle, Position, ReactFlow, type Edge, type Node, type NodeProps } from "@xyflow/react";
import { useMemo, useRef } from "react";
import { useFlowNodes } from "../lib/flow";
import type { Schemas } from "../api/client";
import { layoutGraph } from "../lib/layout";

type RouteStatus = Schemas["RouteStatus"];
type DagResponse = Schemas["DAGResponse"];

interface RouteNodeData extends Record<string, unknown> {
  node: Schemas["DAGNode"];
  status: RouteStatus | undefined;
  onToggle: ((routeId: string, paused: boolean) => void) | undefined;
}

const NODE_WIDTH = 260;

function RouteNode({ data }: NodeProps<Node<RouteNodeData>>) {
  const { node, status, onToggle } = data;
  const paused = status?.paused ?? false;
  return (
    <div className={`route-node${paused ? " paused" : ""}`} data-testid={`route-${node.route_id}`} data-paused={paused}>
      <Handle type="target" position={Position.Left} />
      <div className="route-title">
        <strong>{node.route_id}</strong>
        {node.is_init_route && <span className="badge">init</span>}
        {paused && <span className="badge status-paused">paused</span>}
      </div>
      <div className="muted small">{node.name}</div>
      <ol className="adapters">
        {node.adapters.map((adapter) => (
          <li key={adapter.index}>
            {adapter.stage}
            {adapter.stage !== adapter.type && <span className="muted"> ({adapter.type})</span>}
            {adapter.condition && <span title={JSON.stringify(adapter.condition)}> ◇</span>}
          </li>
        ))}
      </ol>
      {status && (
        <div className="route-counts small">
          <span title="messages handled" data-testid="handled">✔ {status.completed}</span>
          <span title="in flight">⟳ {status.in_flight}</span>
          <span title="failed" className={status.failed ? "bad" : ""}>
            ✖ {status.failed}
          </span>
          <span title="queue depth">▤ {status.queue_depth ?? "—"}</span>
          <span className="muted">{status.processor_state}</span>
        </div>
      )}
      {onToggle && (
        <button className="nodrag small" onClick={() => onToggle(node.route_id, !paused)}>
          {paused ? "Resume route" : "Pause route"}
        </button>
      )}
      <Handle type="source" position={Position.Right} />
    </div>
  );
}

const nodeTypes = { route: RouteNode };

export function Dag({
  dag,
  routes,
  onToggle,
}: {
  dag: DagResponse;
  routes: RouteStatus[];
  onToggle?: (routeId: string, paused: boolean) => void;
}) {
  // A stable callback, so node data only changes when the counters do.
  const toggle = useRef(onToggle);
  toggle.current = onToggle;
  const hasToggle = onToggle !== undefined;
  const { computed, edges } = useMemo(() => {
    const byRoute = new Map(routes.map((route) => [route.route_id, route]));
    const sizes = dag.nodes.map((node) => ({ id: node.route_id, width: NODE_WIDTH, height: 120 + node.adapters.length * 18 }));
    const links = dag.edges.map((edge) => ({ source: edge.from_route, target: edge.to_route }));
    const positions = layoutGraph(sizes, links);
    const nodes: Node<RouteNodeData>[] = dag.nodes.map((node) => ({
      id: node.route_id,
      type: "route",
      position: positions.get(node.route_id) ?? { x: 0, y: 0 },
      data: {
        node,
        status: byRoute.get(node.route_id),
        onToggle: hasToggle ? (routeId: string, paused: boolean) => toggle.current?.(routeId, paused) : undefined,
      },
    }));
    const edges: Edge[] = dag.edges.map((edge, index) => ({
      id: `${edge.from_route}-${edge.to_route}-${index}`,
      source: edge.from_route,
      target: edge.to_route,
      label: edge.condition ? `${edge.queue} ◇` : edge.queue,
      animated: (byRoute.get(edge.to_route)?.queue_depth ?? 0) > 0,
    }));
    return { computed: nodes, edges };
  }, [dag, routes, hasToggle]);
  const { nodes, onNodesChange } = useFlowNodes(computed);
  return (
    <div className="dag" data-testid="dag">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        onNodesChange={onNodesChange}
        nodeTypes={nodeTypes}
        fitView nodesConnectable={false} proOptions={{ hideAttribution: true }}>
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

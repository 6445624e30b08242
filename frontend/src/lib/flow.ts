import { useNodesState, type Node } from "@xyflow/react";
import { useEffect } from "react";

/**
 * React Flow nodes that follow `computed` (new data, new layout) but keep what React Flow measured,
 * so re-rendered nodes stay visible and their edges keep their handles.
 */
export function useFlowNodes<T extends Node>(computed: T[]) {
  const [nodes, setNodes, onNodesChange] = useNodesState<T>(computed);
  useEffect(() => {
    setNodes((old) => {
      const previous = new Map(old.map((node) => [node.id, node]));
      return computed.map((node) => {
        const prev = previous.get(node.id);
        return prev ? ({ ...prev, ...node, measured: prev.measured } as T) : node;
      });
    });
  }, [computed, setNodes]);
  return { nodes, onNodesChange };
}

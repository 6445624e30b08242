// A stored object: its content (JSON pretty-printed, markdown rendered, text, or binary as a
// download) and its sidecar metadata.
import DOMPurify from "dompurify";
import { marked } from "marked";
import { useEffect, useState } from "react";
import { Link } from "react-router";
import { ApiError, fetchRaw, objectPath, type ErrorBody, type ObjectMetadata } from "../api/client";
import { formatBytes } from "../lib/format";
import { useLoad } from "../lib/hooks";
import { ErrorBox, Json } from "./common";

export type ContentKind = "json" | "markdown" | "text" | "binary";

export function contentKind(key: string, contentType: string): ContentKind {
  const type = contentType.toLowerCase();
  if (type.includes("json") || key.endsWith(".json")) return "json";
  if (type.includes("markdown") || key.endsWith(".md")) return "markdown";
  if (type.startsWith("text/") || /\.(txt|csv|html?|xml|ya?ml|log)$/.test(key)) return "text";
  return "binary";
}

interface Content {
  kind: ContentKind;
  text: string;
  blob: Blob;
  contentType: string;
}

async function loadContent(key: string): Promise<Content> {
  const response = await fetchRaw(objectPath(key));
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try {
      const body = (await response.json()) as { error_code?: string; detail?: string };
      detail = `${response.status} ${body.error_code ?? ""}: ${body.detail ?? ""}`;
    } catch {
      // not an envelope
    }
    throw new Error(detail);
  }
  const contentType = response.headers.get("content-type") ?? "application/octet-stream";
  const blob = await response.blob();
  const kind = contentKind(key, contentType);
  const text = kind === "binary" ? "" : await blob.text();
  return { kind, text, blob, contentType };
}

export function ContentView({ objectKey }: { objectKey: string }) {
  const content = useLoad(() => loadContent(objectKey), [objectKey]);
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!content.data || content.data.kind !== "binary") return;
    const created = URL.createObjectURL(content.data.blob);
    setUrl(created);
    return () => URL.revokeObjectURL(created);
  }, [content.data]);
  if (content.error) return <ErrorBox error={content.error} />;
  if (!content.data) return <p>Loading…</p>;
  const { kind, text, blob } = content.data;
  if (kind === "json") {
    let pretty = text;
    try {
      pretty = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // show as stored
    }
    return <pre className="json" data-testid="object-content">{pretty}</pre>;
  }
  if (kind === "markdown") {
    const html = DOMPurify.sanitize(marked.parse(text, { async: false }));
    return <div className="markdown" data-testid="object-content" dangerouslySetInnerHTML={{ __html: html }} />;
  }
  if (kind === "text") return <pre data-testid="object-content">{text}</pre>;
  return (
    <p data-testid="object-content">
      Binary object ({formatBytes(blob.size)}).{" "}
      {url && (
        <a href={url} download={objectKey.split("/").pop()}>
          Download
        </a>
      )}
    </p>
  );
}

async function loadMetadata(key: string): Promise<ObjectMetadata> {
  const response = await fetchRaw(objectPath(key, true));
  const body = (await response.json()) as ObjectMetadata | ErrorBody;
  if (!response.ok) throw new ApiError(response.status, body as ErrorBody, `HTTP ${response.status}`);
  return body as ObjectMetadata;
}

export function MetadataView({ objectKey }: { objectKey: string }) {
  const metadata = useLoad(() => loadMetadata(objectKey), [objectKey]);
  if (metadata.error) return <ErrorBox error={metadata.error} />;
  if (!metadata.data) return <p>Loading…</p>;
  const data = metadata.data;
  return (
    <div data-testid="object-metadata">
      {data.correlation_id && (
        <p>
          <Link to={`/lineage/${data.correlation_id}`}>Lineage of this message</Link>
          {data.execution_id && (
            <>
              {" · "}
              <Link to={`/executions/${data.execution_id}`}>its execution</Link>
            </>
          )}
        </p>
      )}
      <Json value={data} />
    </div>
  );
}

/** Content and sidecar of one object side by side, with a deep link to it. */
export function ObjectPanel({ objectKey, title }: { objectKey: string; title?: string }) {
  return (
    <div className="object-panel">
      <h3>
        {title ?? "Object"}{" "}
        <Link className="mono small" to={`/storage/object/${objectKey}`}>
          {objectKey}
        </Link>
      </h3>
      <div className="side-by-side">
        <div>
          <h4>Content</h4>
          <ContentView objectKey={objectKey} />
        </div>
        <div>
          <h4>Sidecar</h4>
          <MetadataView objectKey={objectKey} />
        </div>
      </div>
    </div>
  );
}

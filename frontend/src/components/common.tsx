import { ApiError } from "../api/client";

export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge status-${status}`} data-status={status}>
      {status}
    </span>
  );
}

/** An API error as the API gave it: status, `error_code`, detail and context. */
export function ErrorBox({ error }: { error: Error | null }) {
  if (!error) return null;
  if (error instanceof ApiError && error.body) {
    const { error_code, detail, context, errors } = error.body;
    return (
      <div className="error" role="alert">
        <strong>
          {error.status} {error_code}
        </strong>
        : {detail}
        {context && Object.keys(context).length > 0 && <pre>{JSON.stringify(context, null, 2)}</pre>}
        {errors && errors.length > 0 && (
          <ul>
            {errors.map((item, index) => (
              <li key={index}>
                {item.loc.join(".")}: {item.msg}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  return (
    <div className="error" role="alert">
      {error.message}
    </div>
  );
}

export function Json({ value }: { value: unknown }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}

export function Pager({
  total,
  limit,
  offset,
  onChange,
}: {
  total: number;
  limit: number;
  offset: number;
  onChange: (offset: number) => void;
}) {
  const page = Math.floor(offset / limit) + 1;
  const pages = Math.max(1, Math.ceil(total / limit));
  return (
    <div className="pager">
      <button disabled={offset === 0} onClick={() => onChange(0)}>
        « First
      </button>
      <button disabled={offset === 0} onClick={() => onChange(Math.max(0, offset - limit))}>
        ‹ Prev
      </button>
      <span>
        Page {page} of {pages} ({total.toLocaleString("en")} total)
      </span>
      <button disabled={offset + limit >= total} onClick={() => onChange(offset + limit)}>
        Next ›
      </button>
      <button disabled={offset + limit >= total} onClick={() => onChange((pages - 1) * limit)}>
        Last »
      </button>
    </div>
  );
}

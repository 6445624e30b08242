// The typed API client: paths and schemas come from the server's OpenAPI document
// (`openapi.json` → `schema.d.ts`), so an API change breaks `tsc`, not the user.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Execution = Schemas["ExecutionResponse"];
export type ExecutionDetail = Schemas["ExecutionDetailResponse"];
export type LineageEntry = Schemas["LineageEntry"];
export type LineageMessage = Schemas["LineageMessage"];
export type ObjectInfo = Schemas["ObjectInfo"];
export type ObjectMetadata = Schemas["ObjectMetadata"];
export type ErrorBody = Schemas["ErrorResponse"];

const TOKEN_KEY = "factflow.apiToken";
type Listener = () => void;
const listeners = new Set<Listener>();
let tokenRequired = false;

/** The bearer token the console sends (kept in this browser's local storage). */
export function getToken(): string | null {
  try {
    return window.localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  if (token) window.localStorage.setItem(TOKEN_KEY, token);
  else window.localStorage.removeItem(TOKEN_KEY);
  tokenRequired = false;
  listeners.forEach((listener) => listener());
}

/** Whether the last API answer was 401: the console then asks for a token. */
export function isTokenRequired(): boolean {
  return tokenRequired;
}

export function onAuthChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function markUnauthorized(): void {
  if (!tokenRequired) {
    tokenRequired = true;
    listeners.forEach((listener) => listener());
  }
}

export function authHeaders(): Record<string, string> {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

const auth: Middleware = {
  onRequest({ request }) {
    const token = getToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) markUnauthorized();
    return response;
  },
};

export const api = createClient<paths>({ baseUrl: "" });
api.use(auth);

/** An API error answer: the contract's envelope, or a stand-in for network failures. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody | null;

  constructor(status: number, body: ErrorBody | null, fallback: string) {
    super(body?.detail ?? fallback);
    this.status = status;
    this.body = body;
  }
}

/** Unwrap an openapi-fetch result: the data, or an `ApiError` carrying the envelope. */
export async function must<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || !response.ok) {
    const body = (error ?? null) as ErrorBody | null;
    throw new ApiError(response.status, body && typeof body === "object" ? body : null, `HTTP ${response.status}`);
  }
  return data as T;
}

/** Raw fetch with the token, for object bytes (S2), whose content is not JSON. */
export async function fetchRaw(path: string): Promise<Response> {
  const response = await fetch(path, { headers: authHeaders() });
  if (response.status === 401) markUnauthorized();
  return response;
}

/** Percent-encode a storage key for S2/S3: `/` stays literal. */
export function objectPath(key: string, metadata = false): string {
  const encoded = key.split("/").map(encodeURIComponent).join("/");
  return `/api/v1/storage/objects/${encoded}${metadata ? "/metadata" : ""}`;
}

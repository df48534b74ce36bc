/** Fetching the server's JSON API; a non-2xx answer becomes an ApiFailure with the server's message. */

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { headers: { accept: 'application/json' } });
  } catch (e) {
    throw new ApiFailure(0, `The dashboard server did not answer (${(e as Error).message}); is it still running?`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiFailure(res.status, `Unexpected answer from ${path}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) throw new ApiFailure(res.status, (body as { error?: string }).error ?? `HTTP ${res.status}`);
  return body as T;
}

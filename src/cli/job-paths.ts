/** Path of the status route of one run, `GET /api/jobs/:name/:id`. */
export function runPath(job: string, id: string): string {
  return `/api/jobs/${encodeURIComponent(job)}/${encodeURIComponent(id)}`;
}

/** Path of the enqueue route of a job, `POST /api/jobs/:name`. */
export function jobPath(job: string): string {
  return `/api/jobs/${encodeURIComponent(job)}`;
}

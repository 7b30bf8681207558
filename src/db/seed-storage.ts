import { sql, type Transaction } from 'kysely';
import type { Database } from './schema.js';

/*
 * Seed rows of the file tables, generated in PostgreSQL from the users and
 * training progress the main seed wrote:
 *
 * - certificates: one per completed training module, issued when it was
 *   completed, at `certificates/<user id>/<module>-<progress id>.pdf`;
 * - uploads: one to four documents per user (passport, medical certificate,
 *   seaman's book, photo) at `uploads/<user id>/<kind>-<hash>.<ext>`.
 *
 * Only rows are written, no files: on a seeded database storage-cleanup
 * reports every row under missingFiles until the files exist. Random values
 * are hashes of the row's identity and the seed, so the same seed and `now`
 * give the same rows.
 */

export interface StorageSeedOptions {
  seed: number;
  now: Date;
}

export interface StorageSeedCounts {
  uploads: number;
  certificates: number;
}

const MIN_UPLOAD_BYTES = 40_000;
const MAX_UPLOAD_BYTES = 4_000_000;

/** Fills `uploads` and `certificates`; the caller has emptied them (TRUNCATE users ... CASCADE does). */
export async function seedStorage(trx: Transaction<Database>, options: StorageSeedOptions): Promise<StorageSeedCounts> {
  const seed = sql.lit(options.seed);
  const now = options.now.toISOString();

  const certificates = await sql`
    insert into certificates (user_id, module_id, certificate_number, file_path, issued_at)
    select user_id, module_id,
      'SSC-' || to_char(completed_at at time zone 'UTC', 'YYYY') || '-' || lpad(id::text, 7, '0'),
      'certificates/' || user_id || '/' || module_id || '-' || id || '.pdf',
      completed_at
    from training_progress
    where status = 'completed'
    order by id
  `.execute(trx);

  // Each user gets the first 1 to 4 kinds; draw(label) is a uniform value in [0, 1) per user and upload.
  const draw = (label: string) =>
    sql`((hashtextextended(${sql.lit(`${label}:`)} || u.id || ':' || k.n, ${seed}) & 4503599627370495)::float8 / 4503599627370496)`;
  const uploads = await sql`
    insert into uploads (user_id, path, original_name, content_type, size_bytes, created_at)
    select u.id,
      'uploads/' || u.id || '/' || k.kind || '-' || substr(md5(${seed}::text || ':' || u.id || ':' || k.n), 1, 16) || k.extension,
      k.original_name, k.content_type,
      ${MIN_UPLOAD_BYTES} + floor(${draw('size')} * ${MAX_UPLOAD_BYTES - MIN_UPLOAD_BYTES})::bigint,
      u.created_at + (${now}::timestamptz - u.created_at) * ${draw('created')} * 0.5
    from users u
    cross join (values
      (1, 'passport', '.pdf', 'passport.pdf', 'application/pdf'),
      (2, 'medical-certificate', '.pdf', 'medical.pdf', 'application/pdf'),
      (3, 'seamans-book', '.pdf', 'seamans-book.pdf', 'application/pdf'),
      (4, 'photo', '.jpg', 'photo.jpg', 'image/jpeg')
    ) as k(n, kind, extension, original_name, content_type)
    where k.n <= 1 + floor((hashtextextended('uploads:' || u.id, ${seed}) & 3))
    order by u.id, k.n
  `.execute(trx);

  return { uploads: Number(uploads.numAffectedRows ?? 0n), certificates: Number(certificates.numAffectedRows ?? 0n) };
}

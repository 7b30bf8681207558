import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import type { FastifySchemaValidationError } from 'fastify/types/schema.js';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { authPlugin } from './auth/plugin.js';
import { basePathRewriter } from './auth/base-path.js';
import { mountBullBoard } from './bull-board.js';
import { ApiError, ErrorResponse, apiErrors, type ApiErrorCode } from './errors.js';
import { latencyHistoryPlugin } from './plugins/latency-history.js';
import { resourcesPlugin } from './plugins/resources.js';
import { validatorCompiler } from './validation.js';
import { alertRoutes } from './routes/alerts.js';
import { backupRoutes } from './routes/backups.js';
import { emailRoutes } from './routes/emails.js';
import { healthRoutes } from './routes/health.js';
import { healthCheckRoutes } from './routes/health-checks.js';
import { metricsRoutes } from './routes/metrics.js';
import { jobRoutes } from './routes/jobs.js';
import { maintenanceLogRoutes } from './routes/maintenance-logs.js';
import { reportRoutes } from './routes/reports.js';
import { scheduleRoutes } from './routes/schedules.js';
import { settingsRoutes } from './routes/settings.js';
import { tokenRoutes } from './routes/tokens.js';

export interface AppOptions {
  config: Config;
  /** A pino logger, or false for none (tests). */
  logger: Logger | false;
}

const BODY_LIMIT_BYTES = 64 * 1024;
// PostgreSQL refuses U+0000 in text (22021) and in jsonb (22P05); the value is the client's to fix.
const UNTRANSLATABLE_CHARACTER = '22021';
const UNSUPPORTED_UNICODE_ESCAPE = '22P05';

/** ioredis 5 raises a command timeout as a plain Error with this message and no code. */
function isRedisCommandTimeout(error: Error): boolean {
  return error.message === 'Command timed out';
}
const MAX_PARAM_LENGTH = 200;

function errorTitle(statusCode: number): string {
  return STATUS_CODES[statusCode] ?? 'Error';
}

/** Names each invalid field as a dotted path, for example `body.data.batchSize`. */
function formatValidationErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const messages = errors.map((error) => {
    const path = [dataVar, ...error.instancePath.split('/').filter(Boolean)].join('.');
    if (error.keyword === 'additionalProperties') {
      return `${path} has unknown field "${String(error.params.additionalProperty)}"; remove it`;
    }
    if (error.keyword === 'enum' && Array.isArray(error.params.allowedValues)) {
      return `${path} must be one of ${error.params.allowedValues.join(', ')}`;
    }
    return `${path} ${error.message ?? 'is invalid'}`;
  });
  return new Error(messages.join('; '));
}

function codeForClientError(error: FastifyError): ApiErrorCode {
  if (error.validation) return 'VALIDATION_FAILED';
  if (error.statusCode === 415) return 'UNSUPPORTED_MEDIA_TYPE';
  if (error.statusCode === 413) return 'PAYLOAD_TOO_LARGE';
  return 'BAD_REQUEST';
}

/** Builds the API: resources, Bull Board, OpenAPI docs and routes. It runs no job itself. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger as FastifyBaseLogger } : { logger: false }),
    bodyLimit: BODY_LIMIT_BYTES,
    schemaErrorFormatter: formatValidationErrors,
    // Errors Fastify raises before routing (a URL too long or badly encoded) get the same shape as the rest.
    frameworkErrors: (error, request, reply) => {
      const statusCode = error.statusCode ?? 400;
      const message =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? `A path segment of ${request.url.slice(0, 40)}... is longer than ${MAX_PARAM_LENGTH} characters`
          : `The URL is invalid (${error.code}); check its percent-encoding`;
      void (reply as unknown as FastifyReply).code(statusCode).send({ statusCode, code: 'BAD_REQUEST', error: errorTitle(statusCode), message });
    },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // BASE_PATH: routes are registered without the prefix, which each request URL loses here.
    rewriteUrl: basePathRewriter(options.config.BASE_PATH),
    trustProxy: options.config.TRUST_PROXY,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  // Every body is JSON. Fastify also parses text/plain by default, which would turn a
  // mislabelled body into a confusing "body must be object" instead of a 415.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ApiError) {
      request.log.info({ code: error.code }, error.message);
      return reply.code(error.statusCode).send({
        statusCode: error.statusCode,
        code: error.code,
        error: errorTitle(error.statusCode),
        message: error.message,
        ...(error.details ? { details: error.details } : {}),
      });
    }
    const pgCode = (error as { code?: string }).code;
    if (pgCode === UNTRANSLATABLE_CHARACTER || pgCode === UNSUPPORTED_UNICODE_ESCAPE) {
      request.log.info({ err: error }, 'request rejected: NUL character');
      return reply.code(400).send({
        statusCode: 400,
        code: 'VALIDATION_FAILED',
        error: errorTitle(400),
        message: 'body contains a NUL character (\\u0000), which PostgreSQL text cannot store; remove it',
      });
    }
    if (isRedisCommandTimeout(error)) {
      request.log.warn({ err: error }, 'redis command timed out');
      return reply.code(503).send({
        statusCode: 503,
        code: 'SERVICE_UNAVAILABLE',
        error: errorTitle(503),
        message: 'A Redis command timed out, so the request may not have been carried out. Check GET /health/ready before retrying',
      });
    }
    const statusCode = error.statusCode ?? 500;
    if (statusCode < 500) {
      const code = codeForClientError(error);
      request.log.info({ code, err: error }, 'request rejected');
      // Fastify's own message for an unknown content type is just "Unsupported Media Type".
      const message =
        code === 'UNSUPPORTED_MEDIA_TYPE'
          ? `Content type ${String(request.headers['content-type']).slice(0, 100)} is not supported; send the body as application/json`
          : error.message;
      return reply.code(statusCode).send({ statusCode, code, error: errorTitle(statusCode), message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({
      statusCode: 500,
      code: 'INTERNAL',
      error: errorTitle(500),
      message: `Internal error; the server log has the details under request id ${request.id}`,
    });
  });

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      statusCode: 404,
      code: 'NOT_FOUND',
      error: 'Not Found',
      message: `Route ${request.method} ${request.originalUrl.split('?')[0]} does not exist; GET ${options.config.BASE_PATH}/docs lists the routes`,
    }),
  );

  // Before every route: authentication, the rate limit and helmet reach only routes registered after them.
  await app.register(authPlugin, { config: options.config });
  app.addSchema(ErrorResponse);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Shipshape API',
        version: '0.1.0',
        description: `Enqueue maintenance jobs and read their results. Error codes: ${Object.entries(apiErrors)
          .map(([code, entry]) => `${code} (${entry.status})`)
          .join(', ')}.`,
      },
      servers: [{ url: options.config.BASE_PATH || '/' }],
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearerAuth: [] }],
    },
  });
  // indexPrefix: the page at /docs (no trailing slash) links its assets by absolute URL, which needs BASE_PATH.
  await app.register(swaggerUi, { routePrefix: '/docs', indexPrefix: options.config.BASE_PATH });

  await app.register(resourcesPlugin, { config: options.config });
  await mountBullBoard(app);
  // First, so its onResponse hook times the requests of every route registered after it.
  await app.register(metricsRoutes);
  await app.register(latencyHistoryPlugin);
  await app.register(healthRoutes);
  await app.register(healthCheckRoutes);
  await app.register(jobRoutes);
  await app.register(scheduleRoutes);
  await app.register(emailRoutes);
  await app.register(alertRoutes);
  await app.register(maintenanceLogRoutes);
  await app.register(backupRoutes);
  await app.register(reportRoutes);
  await app.register(settingsRoutes);
  await app.register(tokenRoutes);

  return app;
}

import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { callerName } from '../auth/plugin.js';
import { roles } from '../auth/roles.js';
import { BOOTSTRAP_TOKEN_NAME, TOKEN_NAME_PATTERN, TokenNameTakenError, createToken, listTokens, revokeToken, type TokenRecord } from '../auth/token-store.js';
import { ApiError } from '../errors.js';

// Names maintenance_logs.performed_by uses for runs without a token, which a token must not share.
const RESERVED_NAMES = ['scheduler', 'anonymous', 'unknown', 'api'];

const TokenName = Type.String({
  pattern: TOKEN_NAME_PATTERN,
  maxLength: 64,
  description: 'Token name: 1 to 64 lower-case letters, digits, dots, dashes or underscores; recorded as performed_by',
});
const RoleName = Type.Unsafe<(typeof roles)[number]>({ type: 'string', enum: [...roles], description: 'viewer, operator or admin' });

const TokenInfo = Type.Object({
  name: Type.String(),
  role: Type.String(),
  createdBy: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Type.Union([Type.String(), Type.Null()], { description: 'Updated at most once a minute' }),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
});

const CreateBody = Type.Object({ name: TokenName, role: RoleName }, { additionalProperties: false });

function present(record: TokenRecord) {
  return {
    name: record.name,
    role: record.role,
    createdBy: record.createdBy,
    createdAt: record.createdAt.toISOString(),
    lastUsedAt: record.lastUsedAt?.toISOString() ?? null,
    revokedAt: record.revokedAt?.toISOString() ?? null,
  };
}

/** Token management; every route needs the admin role. */
export const tokenRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/api/tokens',
    {
      config: { role: 'admin' },
      schema: { summary: 'List the API tokens, revoked ones included', tags: ['tokens'], response: { 200: Type.Array(TokenInfo) } },
    },
    async () => (await listTokens(app.db)).map(present),
  );

  app.post(
    '/api/tokens',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Create an API token; the response is the only place the token appears',
        tags: ['tokens'],
        body: CreateBody,
        response: { 201: Type.Intersect([TokenInfo, Type.Object({ token: Type.String({ description: 'The secret; store it now' }) })]) },
      },
    },
    async (request, reply) => {
      const { name, role } = request.body;
      if (name === BOOTSTRAP_TOKEN_NAME) {
        throw new ApiError('TOKEN_NAME_TAKEN', `"${BOOTSTRAP_TOKEN_NAME}" is the name of SHIPSHAPE_ADMIN_TOKEN; choose another name`);
      }
      if (RESERVED_NAMES.includes(name)) {
        throw new ApiError('TOKEN_NAME_TAKEN', `"${name}" is what Shipshape records for runs no token requested; choose another name`);
      }
      try {
        const { token, record } = await createToken(app.db, { name, role, createdBy: callerName(request) });
        request.log.info({ tokenName: name, role }, 'api token created');
        return reply.code(201).header('cache-control', 'no-store').send({ ...present(record), token });
      } catch (error) {
        if (error instanceof TokenNameTakenError) {
          throw new ApiError('TOKEN_NAME_TAKEN', `A token named "${name}" exists already, revoked or not; choose another name`);
        }
        throw error;
      }
    },
  );

  app.post(
    '/api/tokens/:name/revoke',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'Revoke an API token; it stops working in every API process at once',
        tags: ['tokens'],
        params: Type.Object({ name: TokenName }),
        response: { 200: TokenInfo },
      },
    },
    async (request) => {
      const revoked = await revokeToken(app.db, request.params.name);
      if (!revoked) throw new ApiError('TOKEN_NOT_FOUND', `No token is named "${request.params.name}"; GET /api/tokens lists them`);
      await app.announceRevocation(revoked.tokenHash);
      request.log.info({ tokenName: revoked.record.name }, 'api token revoked');
      return present(revoked.record);
    },
  );
};

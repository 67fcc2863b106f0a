/**
 * The JSON schemas of the API's documents, shared by the routes: fastify validates input and serialises
 * output with them. Each mirrors a type of api-types.ts.
 */
export const errorBody = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
} as const;

export const nullableString = { type: ['string', 'null'] } as const;

export const jobSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['backup', 'verify'] },
    cluster: { type: 'string' },
    policy: { type: 'string' },
    trigger: { type: 'string' },
    state: { type: 'string', enum: ['queued', 'running', 'retrying', 'succeeded', 'failed', 'cancelled'] },
    attempts: { type: 'integer' },
    createdAt: { type: 'string' },
    startedAt: nullableString,
    finishedAt: nullableString,
    nextAttemptAt: nullableString,
    backupId: nullableString,
    error: {
      anyOf: [
        { type: 'null' },
        { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
      ],
    },
  },
  required: ['id', 'kind', 'cluster', 'policy', 'state', 'attempts', 'createdAt'],
} as const;

export const backupListingSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    cluster: { type: 'string' },
    policy: nullableString,
    storage: { type: 'string' },
    createdAt: { type: 'string' },
    revision: { type: 'string' },
    dbSize: { type: 'integer' },
    storedSize: { type: 'integer' },
    verifiedAt: nullableString,
    verifyOk: { type: ['boolean', 'null'] },
  },
} as const;

export const policyStateSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    cluster: { type: 'string' },
    schedule: { type: 'string' },
    timezone: { type: 'string' },
    storage: { type: 'array', items: { type: 'string' } },
    expectedIntervalSeconds: { type: 'number' },
    staleAfterSeconds: { type: 'number' },
    lastSuccessAt: nullableString,
    lastAttemptAt: nullableString,
    lastAttemptResult: nullableString,
    nextRunAt: nullableString,
    stale: { type: 'boolean' },
  },
} as const;

export const drillSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ok: { type: 'boolean' },
    backupId: { type: 'string' },
    cluster: { type: 'string' },
    policy: nullableString,
    storage: { type: 'string' },
    members: { type: 'integer' },
    etcdVersion: nullableString,
    startedAt: { type: 'string' },
    finishedAt: { type: 'string' },
    durationSeconds: { type: ['number', 'null'] },
    cleanedUp: { type: 'boolean' },
  },
} as const;

export const scheduledDrillSchema = {
  type: 'object',
  properties: {
    cluster: { type: 'string' },
    policy: { type: 'string' },
    schedule: { type: 'string' },
    timezone: { type: 'string' },
    members: { type: 'integer' },
    storage: { type: 'string' },
    staleAfterSeconds: { type: 'number' },
    nextRunAt: nullableString,
    lastDrill: { anyOf: [{ type: 'null' }, drillSchema] },
  },
} as const;

export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';

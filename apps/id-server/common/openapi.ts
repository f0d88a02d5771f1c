import { applyDecorators } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { ApiSecurity, DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

/** Security scheme names: two tokens with different powers, so two schemes. */
export const API_TOKEN_SCHEME = 'apiToken';
export const ADMIN_TOKEN_SCHEME = 'adminToken';

/** Admin routes: `Authorization: Bearer $ADMIN_TOKEN`. */
export const ApiAdminAuth = () => ApiSecurity(ADMIN_TOKEN_SCHEME);

/** Id routes: a token of API_TOKENS when that is set, none otherwise (the `{}` alternative). */
export const ApiTokenAuth = () => applyDecorators(ApiSecurity(API_TOKEN_SCHEME), ApiSecurity({}));

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** What each operation's description opens with, by its security: Swagger UI shows it under the summary. */
export const ACCESS_LINES = {
  admin: '**Access: admin token required** (`Authorization: Bearer $ADMIN_TOKEN`; Authorize, adminToken).',
  token: '**Access: open**, or with `API_TOKENS` set a token of it (Authorize, apiToken).',
} as const;

function accessOf(security: OpenAPIObject['security']): keyof typeof ACCESS_LINES | undefined {
  const names = (security ?? []).flatMap((r) => Object.keys(r));
  if (names.includes(ADMIN_TOKEN_SCHEME)) return 'admin';
  if (names.includes(API_TOKEN_SCHEME)) return 'token';
  return undefined;
}

/**
 * The tags in Swagger UI's order, each with who may call its routes: shown beside the tag's name,
 * so the collapsed page says which routes are open and which are locked (the per-operation lock
 * icon is hidden, see below).
 */
export const TAGS: readonly (readonly [string, string])[] = [
  ['ids', `${ACCESS_LINES.token} Every id strategy.`],
  ['compat', `${ACCESS_LINES.token} go-id-alloc's and Leaf's routes as they are (go-id-alloc's \`/health\` always open).`],
  ['admin', `${ACCESS_LINES.admin} Off (403 ADMIN_DISABLED) until ADMIN_TOKEN is set.`],
  ['health', '**Access: open.** Liveness and readiness for probes and balancers; Prometheus metrics (`METRICS_TOKEN` adds the public keys\' series).'],
];

/**
 * Swagger UI's lock beside each operation shows whether credentials were entered, not whether
 * the route needs them: the id routes (a token optional) show it closed before any token, the
 * admin routes open, which reads backwards. The access line above says it in words instead.
 */
export const SWAGGER_UI_CSS = '.swagger-ui .opblock .authorization__btn { display: none; }';

/**
 * The OpenAPI document clients are generated from. The Authorization header is documented by the
 * security schemes; a header parameter for it (Nest derives one from `@Headers('authorization')`)
 * would be a second, required declaration that Swagger UI's "Try it out" refuses to run without.
 */
export function openApiConfig(): Omit<OpenAPIObject, 'paths'> {
  const builder = new DocumentBuilder()
    .setTitle('id-allocator')
    .setDescription(
      'Globally unique 64-bit ids: segment, partition, ticket, snowflake, uuid, uuidv7. Ids travel as decimal strings; ' +
        'errors are `{"statusCode","error","code","message"}`: match on `code`.',
    )
    .setVersion('0.1.0')
    .addServer('/', 'this instance')
    .addSecurity(API_TOKEN_SCHEME, {
      type: 'http',
      scheme: 'bearer',
      description: 'a token of API_TOKENS; the id routes need one only when API_TOKENS is set',
    })
    .addSecurity(ADMIN_TOKEN_SCHEME, { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN: the admin routes' });
  for (const [name, description] of TAGS) builder.addTag(name, description);
  return builder.build();
}

/**
 * The app's document, with the paths and schemas of `extra` documents (the direct routes, whose
 * controller classes Nest does not route: see http/api-document.ts) merged in.
 */
export function buildOpenApiDocument(app: INestApplication, extra: OpenAPIObject[] = []): OpenAPIObject {
  const document = SwaggerModule.createDocument(app, openApiConfig());
  for (const more of extra) {
    // a path served both ways (GET /ids/:strategy directly, POST by Nest) keeps every method
    const paths = { ...more.paths };
    for (const [path, item] of Object.entries(document.paths)) paths[path] = { ...paths[path], ...item };
    document.paths = paths;
    document.components = { ...document.components, schemas: { ...more.components?.schemas, ...document.components?.schemas } };
  }
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      const access = operation === undefined ? undefined : accessOf(operation.security);
      if (operation !== undefined && access !== undefined) {
        operation.description = [ACCESS_LINES[access], operation.description].filter(Boolean).join('\n\n');
      }
      if (operation?.parameters) {
        operation.parameters = operation.parameters.filter(
          (p) => !('in' in p && p.in === 'header' && p.name.toLowerCase() === 'authorization'),
        );
      }
    }
  }
  return document;
}
